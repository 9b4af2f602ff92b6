"""The keyword snapshot on disk: a folder per ingest, made current by an atomic rename.

Readers follow ``keyword/CURRENT``; a snapshot is written whole in a new folder before CURRENT
names it, so a reader never sees half of one. An ingest updates the last snapshot (``updated``)
instead of re-reading and re-tokenizing every passage.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from rag.index.bm25 import KeywordIndex, passage_tokens
from rag.index.chunking import Passage

STAMP = "last_ingest"  # in a snapshot folder: the ingest it reflects


def write(root: Path, keyword: KeywordIndex, stamp: str) -> Path:
    """Write ``keyword`` as the snapshot of the ingest ``stamp``, make it current, drop the others."""
    digest = hashlib.sha1("\n".join(sorted(keyword.position)).encode()).hexdigest()
    folder = root / f"{digest[:16]}-{uuid.uuid4().hex[:8]}"  # never a folder in use
    keyword.save(folder)
    (folder / STAMP).write_text(stamp, encoding="utf-8")
    pointer = root / f"CURRENT.{folder.name}.tmp"
    pointer.write_text(folder.name, encoding="utf-8")
    os.replace(pointer, root / "CURRENT")
    for old in root.iterdir():
        if old.is_dir() and old.name != folder.name:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def read(root: Path) -> tuple[KeywordIndex, Path, str | None]:
    """The current snapshot, its folder and its ingest stamp (None: not recorded).

    Raises FileNotFoundError when there is none, OSError/ValueError/KeyError when unreadable.
    """
    folder = root / (root / "CURRENT").read_text(encoding="utf-8").strip()
    stamp = folder / STAMP
    return (
        KeywordIndex.load(folder),
        folder,
        stamp.read_text(encoding="utf-8") if stamp.exists() else None,
    )


def updated(
    last: KeywordIndex,
    tokens: list[list[str]],
    stored: set[str],
    new: list[Passage],
    read_back: Callable[[list[str]], list[Passage]],
) -> KeywordIndex:
    """The index of the passages ``stored``, made from ``last`` (whose passages have ``tokens``).

    Passages of ``last`` not stored are dropped; stored ones it lacks are taken from ``new``
    or else ``read_back`` (e.g. left by an interrupted ingest) and tokenized. A passage id
    always names the same text, so the result is what a rebuild from scratch would give.
    """
    rows = [(p, t) for p, t in zip(last.passages, tokens, strict=True) if p.id in stored]
    have = {p.id for p, _ in rows}
    added = {p.id: p for p in new if p.id in stored and p.id not in have}
    added |= {p.id: p for p in read_back(sorted(stored - have - set(added)))}
    rows += [(p, passage_tokens(p.text)) for p in added.values()]
    rows.sort(key=lambda row: (row[0].path, row[0].start))
    return KeywordIndex.build([p for p, _ in rows], [t for _, t in rows])
