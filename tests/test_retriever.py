"""rag/integrations/retriever.py: the Python API another app uses, and its llama-index and LangChain faces."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag import Retriever, SearchResult
from rag.config import Settings
from rag.errors import InputError, NoIndex
from rag.pipeline import Pipeline

README = Path(__file__).resolve().parents[1] / "README.md"
SULLIVAN_Q = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"
SULLIVAN = "002_c1d3609a954ad6a6.txt"
DIPLOMATIE = "003_b5fe129bdbb88210.txt"


@pytest.fixture(scope="module")
def retriever(seeds_pipeline: Pipeline) -> Retriever:
    return Retriever(seeds_pipeline)


def test_open_and_search_in_three_lines(seeds_settings: Settings) -> None:
    retriever = Retriever.open(index_dir=seeds_settings.index_dir)
    results = retriever.search(SULLIVAN_Q, k=3)
    assert retriever.pipeline.reader is None  # passages only: no torch, no reader to load

    assert len(results) == 3 and all(isinstance(r, SearchResult) for r in results)
    best = results[0]
    assert best.file == SULLIVAN and best.date == "2021-04" and "Jake Sullivan" in best.text
    assert best.title and best.score > 0 and best.start < best.end
    assert results == sorted(results, key=lambda r: -r.score)
    text = Path(best.passage.path).read_text(encoding="utf-8")
    assert text[best.start : best.end] == best.text
    assert set(best.as_dict()) == {"text", "file", "date", "title", "score", "start", "end"}


def test_open_takes_settings_and_says_when_there_is_no_index(tmp_path: Path) -> None:
    with pytest.raises(NoIndex, match="rag ingest"):
        Retriever.open(Settings(index_dir=tmp_path / "nothing"))


def test_search_filters_by_month_and_file(retriever: Retriever) -> None:
    december = retriever.search("Biden Poutine", k=5, date_from="2021-12", date_to="2021-12")
    assert december and {r.file for r in december} == {DIPLOMATIE}
    one_file = retriever.search(SULLIVAN_Q, k=5, files=[DIPLOMATIE])
    assert one_file and {r.file for r in one_file} == {DIPLOMATIE}
    with pytest.raises(InputError, match="YYYY-MM"):
        retriever.search(SULLIVAN_Q, date_from="avril")


def test_llama_index_query_engine_without_llm(retriever: Retriever) -> None:
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from llama_index.core.response_synthesizers.no_text import NoText
    from llama_index.core.retrievers import BaseRetriever

    from rag import HybridRetriever

    face = retriever.as_llama_index(k=3)
    assert isinstance(face, BaseRetriever) and isinstance(face, HybridRetriever)
    # NoText synthesizes nothing: MockLLM only stands in for a model that is never called
    engine = RetrieverQueryEngine(face, response_synthesizer=NoText(llm=MockLLM()))
    response = engine.query(SULLIVAN_Q)

    nodes = response.source_nodes
    assert len(nodes) == 3
    assert nodes[0].node.metadata["file"] == SULLIVAN
    assert nodes[0].node.metadata["date"] == "2021-04"
    assert "Jake Sullivan" in nodes[0].node.get_content()
    assert nodes[0].score is not None and nodes[0].score > 0


def test_llama_index_retriever_applies_filters(retriever: Retriever) -> None:
    nodes = retriever.as_llama_index(k=5, date_from="2021-12").retrieve("Biden Poutine")

    assert nodes and {n.node.metadata["file"] for n in nodes} == {DIPLOMATIE}


def test_langchain_retriever_invoke(retriever: Retriever) -> None:
    from langchain_core.documents import Document
    from langchain_core.retrievers import BaseRetriever

    face = retriever.as_langchain(k=2)
    assert isinstance(face, BaseRetriever)
    documents = face.invoke(SULLIVAN_Q)

    assert len(documents) == 2 and all(isinstance(d, Document) for d in documents)
    assert documents[0].metadata["file"] == SULLIVAN and documents[0].metadata["score"] > 0
    assert "Jake Sullivan" in documents[0].page_content
    december = retriever.as_langchain(k=5, date_from="2021-12").invoke("Biden Poutine")
    assert {d.metadata["file"] for d in december} == {DIPLOMATIE}


def test_readme_python_section_runs(
    seeds_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's "Use it from Python" code, run as written, one block after the other, in a
    folder whose index/ is the seeds index."""
    section = README.read_text(encoding="utf-8").split("## Use it from Python", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    assert blocks, "the README lost its Python section"
    monkeypatch.chdir(seeds_settings.index_dir.parent)
    monkeypatch.setenv("RAG_CORPUS_DIR", str(seeds_settings.corpus_dir))
    for key in ("RAG_INDEX_DIR", "RAG_CHROMA_URL", "RAG_EMBED_MODEL"):
        monkeypatch.delenv(key, raising=False)
    namespace: dict[str, object] = {}  # one session: later blocks use earlier names
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert SULLIVAN in printed and "Sullivan" in printed
