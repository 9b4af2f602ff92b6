"""The keyword snapshot on disk: segment folders and a manifest, made current by an atomic rename.

``keyword/CURRENT`` names a manifest; the manifest lists the segments (each written whole in its
own folder before any manifest names it) with their dead passages, the ingest it reflects, the
passages published before their vectors were stored (``pending``) and the removed ones whose
vectors are still to delete from Chroma (``orphans``). Vectors stored since the manifest are
appended to its log, so progress costs a line, not a new manifest.

Example: keyword/CURRENT -> manifest-3f2a9c0d1e4b.json -> [seg-0c1d2e3f4a5b (dead: p7), seg-...]
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rag.index.bm25 import KeywordIndex
from rag.index.segments import Segment

# segments hold the output of rag.text.tokenize: change this when it changes (the next reader
# then indexes the snapshot's passages again)
TOKENS_VERSION = "tokens 1"


@dataclass
class Published:
    """The current snapshot: its index and what its ingest has still to do in Chroma."""

    keyword: KeywordIndex
    name: str = ""  # the manifest's file name
    stamp: str | None = None  # the ingest it reflects (None: not recorded)
    pending: set[str] = field(default_factory=set)  # published, vectors not stored yet
    orphans: set[str] = field(default_factory=set)  # removed, vectors not deleted yet


def write(
    root: Path,
    keyword: KeywordIndex,
    stamp: str,
    pending: set[str] | frozenset[str] = frozenset(),
    orphans: set[str] | frozenset[str] = frozenset(),
) -> Published:
    """Save ``keyword``'s new segments and a manifest naming them all, then make it current.

    Files of older manifests are removed, except the previous one's: a reader may be loading it.
    """
    root.mkdir(parents=True, exist_ok=True)
    keyword.segments = [
        s if s.name else s.save(root / f"seg-{_unique()}") for s in keyword.segments
    ]
    name = f"manifest-{_unique()}.json"
    manifest = {
        "tokens": TOKENS_VERSION,
        "stamp": stamp,
        "segments": [{"name": s.name, "dead": sorted(s.dead)} for s in keyword.segments],
        "pending": sorted(pending),
        "orphans": sorted(orphans),
    }
    _replace(root / name, json.dumps(manifest, ensure_ascii=False))
    try:
        keep = {name, _current_name(root)}
    except FileNotFoundError:
        keep = {name}
    _replace(root / "CURRENT", name)
    _clean(root, keep)
    return Published(keyword, name, stamp, set(pending), set(orphans))


def read(root: Path) -> Published:
    """The current snapshot.

    One made by another tokenizer version is indexed again from its own passages and made
    current. Raises FileNotFoundError when there is none (or one of an older layout, to be
    rebuilt from Chroma), OSError/ValueError/KeyError when it is unreadable.
    """
    name = _current_name(root)
    if not name.startswith("manifest-"):
        raise FileNotFoundError(f"{root}: a snapshot of an older layout")
    manifest = json.loads((root / name).read_text(encoding="utf-8"))
    segments = [Segment.load(root / s["name"], frozenset(s["dead"])) for s in manifest["segments"]]
    keyword, stamp = KeywordIndex(segments), manifest["stamp"]
    pending = set(manifest["pending"]) - stored_since(root, name)
    orphans = set(manifest["orphans"])
    if manifest["tokens"] != TOKENS_VERSION:  # its passages are right, their tokens are not
        return write(root, KeywordIndex.build(keyword.passages), stamp, pending, orphans)
    return Published(keyword, name, stamp, pending, orphans)


def note_stored(root: Path, published: Published, ids: list[str]) -> None:
    """Record that the vectors of ``ids`` (pending in ``published``) are now in Chroma."""
    with open(log_path(root, published.name), "a", encoding="utf-8") as log:
        log.write("".join(f"{i}\n" for i in ids))
        log.flush()
        os.fsync(log.fileno())
    published.pending.difference_update(ids)


def stored_since(root: Path, name: str) -> set[str]:
    """Passages whose vectors were stored since the manifest ``name`` was written."""
    try:
        return set(log_path(root, name).read_text(encoding="utf-8").split())
    except FileNotFoundError:
        return set()


def _current_name(root: Path) -> str:
    return (root / "CURRENT").read_text(encoding="utf-8").strip()


def _log(manifest: str) -> str:
    return f"stored-{manifest.removesuffix('.json')}.txt"


def log_path(root: Path, manifest: str) -> Path:
    """The log of vectors stored since the manifest ``manifest`` was written."""
    return root / _log(manifest)


def _unique() -> str:
    return uuid.uuid4().hex[:12]


def _replace(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all."""
    temporary = path.with_name(f".{path.name}.{_unique()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _clean(root: Path, keep: set[str]) -> None:
    """Remove what none of the manifests ``keep`` uses (older layouts' folders included)."""
    used = set(keep) | {_log(m) for m in keep}
    for manifest in keep:
        try:
            used |= {
                s["name"] for s in json.loads((root / manifest).read_text("utf-8"))["segments"]
            }
        except (OSError, ValueError, KeyError):
            continue  # an older layout's folder: nothing of it is used now
    for path in root.iterdir():
        if path.name in used or path.name == "CURRENT" or path.name.startswith("."):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
