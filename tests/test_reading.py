"""RAG_READER=on: the trained reader inside the one answer decision; and, where it cannot load,
one line that says so and answers without it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rag.answer.reading import READ
from rag.config import Settings
from rag.index.embedding import Embedder
from rag.pipeline import Pipeline
from tests.test_cli import rag

pytestmark = pytest.mark.slow  # loads the reader (~2 s) beside the embedding model
SULLIVAN_Q = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"


@pytest.fixture(scope="module")
def reading(seeds_settings: Settings, embedder: Embedder) -> Pipeline:
    return Pipeline.load(dataclasses.replace(seeds_settings, reader="on"), embedder=embedder)


def test_the_reader_reads_the_best_sentences_and_the_decision_reads_it(reading: Pipeline) -> None:
    assert reading.reader is not None
    evidence = reading.evidence(SULLIVAN_Q)
    assert 0 < len(evidence.ranked) <= READ
    assert all("reader" in c.features for c in evidence.ranked)
    features = evidence.features()
    assert features is not None and {"reader", "reader_margin"} <= set(features)
    answer = reading.ask(SULLIVAN_Q)
    assert not answer.abstained and "Jake Sullivan" in answer.text
    assert answer.sources[0].file.startswith("002_")


def test_a_sure_answer_phrase_is_marked_and_placed_in_the_answer(reading: Pipeline) -> None:
    answer = reading.ask("Which news agency quoted Gorbachev?")
    span = answer.as_dict()["span"]
    assert isinstance(span, list) and answer.text[span[0] : span[1]] == "Interfax"
    assert answer.sources[0].span is not None
    reader = reading.reader
    assert reader is not None
    peskov = (
        "Dmitri Peskov, porte-parole du Kremlin, a déclaré lundi que la Russie ne céderait pas."
    )
    assert reader.answer_span("Qui est le porte-parole du Kremlin ?", peskov, "") == (0, 13)


def test_the_reader_is_on_by_default_and_off_leaves_it_out(
    seeds_settings: Settings, seeds_pipeline: Pipeline, embedder: Embedder
) -> None:
    assert Settings().reader == "on" and seeds_pipeline.reader is not None
    off = Pipeline.load(dataclasses.replace(seeds_settings, reader="off"), embedder=embedder)
    assert off.reader is None
    features = off.evidence(SULLIVAN_Q).features()
    assert features is not None and "reader" not in features
    assert off.ask("Which news agency quoted Gorbachev?").as_dict()["span"] is None


def test_a_reader_that_cannot_load_says_so_in_one_line_and_answers_without_it(
    seeds_settings: Settings,
    embedder: Embedder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("rag.reader.model.WEIGHTS", tmp_path / "missing.pt")
    settings = dataclasses.replace(seeds_settings, reader="on")
    pipeline = Pipeline.load(settings, embedder=embedder)
    err = [line for line in capsys.readouterr().err.splitlines() if "RAG_READER" in line]
    assert len(err) == 1 and "weights are missing" in err[0] and "make reader" in err[0]
    assert pipeline.reader is None
    assert not pipeline.ask(SULLIVAN_Q).abstained


def test_rag_info_says_whether_the_reader_is_on_and_what_made_it(seeds_settings: Settings) -> None:
    index = str(seeds_settings.index_dir)
    on = rag(
        "info", "--json", cwd=seeds_settings.index_dir.parent, RAG_INDEX_DIR=index, RAG_READER="on"
    )
    assert on.code == 0, on.err
    assert json.loads(on.out)["reader"].startswith("on (trained ")
    off = rag(
        "info", "--json", cwd=seeds_settings.index_dir.parent, RAG_INDEX_DIR=index, RAG_READER="off"
    )
    assert json.loads(off.out)["reader"].startswith("off")
