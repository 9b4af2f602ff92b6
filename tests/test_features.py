"""rag/answer/features.py and the ranking of rag/answer/ranking.py, on hand-made sentences,
hits and a keyword index of three passages: no embedding model, no Chroma."""

from __future__ import annotations

import pytest

from rag.answer.features import (
    ANSWER_FEATURES,
    Terms,
    has_expected_fact,
    new_names,
    novelty,
    unknown_focus,
)
from rag.answer.ranking import MARGIN_CAP, Candidate, answer_features, best_first
from rag.index.bm25 import KeywordIndex
from rag.index.chunking import Passage
from rag.index.retrieval import Hit
from rag.text import language

TEXTS = {
    "geneve.txt": "Joe Biden a rencontré Vladimir Poutine à Genève le 16 juin.",
    "jazz.txt": "Le festival de jazz de Montreux accueille trois cents musiciens.",
    "taiga.txt": "La taïga couvre une grande partie de la Sibérie.",
}


def passage(file: str, text: str = "") -> Passage:
    text = text or TEXTS[file]
    return Passage(f"{file}#0", text, file, f"/corpus/{file}", "2021-06", file, 0, len(text), "0")


@pytest.fixture(scope="module")
def keyword() -> KeywordIndex:
    return KeywordIndex.build([passage(file) for file in TEXTS])


# --- language and the kind of fact asked for ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Who is Jake Sullivan?", "en"),
        ("What is the recipe for apple pie?", "en"),
        ("Qui est Jake Sullivan ?", "fr"),
        ("Quelle est la recette de la tarte tatin ?", "fr"),
        ("", "fr"),  # French unless English words outnumber French ones
    ],
)
def test_language_is_told_by_common_words(text: str, expected: str) -> None:
    assert language(text) == expected


WHO = "Qui est le conseiller de Joe Biden ?"


def test_a_who_question_needs_a_name_the_question_lacks() -> None:
    assert has_expected_fact(WHO, "Le conseiller de Joe Biden, Jake Sullivan, a parlé lundi.")
    assert not has_expected_fact(WHO, "Le conseiller de Joe Biden a parlé lundi.")
    assert not has_expected_fact(WHO, "Le conseiller Joe Biden a parlé.")  # only the question's


@pytest.mark.parametrize("question", ["Où aura lieu le sommet ?", "Where will the summit be?"])
def test_a_where_question_needs_a_place(question: str) -> None:
    assert has_expected_fact(question, "Le sommet aura lieu à Genève.")
    assert not has_expected_fact(question, "Le sommet aura lieu bientôt.")


def test_a_how_many_question_needs_a_number_not_a_year_or_a_date() -> None:
    question = "Combien de musiciens viendront ?"
    assert has_expected_fact(question, "Trois cents musiciens viendront.")
    assert has_expected_fact(question, "Ils seront 300.")
    assert not has_expected_fact(question, "De nombreux musiciens viendront.")
    assert not has_expected_fact(question, "Les musiciens viendront en 2021.")
    assert not has_expected_fact(question, "Les musiciens viendront le 3 mars.")


def test_a_when_question_needs_a_date_word_or_a_number() -> None:
    question = "Quand le sommet aura-t-il lieu ?"
    assert has_expected_fact(question, "Le sommet aura lieu en juin.")
    assert has_expected_fact(question, "Le sommet aura lieu mercredi.")
    assert has_expected_fact(question, "Le sommet aura lieu le 16.")
    assert not has_expected_fact(question, "Le sommet aura lieu à Genève.")


def test_a_how_long_question_needs_a_duration() -> None:
    question = "Combien de temps durera le sommet ?"
    assert has_expected_fact(question, "Le sommet durera trois heures.")
    assert not has_expected_fact(question, "Le sommet réunira trois délégations.")


def test_a_question_of_no_particular_kind_accepts_any_sentence() -> None:
    assert has_expected_fact("Pourquoi le sommet est-il reporté ?", "Parce que rien n'est prêt.")


# --- what a sentence brings -----------------------------------------------------------------


def test_new_names_example_of_the_docstring() -> None:
    assert new_names("Quels pays ?", "La Finlande et l'Autriche") == 1.0


def test_new_names_counts_names_and_numbers_the_question_lacks_up_to_two() -> None:
    assert new_names("Qui a vu Joe Biden ?", "Il a vu Jake.") == 0.5
    assert new_names("Qui a vu Joe Biden ?", "Il a vu Jake Sullivan en 2021.") == 1.0  # capped
    assert new_names("Qui est Joe Biden ?", "Il est Joe Biden.") == 0.0  # the question's own


def test_new_names_ignores_the_capital_that_starts_the_sentence() -> None:
    assert new_names("Qui est là ?", "Personne ne répond.") == 0.0


TERMS = Terms(idf={"biden": 2.0, "chien": 4.0}, unknown=0.0)


def test_coverage_is_the_share_of_the_terms_idf_the_text_holds() -> None:
    assert TERMS.coverage("Joe Biden") == pytest.approx(2 / 6)
    assert TERMS.coverage("Le chien de Biden") == 1.0
    assert TERMS.coverage("Rien à voir") == 0.0


def test_coverage_is_full_when_no_term_is_known() -> None:
    assert Terms(idf={}, unknown=1.0).coverage("Rien à voir") == 1.0


def test_missing_rare_is_the_rarest_missing_term_relative_to_the_rarest_term() -> None:
    assert TERMS.missing_rare("Le chien de Biden") == 0.0
    assert TERMS.missing_rare("Le chien") == pytest.approx(2 / 4)  # lacks "biden"
    assert TERMS.missing_rare("Joe Biden") == 1.0  # lacks "chien", the rarest
    assert Terms(idf={}, unknown=1.0).missing_rare("x") == 0.0


