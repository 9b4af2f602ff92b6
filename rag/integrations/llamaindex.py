"""llama-index faces of our parts: the hybrid retriever and the embedding model.

Importing this module imports llama-index; the rest of ``rag`` does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from rag.index.embedding import Embedder
from rag.index.retrieval import Filters


class Searcher(Protocol):
    """What HybridRetriever needs of a retriever (rag.Retriever is one)."""

    def search(
        self,
        question: str,
        k: int = 5,
        date_from: str = "",
        date_to: str = "",
        files: Sequence[str] = (),
    ) -> Sequence[Any]: ...


class HybridRetriever(BaseRetriever):
    """Dense + BM25 retrieval as a llama-index retriever.

    Example: Retriever.open().as_llama_index(k=3).retrieve("Qui est Jake Sullivan ?")
    """

    def __init__(
        self, retriever: Searcher, k: int = 5, filters: Filters = Filters(), **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.retriever, self.k, self.filters = retriever, k, filters

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        f = self.filters
        results = self.retriever.search(
            query_bundle.query_str, self.k, f.date_from, f.date_to, f.files
        )
        return [
            NodeWithScore(
                node=TextNode(id_=r.passage.id, text=r.text, metadata=r.passage.metadata()),
                score=r.score,
            )
            for r in results
        ]


class SentenceTransformerEmbedding(BaseEmbedding):
    """An ``Embedder`` behind llama-index's embedding interface (query/passage prompts kept)."""

    _embedder: Embedder = PrivateAttr()

    def __init__(self, embedder: Embedder) -> None:
        super().__init__(model_name=embedder.name, embed_batch_size=32)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._embedder.embed_queries([query])[0]]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embedder.embed_passages(texts)]
