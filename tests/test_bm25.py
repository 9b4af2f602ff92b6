"""rag/index/bm25.py: the keyword index over a few hand-made passages (no model, no Chroma)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from rag.index.bm25 import KeywordIndex, passage_tokens
from rag.index.chunking import Passage

TEXTS = [
    "L'agence a publié un rapport récent sur Washington.",
    "Une tarte aux pommes.",
    "Un appel de Washington au Kremlin.",
]


def passage(i: int, text: str) -> Passage:
    return Passage(f"p{i}", text, f"f{i}.txt", f"/x/f{i}.txt", "2021-06", "t", 0, len(text), "0")


@pytest.fixture(scope="module")
def keyword() -> KeywordIndex:
    return KeywordIndex.build([passage(i, text) for i, text in enumerate(TEXTS)])


def test_idf_follows_the_bm25_formula(keyword: KeywordIndex) -> None:
    n = len(TEXTS)
    assert keyword.idf("rapport") == pytest.approx(math.log(1 + (n - 1 + 0.5) / (1 + 0.5)))
    assert keyword.idf("washington") == pytest.approx(math.log(1 + (n - 2 + 0.5) / (2 + 0.5)))


def test_a_rarer_word_weighs_more(keyword: KeywordIndex) -> None:
    assert keyword.idf("kremlin") > keyword.idf("washington") > 0


def test_idf_of_a_word_the_corpus_never_uses_is_zero(keyword: KeywordIndex) -> None:
    assert keyword.idf("chien") == 0.0


def test_correct_replaces_a_typo_by_the_close_corpus_word(keyword: KeywordIndex) -> None:
    assert keyword.correct(["washigton", "raport"]) == ["washington", "rapport"]


def test_correct_keeps_known_short_and_numeric_tokens(keyword: KeywordIndex) -> None:
    assert keyword.correct(["pomm", "chat", "12345", "kremlin"]) == [
        "pomm",
        "chat",
        "12345",
        "kremlin",
    ]


def test_a_short_token_is_corrected_only_by_one_substituted_letter(keyword: KeywordIndex) -> None:
    assert keyword.correct(["agens"]) == ["agenc"]  # "agence": one letter differs
    assert keyword.correct(["recet"]) == ["recet"]  # close to "recent", but a letter short
    assert keyword.correct(["apple"]) == ["apple"]  # nor "appel" of "apple"


def test_scores_rank_the_passage_holding_the_word_first(keyword: KeywordIndex) -> None:
    scores = keyword.scores("Quel rapport ?")

    assert scores.shape == (len(TEXTS),)
    assert scores[0] > 0 and scores[1] == scores[2] == 0


def test_scores_survive_a_typo(keyword: KeywordIndex) -> None:
    assert keyword.scores("washigton").tolist() == keyword.scores("Washington").tolist()


def test_a_query_of_stopwords_or_unknown_words_scores_zero(keyword: KeywordIndex) -> None:
    assert not keyword.scores("le la les").any()
    assert not keyword.scores("hippopotame").any()


def test_an_empty_index_scores_any_query_zero() -> None:
    assert KeywordIndex.build([]).scores("Washington").tolist() == []


def test_a_passage_without_content_words_is_indexed_as_a_placeholder() -> None:
    assert passage_tokens("le la les") == ["_"]


def test_an_index_changed_article_by_article_scores_as_one_built_at_once() -> None:
    passages = [passage(i, text) for i, text in enumerate(TEXTS * 4)]
    passages = [replace(p, id=f"p{i}", path=f"/x/f{i}.txt") for i, p in enumerate(passages)]
    built = KeywordIndex.build(passages)

    grown = KeywordIndex([])
    for p in reversed(passages):  # newest first: the segments are not in index order
        grown = grown.changed([p, passages[0]], {"p3"})  # p0 added once; p3 out and in
    grown = grown.changed([passages[3]], {"p5"}).changed([passages[5]], set())

    assert len(grown.segments) < len(passages) // 2  # merged as it grew
    assert grown.passages == built.passages
    for query in ("Washington", "pommes agence", "Kremlin Kremlin", "inconnu"):
        assert grown.scores(query).tolist() == built.scores(query).tolist(), query
    assert grown.idf("washington") == built.idf("washington")


def test_changed_leaves_the_index_it_came_from_as_it_was(keyword: KeywordIndex) -> None:
    before = keyword.scores("Washington").tolist()

    changed = keyword.changed([passage(9, "Washington encore.")], {"p0"})

    assert keyword.scores("Washington").tolist() == before
    assert [p.id for p in changed.passages] == ["p1", "p2", "p9"]


def test_scores_are_those_of_bm25s_lucene_variant(keyword: KeywordIndex) -> None:
    import bm25s

    reference = bm25s.BM25()
    reference.index([passage_tokens(p.text) for p in keyword.passages], show_progress=False)

    expected = reference.get_scores(["washington", "kremlin"])

    assert keyword.scores("Washington Kremlin") == pytest.approx(expected, rel=1e-6)