def test_novelty_is_the_share_of_the_sentences_words_the_question_lacks() -> None:
    assert novelty(TERMS, "Le chien de Joe Biden aboie") == 0.5  # joe, aboi of 4 words
    assert novelty(TERMS, "le la les") == 0.0  # no content word


def test_terms_of_a_question_weigh_an_unknown_word_as_the_rarest(keyword: KeywordIndex) -> None:
    terms = Terms.of("Quel est le chien de Biden ?", keyword)  # the docstring's example

    assert list(terms.idf) == ["biden"] and terms.idf["biden"] > 0
    assert terms.unknown == 0.5


def test_terms_of_a_misspelt_question_are_corrected(keyword: KeywordIndex) -> None:
    assert Terms.of("Quel festivl de jazz ?", keyword).idf.keys() == {"festival", "jazz"}


# --- the thing asked about ------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "Comment s'appelle le chien de Joe Biden ?",
        "Quel est le nom du chien de Joe Biden ?",  # past the answer-type noun "nom"
    ],
)
def test_focus_the_corpus_never_names_is_unknown(keyword: KeywordIndex, question: str) -> None:
    assert unknown_focus(question, keyword)


@pytest.mark.parametrize(
    "question",
    [
        "Quel festival accueille des musiciens ?",  # a word of the corpus
        "Quelle date pour le sommet ?",  # an answer-type noun, not a topic
        "Qui a rencontré Poutine ?",  # no "quel ..." focus at all
    ],
)
def test_focus_the_corpus_names_or_an_answer_type_is_not_unknown(
    keyword: KeywordIndex, question: str
) -> None:
    assert not unknown_focus(question, keyword)


# --- ranking --------------------------------------------------------------------------------


def candidate(
    file: str,
    logit: float,
    typed: float = 1.0,
    dense: float = 0.5,
    bm25: float = 1.0,
    cosine: float = 0.5,
) -> Candidate:
    p = passage(file)
    features = {"typed": typed, "cosine": cosine, "window": 0.7, "passage": 0.8}
    return Candidate(Hit(p, 0.03, dense, bm25), 0, p.end, p.text, features, logit)


def test_best_first_puts_typed_sentences_first_then_by_logit() -> None:
    untyped_best = candidate("jazz.txt", logit=9.0, typed=0.0)
    typed_low = candidate("taiga.txt", logit=-1.0)
    typed_high = candidate("geneve.txt", logit=2.0)

    ranked = best_first([untyped_best, typed_low, typed_high])

    assert ranked == [typed_high, typed_low, untyped_best]


QUESTION = "Où Joe Biden a-t-il rencontré Vladimir Poutine ?"


def features_of(ranked: list[Candidate], keyword: KeywordIndex) -> dict[str, float]:
    return answer_features(QUESTION, ranked, keyword, Terms.of(QUESTION, keyword))


def test_answer_features_are_exactly_the_answer_features(keyword: KeywordIndex) -> None:
    ranked = [candidate("geneve.txt", 2.0), candidate("jazz.txt", 1.0)]

    assert sorted(features_of(ranked, keyword)) == sorted(ANSWER_FEATURES)


def test_margin_is_the_lead_over_the_next_sentence_when_no_other_file_rivals_the_best(
    keyword: KeywordIndex,
) -> None:
    """A date filter that leaves one article must not look like certainty (MARGIN_CAP)."""
    alone = [candidate("geneve.txt", 2.0), candidate("geneve.txt", 1.9)]  # same file

    features = features_of(alone, keyword)

    assert features["margin"] == pytest.approx(0.1)
    assert features["dense_margin"] == 0.5  # no other file's passage: against 0
    assert features_of(alone[:1], keyword)["margin"] == MARGIN_CAP  # a lone sentence


def test_margin_is_the_logit_lead_over_the_best_other_file(keyword: KeywordIndex) -> None:
    ranked = [candidate("geneve.txt", 2.0), candidate("jazz.txt", 0.5, dense=0.2)]

    features = features_of(ranked, keyword)

    assert features["margin"] == pytest.approx(1.5)
    assert features["dense_margin"] == pytest.approx(0.3)


def test_a_huge_lead_is_capped_at_margin_cap(keyword: KeywordIndex) -> None:
    ranked = [candidate("geneve.txt", 20.0), candidate("jazz.txt", -20.0)]

    assert features_of(ranked, keyword)["margin"] == MARGIN_CAP


def test_answer_features_read_the_best_sentence_and_its_hit(keyword: KeywordIndex) -> None:
    best = candidate("geneve.txt", 2.0, dense=0.4, bm25=1.0, cosine=0.9)
    ranked = [best, candidate("jazz.txt", 1.0, dense=0.8, bm25=4.0)]

    features = features_of(ranked, keyword)

    assert features["logit"] == 2.0 and features["cosine"] == 0.9 and features["typed"] == 1.0
    assert features["dense_rel"] == pytest.approx(0.5) and features["bm25_rel"] == 0.25
    assert features["english"] == 0.0 and features["focus_unknown"] == 0.0


def test_english_questions_count_no_unknown_words(keyword: KeywordIndex) -> None:
    question = "Where did Joe Biden meet the dog?"
    ranked = [candidate("geneve.txt", 2.0)]
    terms = Terms.of(question, keyword)
    assert terms.unknown > 0

    features = answer_features(question, ranked, keyword, terms)

    assert features["english"] == 1.0 and features["unknown"] == 0.0
