"""The Python API for other apps: cited passages from the index in three lines.

Example:
    from rag import Retriever
    retriever = Retriever.open(index_dir="index")
    for p in retriever.search("Qui est Jake Sullivan ?", k=3): print(p.file, p.date, p.text)

The same object gives a llama-index retriever (``as_llama_index``) and, with the ``langchain``
extra, a LangChain one (``as_langchain``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import ConfigError
from rag.index.chunking import Passage
from rag.index.retrieval import Filters, Hit
from rag.pipeline import Pipeline


@dataclass(frozen=True)
class SearchResult:
    """A retrieved passage: its text, where it sits in which file, and its fused score."""

    text: str
    file: str
    date: str
    title: str
    score: float
    start: int
    end: int
    passage: Passage

    @classmethod
    def from_hit(cls, hit: Hit) -> SearchResult:
        p = hit.passage
        return cls(p.text, p.file, p.date, p.title, hit.score, p.start, p.end, p)

    def as_dict(self) -> dict[str, object]:
        """The JSON of `rag retrieve --json` and `POST /api/retrieve` (no server paths)."""
        return {
            "text": self.text,
            "file": self.file,
            "date": self.date,
            "title": self.title,
            "score": round(self.score, 5),
            "start": self.start,
            "end": self.end,
        }


class Retriever:
    """Hybrid (dense + BM25) search over an index built by `rag ingest`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    @classmethod
    def open(
        cls, settings: Settings | None = None, *, index_dir: str | Path | None = None
    ) -> Retriever:
        """Open the index of ``settings`` (default: the RAG_* environment), or ``index_dir``."""
        settings = settings or Settings.from_env()
        if index_dir is not None:
            settings = replace(settings, index_dir=Path(index_dir))
        # passages only: the reader (torch, ~2 s and ~0.4 GB at load) reads answers, never these
        return cls(Pipeline.load(replace(settings, reader="off")))

    def search(
        self,
        question: str,
        k: int = 5,
        date_from: str = "",
        date_to: str = "",
        files: Sequence[str] = (),
    ) -> list[SearchResult]:
        """The ``k`` best passages, best first, optionally within months and files.

        Example: search("sommet Biden Poutine", k=3, date_from="2021-04", date_to="2021-06")
        """
        filters = Filters(date_from, date_to, tuple(files))
        return [SearchResult.from_hit(h) for h in self.pipeline.retrieve(question, k, filters)]

    def as_llama_index(
        self, k: int = 5, date_from: str = "", date_to: str = "", files: Sequence[str] = ()
    ) -> Any:
        """A llama-index ``BaseRetriever`` over the same index (NodeWithScore results)."""
        from rag.integrations.llamaindex import HybridRetriever

        return HybridRetriever(self, k, Filters(date_from, date_to, tuple(files)))

    def as_langchain(
        self, k: int = 5, date_from: str = "", date_to: str = "", files: Sequence[str] = ()
    ) -> Any:
        """A LangChain ``BaseRetriever`` (``.invoke(question)`` -> Documents); needs the
        ``langchain`` extra."""
        try:
            from rag.integrations.langchain import LangChainRetriever
        except ImportError as exc:
            raise ConfigError(
                "as_langchain() needs langchain-core: pip install -e '.[langchain]' (from this repository)"
            ) from exc
        filters = Filters(date_from, date_to, tuple(files))
        return LangChainRetriever(retriever=self, k=k, filters=filters)
