"""Noticing an ingest or a calibration made by another process (e.g. `rag ingest` while
`rag serve` runs).

Every ingest publishes its keyword snapshot by rewriting ``keyword/CURRENT``, and `rag calibrate`
stamps ``CALIBRATED``: reading those small files is the cheap check a server makes before its
questions. Embedded Chroma keeps the
vectors it loaded in memory, shared by every client of the folder in this process; to see
another process's writes, the cached copy is dropped and the folder opened anew.
"""

from __future__ import annotations

import time
from pathlib import Path

from rag.config import Settings

CALIBRATED = "CALIBRATED"  # in the index folder: when `rag calibrate` last changed the scale


def published(settings: Settings) -> str:
    """The name of the keyword snapshot in use, which every ingest replaces, and the stamp of
    the last calibration ("" for none of them).

    Example: "3f2a9c0d1e4b5a67-0c1d2e3f 1764630000000000000"
    """
    index = settings.index_dir
    return f"{_read(index / 'keyword' / 'CURRENT')} {_read(index / CALIBRATED)}".strip()


def stamp_calibration(settings: Settings) -> None:
    """Tell this machine's readers that the answer scale changed (a Chroma server's readers see
    it at their next refresh)."""
    if not settings.chroma_url:
        (settings.index_dir / CALIBRATED).write_text(str(time.time_ns()), encoding="utf-8")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def forget_embedded(settings: Settings) -> None:
    """Make the next open of the embedded index read it from disk, not from this process's cache.

    The replaced Chroma is not stopped: stores still using it (questions under way, another
    pipeline of this process) keep working, and it is freed with the last of them.
    """
    if settings.chroma_url:
        return
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(settings.index_dir / "chroma"), None)
