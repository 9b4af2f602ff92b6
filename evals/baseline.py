"""The stock llama-index pipeline that `pytest evals/` compares ours with, on the same questions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rag.measure.evaluation import Record, contains_fact, is_right
from rag.pipeline import Pipeline


def run_baseline(corpus: Path, pipeline: Pipeline, gold: list[dict[str, Any]]) -> list[Record]:
    """The stock llama-index pipeline: default splitter, same embedding model, default top-k.

    Its "answer" is the top passage; it never abstains.
    """
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from rag.integrations.llamaindex import SentenceTransformerEmbedding

    documents = SimpleDirectoryReader(str(corpus), required_exts=[".txt", ".md"]).load_data()
    index = VectorStoreIndex.from_documents(
        documents, embed_model=SentenceTransformerEmbedding(pipeline.embedder)
    )
    retriever = index.as_retriever()
    records = []
    for item in gold:
        started = time.perf_counter()
        nodes = retriever.retrieve(item["question"])
        seconds = time.perf_counter() - started
        files = [str(n.node.metadata.get("file_name", "")) for n in nodes]
        top = nodes[0].node.get_content() if nodes else ""
        records.append(
            Record(
                item["id"],
                item["tags"],
                item["answerable"],
                files,
                top,
                False,
                files[:1],
                item["sources"],
                contains_fact(top, item["answers"]),
                seconds,
                split=item.get("split", "dev"),
                best=files[0] if files else "",
                right=is_right(item, files[0], top, [top]) if files else False,
                quotes=[top],
            )
        )
    return records
