"""The LangChain face of ``Retriever`` (the ``langchain`` extra). Imports langchain-core."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from rag.index.retrieval import Filters


class LangChainRetriever(BaseRetriever):
    """Hybrid retrieval as a LangChain retriever; metadata as in Chroma, plus the score.

    Example: Retriever.open().as_langchain(k=3).invoke("Qui est Jake Sullivan ?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any  # a rag.Retriever
    k: int = 5
    filters: Filters = Filters()

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        f = self.filters
        results = self.retriever.search(query, self.k, f.date_from, f.date_to, f.files)
        return [
            Document(
                id=r.passage.id,
                page_content=r.text,
                metadata={**r.passage.metadata(), "score": r.score},
            )
            for r in results
        ]
