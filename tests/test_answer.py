"""rag/answer/extractive.py through Pipeline.ask: cited extractive answers, or an honest abstention."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from rag.answer.extractive import NOT_FOUND, Answer
from rag.config import Settings
from rag.errors import InputError
from rag.index.embedding import Embedder
from rag.index.ingest import ingest
from rag.index.retrieval import Filters
from rag.pipeline import Pipeline
from rag.web import handlers

SULLIVAN_Q = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"
SULLIVAN = "002_c1d3609a954ad6a6.txt"


@pytest.fixture(scope="module")
def sullivan(seeds_pipeline: Pipeline) -> Answer:
    return seeds_pipeline.ask(SULLIVAN_Q)


def test_answer_quotes_and_cites_the_right_article(sullivan: Answer) -> None:
    assert not sullivan.abstained
    assert "Jake Sullivan" in sullivan.text
    assert "[1]" in sullivan.text
    assert sullivan.sources[0].file == SULLIVAN
    assert sullivan.sources[0].date == "2021-04"
    assert sullivan.language == "fr"


def test_every_marker_has_its_source(sullivan: Answer) -> None:
    assert [s.n for s in sullivan.sources] == list(range(1, len(sullivan.sources) + 1))
    for source in sullivan.sources:
        assert f"{source.text} [{source.n}]" in sullivan.text


def test_source_offsets_point_at_the_quoted_sentence_in_the_file(sullivan: Answer) -> None:
    for source in sullivan.sources:
        content = Path(source.passage.path).read_text(encoding="utf-8")
        assert content[source.start : source.end] == source.text
        assert source.passage.start <= source.start < source.end <= source.passage.end
        assert 0 < source.score <= 1


def test_the_sentence_after_the_best_one_comes_along_when_it_holds_the_fact(
    seeds_pipeline: Pipeline,
) -> None:
    answer = seeds_pipeline.ask("Gorbatchev, qu'a-t-il dit du sommet ?")
    first = answer.sources[0]
    assert first.text.startswith("Le dernier dirigeant de l'URSS, Mikhaïl Gorbatchev")
    assert first.text.endswith("cité par l'agence de presse russe Interfax.")  # the next sentence
    content = Path(first.passage.path).read_text(encoding="utf-8")
    assert content[first.start : first.end] == first.text  # one quote, highlighted in one piece


@pytest.mark.parametrize(
    ("question", "expected", "file"),
    [
        (
            "Quel ancien dirigeant de l'URSS a salué un possible sommet entre Biden et Poutine ?",
            "Gorbatchev",
            "000_10bf3600e7f0d36b.txt",
        ),
        (
            "En quelle année les accords de paix de Minsk ont-ils été adoptés ?",
            "2015",
            "001_3640c89e8547a8b9.txt",
        ),
        ("Who is Joe Biden's national security adviser?", "Jake Sullivan", SULLIVAN),
    ],
)
def test_other_questions_get_cited_answers(
    seeds_pipeline: Pipeline, question: str, expected: str, file: str
) -> None:
    answer = seeds_pipeline.ask(question)

    assert not answer.abstained
    assert expected in answer.text
    assert "[1]" in answer.text
    assert answer.sources[0].file == file


def test_off_topic_question_abstains_in_french(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Quelle est la recette de la tarte tatin ?")

    assert answer.abstained
    assert answer.text == "Je ne trouve pas cette information dans le corpus."
    assert answer.sources == []


def test_off_topic_question_in_english_abstains_in_english(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("What is the recipe for apple pie?")

    assert answer.abstained
    assert answer.text == NOT_FOUND["en"] == "I cannot find this information in the corpus."
    assert answer.sources == []
    assert answer.language == "en"


def test_question_about_something_the_corpus_never_names_abstains(
    seeds_pipeline: Pipeline,
) -> None:
    answer = seeds_pipeline.ask("Comment s'appelle le chien de Joe Biden ?")

    assert answer.abstained
    assert answer.sources == []


def test_filter_that_excludes_the_answer_leads_to_abstention(seeds_pipeline: Pipeline) -> None:
    """Only 003 is of December 2021: it names Biden's team, not his adviser."""
    answer = seeds_pipeline.ask(SULLIVAN_Q, filters=Filters(date_from="2021-12"))

    assert answer.abstained and answer.sources == []
    assert answer.text == NOT_FOUND["fr"]
    assert answer.withheld  # what it would have cited: the filter's file only
    assert {s.file for s in answer.withheld} == {"003_b5fe129bdbb88210.txt"}


