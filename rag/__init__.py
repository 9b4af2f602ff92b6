"""Question answering over a folder of French news articles, with cited sources, offline.

Example (cited passages for another app; see rag/integrations/retriever.py):
    from rag import Retriever
    for p in Retriever.open(index_dir="index").search("Qui est Jake Sullivan ?", k=3):
        print(p.file, p.text)

Example (answers):
    from rag import Pipeline, Settings
    pipeline = Pipeline.load(Settings.from_env())
    print(pipeline.ask("Qui est le conseiller à la sécurité nationale de Joe Biden ?").text)

``HybridRetriever`` (a llama-index ``BaseRetriever``) is importable from here too; it loads
llama-index on first use.
"""

from __future__ import annotations

from typing import Any

from rag.answer.extractive import Answer, Source
from rag.config import Settings
from rag.errors import RagError
from rag.index.embedding import Embedder
from rag.index.ingest import IngestReport, ingest
from rag.index.retrieval import Filters, Hit, retrieve
from rag.index.store import Store
from rag.integrations.retriever import Retriever, SearchResult
from rag.pipeline import Pipeline

__all__ = [
    "Answer",
    "Embedder",
    "Filters",
    "Hit",
    "HybridRetriever",
    "IngestReport",
    "Pipeline",
    "RagError",
    "Retriever",
    "SearchResult",
    "Settings",
    "Source",
    "Store",
    "ingest",
    "retrieve",
]


def __getattr__(name: str) -> Any:
    if name == "HybridRetriever":
        from rag.integrations.llamaindex import HybridRetriever

        return HybridRetriever
    raise AttributeError(name)
