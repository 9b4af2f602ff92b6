"""Noticing an ingest made by another process (e.g. `rag ingest` while `rag serve` runs).

Every ingest publishes its keyword snapshot by rewriting ``keyword/CURRENT``: reading that
small file is the cheap check a server makes before its questions. Embedded Chroma keeps the
vectors it loaded in memory, shared by every client of the folder in this process; to see
another process's writes, the cached copy is dropped and the folder opened anew.
"""

from __future__ import annotations

from rag.config import Settings


def published(settings: Settings) -> str:
    """The name of the keyword snapshot in use; it changes with every ingest ("" if none).

    Example: "3f2a9c0d1e4b5a67-0c1d2e3f"
    """
    try:
        return (settings.index_dir / "keyword" / "CURRENT").read_text(encoding="utf-8").strip()
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