LLM_KEYS = ("mode", "llm", "sentences", "note", "unsure", "indexing", "span")


def test_json_contract(sullivan: Answer) -> None:
    data = json.loads(json.dumps(sullivan.as_dict(), ensure_ascii=False))

    keys = {"question", "query", "answer", "abstained", "confidence", "sources", *LLM_KEYS}
    assert set(data) == keys
    assert data["query"] == SULLIVAN_Q  # no history: what was searched is the question
    assert 0.5 < data["confidence"] <= 1
    assert data["mode"] == "extractive" and data["llm"] is None and data["note"] == ""
    assert data["sentences"] == [
        {"text": s.text, "citations": [s.n], "dropped": [], "supported": True}
        for s in sullivan.sources
    ]
    assert data["question"] == SULLIVAN_Q
    assert data["answer"] == sullivan.text
    assert data["abstained"] is False
    assert {"n", "file", "date", "score", "text", "start", "end"} <= set(data["sources"][0])
    assert data["sources"][0]["n"] == 1
    assert data["sources"][0]["file"] == SULLIVAN


def test_abstention_json_has_the_same_keys(seeds_pipeline: Pipeline) -> None:
    data = seeds_pipeline.ask("Quelle est la recette de la tarte tatin ?").as_dict()

    keys = {"question", "query", "answer", "abstained", "confidence", "sources", *LLM_KEYS}
    assert set(data) == keys and data["query"] == "Quelle est la recette de la tarte tatin ?"
    assert data["abstained"] is True and data["sentences"] == []
    assert data["confidence"] < seeds_pipeline.settings.abstain_threshold
    assert data["sources"] == []


def test_an_answer_below_the_sure_threshold_tells_the_reader_to_check(
    seeds_pipeline: Pipeline,
) -> None:
    def unsure_below(sure: float) -> Pipeline:
        settings = dataclasses.replace(seeds_pipeline.settings, sure_threshold=sure)
        return dataclasses.replace(seeds_pipeline, settings=settings)

    def asked(sure: float, question: str = SULLIVAN_Q) -> Answer:
        return unsure_below(sure).ask(question)

    plain, unsure = asked(0.0), asked(1.0)
    assert not plain.unsure and plain.warning() == "" and plain.as_dict()["unsure"] is False
    assert unsure.unsure and unsure.as_dict()["unsure"] is True
    assert (
        unsure.warning()
        == f"À vérifier : confiance {100 * unsure.confidence:.0f} %, lisez la source citée."
    )
    assert (unsure.text, unsure.sources) == (plain.text, plain.sources)  # the same answer
    assert (
        asked(1.0, "Who is Joe Biden's national security adviser?")
        .warning()
        .startswith("Unsure: confidence ")
    )
    assert not asked(1.0, "Quelle est la recette de la tarte tatin ?").unsure  # no answer given
    turn = list(handlers.respond(unsure_below(1.0), SULLIVAN_Q, [], [], 8, None, None, [], True))
    assert '<div class="rag-unsure">À vérifier : confiance ' in turn[-1][0][-1]["content"]


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_question_is_an_input_error(seeds_pipeline: Pipeline, question: str) -> None:
    with pytest.raises(InputError, match="empty"):
        seeds_pipeline.ask(question)


def test_overlong_question_is_an_input_error(seeds_pipeline: Pipeline) -> None:
    with pytest.raises(InputError, match="shorten"):
        seeds_pipeline.ask("Biden " * 500)


def test_answer_never_cites_one_sentence_or_passage_twice(seeds_pipeline: Pipeline) -> None:
    answer = seeds_pipeline.ask("Comment s'appelle la porte-parole de la Maison Blanche ?")

    texts = [s.text for s in answer.sources]
    passages = [s.passage.id for s in answer.sources]
    assert len(set(texts)) == len(texts) and len(set(passages)) == len(passages)


