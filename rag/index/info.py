"""What `rag info` and GET /api/health say of an index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.index.store import Store


def describe(store: Store) -> dict[str, Any]:
    """Counts in both indexes, how far their vectors are, model, sentence vectors, size and
    last ingest."""
    keyword = store.keyword
    indexing = store.indexing()
    return {
        "index": str(store.settings.index_dir),
        "chroma": store.settings.chroma_url or "embedded",
        "articles": len({p.path for p in keyword.passages}),
        "passages_chroma": store.collection.count(),
        "passages_keyword": len(keyword.passages),
        "indexing": f"{indexing} passages embedded" if indexing else "complete",
        "embed_model": store.model,
        "sentence_vectors": _sentences(store),
        "size_bytes": disk_size(store.settings.index_dir),
        "last_ingest": store.last_ingest,
    }


def disk_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _sentences(store: Store) -> str:
    if not store.has_sentences:
        return "made at each question until the next `rag ingest` stores them"
    late = store.sentence_kind() == 2
    return "late-chunked (in their passage)" if late else "each embedded on its own"
