"""rag/index/bm25.py: the keyword index over a few hand-made passages (no model, no Chroma)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rag.index.bm25 import TOKENS_VERSION, KeywordIndex, passage_tokens
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


def test_saved_tokens_come_back_passage_by_passage(keyword: KeywordIndex, tmp_path: Path) -> None:
    built = KeywordIndex.build(keyword.passages)
    built.save(tmp_path / "snapshot")

    loaded = KeywordIndex.load(tmp_path / "snapshot")

    assert KeywordIndex.saved_tokens(tmp_path / "snapshot") == built.tokens
    assert loaded.passages == keyword.passages
    assert loaded.scores("Washington").tolist() == keyword.scores("Washington").tolist()


def test_tokens_saved_by_another_tokenizer_version_are_not_reused(tmp_path: Path) -> None:
    folder = tmp_path / "snapshot"
    KeywordIndex.build([passage(0, TEXTS[0])]).save(folder)
    saved = (folder / "tokens.txt").read_text(encoding="utf-8")
    (folder / "tokens.txt").write_text(
        saved.replace(TOKENS_VERSION, "tokens 0", 1), encoding="utf-8"
    )

    assert KeywordIndex.saved_tokens(folder) is None