def test_a_photo_caption_is_never_quoted(seeds_pipeline: Pipeline) -> None:
    """000 opens with "Joe Biden et Vladimir Poutine (illustration). — Photos Sipa / ...",
    words that match many questions, and no fact. Whatever its confidence, the answer is
    quoted (RAG_ABSTAIN_THRESHOLD=0): the test is about which sentence it quotes."""
    settings = dataclasses.replace(seeds_pipeline.settings, abstain_threshold=0.0)
    answer = dataclasses.replace(seeds_pipeline, settings=settings).ask(
        "What did Biden call Putin?"
    )

    assert not answer.abstained and "tueur" in answer.text
    assert answer.sources[0].file == "000_10bf3600e7f0d36b.txt"  # the caption's article
    assert "(illustration)" not in answer.text
    assert "Photos Sipa" not in answer.text


def test_a_caption_right_before_the_answer_is_never_quoted(
    tmp_path: Path, embedder: Embedder
) -> None:
    """The caption names the question's people and a place, as the answer does, and ranks
    first when captions are not set aside: only the sentence that states the fact is quoted."""
    pipeline = _one_article(
        tmp_path,
        embedder,
        "Joe Biden et Vladimir Poutine à Genève (illustration). — Photos Sipa / AP\nJoe Biden et "
        "Vladimir Poutine se retrouveront à Genève le 16 juin pour leur premier sommet. Les "
        "délégations arriveront la veille au bord du lac Léman.\n",
        abstain_threshold=0.0,
    )

    answer = pipeline.ask("Joe Biden et Vladimir Poutine, où ?")

    assert not answer.abstained and "le 16 juin" in answer.text
    assert "(illustration)" not in answer.text and "Sipa" not in answer.text
    assert all("(illustration)" not in s.text for s in answer.sources)


def test_a_photo_credit_never_comes_along_as_the_next_sentence(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A credit holds names the answer lacks, which would make it come along (see above)."""
    pipeline = _one_article(
        tmp_path,
        embedder,
        "Le sommet entre Joe Biden et Vladimir Poutine aura lieu à Genève le 16 juin. Photo : "
        "Denis Balibouse / Reuters. Les délégations arriveront la veille au bord du lac Léman.\n",
    )

    answer = pipeline.ask("Où aura lieu le sommet entre Biden et Poutine ?")

    assert "Genève le 16 juin" in answer.text
    assert "Reuters" not in answer.text


def test_near_miss_question_abstains(seeds_pipeline: Pipeline) -> None:
    """Biden is everywhere in the corpus; his dog is nowhere."""
    answer = seeds_pipeline.ask("Quel est le nom du chien de Joe Biden ?")

    assert answer.abstained
    assert answer.withheld  # what it would have cited is kept for evaluation, not shown


def test_the_sentence_after_the_answer_never_comes_from_the_next_paragraph(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Issue #23: the next sentence, when it holds new names, comes along with the answer, but
    never across a blank line: a paragraph break ends the answer as it ends a sentence."""
    pipeline = _one_article(
        tmp_path,
        embedder,
        "Le sommet de Joe Biden et Vladimir Poutine aura lieu à Genève le 16 juin.\n\nJake "
        "Sullivan et Nikolaï Patrouchev ont préparé la rencontre pendant des semaines.\n",
        abstain_threshold=0.0,
    )

    answer = pipeline.ask("Où aura lieu le sommet ?")

    assert not answer.abstained and "Genève le 16 juin" in answer.text
    assert "Sullivan" not in answer.text and "\n\n" not in answer.sources[0].text


def _one_article(tmp_path: Path, embedder: Embedder, body: str, **settings: Any) -> Pipeline:
    """A pipeline over one article, "geneve.txt" (dated 2021-06, titled "Sommet de Genève")."""
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "geneve.txt").write_text(
        f" date 2021-06 Sommet de Genève\n\n{body}", encoding="utf-8"
    )
    config = Settings(index_dir=tmp_path / "index", **settings)
    ingest([tmp_path / "corpus"], config, embedder)
    return Pipeline.load(config, embedder=embedder)
