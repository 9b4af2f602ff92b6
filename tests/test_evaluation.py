"""rag/measure/evaluation.py: the metrics and the one definition of a right answer, on
hand-made records (what `rag eval` and evals/ compute from real runs)."""

from __future__ import annotations

from typing import Any

import pytest

from rag.measure.evaluation import Record, contains_fact, failures, is_right, metrics, risk_coverage

GOLD = "gold.txt"


def record(
    id: str,
    answerable: bool = True,
    abstained: bool = False,
    fact: bool = True,
    right: bool = True,
    **fields: Any,
) -> Record:
    return Record(
        **{
            "id": id,
            "tags": [],
            "answerable": answerable,
            "retrieved": [GOLD],
            "answer": "",
            "abstained": abstained,
            "cited": [] if abstained else [GOLD],
            "gold_sources": [GOLD] if answerable else [],
            "fact": fact,
            "right": right,
            **fields,
        }
    )


RECORDS = [
    record("right"),
    record("fact-wrong-file", right=False),  # the fact, but from a file that is no gold source
    record("withheld", abstained=True, fact=False, right=True),  # right, had it answered
    record("unanswerable-abstained", answerable=False, abstained=True, fact=False, right=False),
    record("unanswerable-answered", answerable=False, fact=False, right=False),
]


@pytest.fixture(scope="module")
def measured() -> dict[str, float]:
    return metrics(RECORDS)


def test_answer_accuracy_is_the_share_of_answerable_questions_answered_with_the_fact(
    measured: dict[str, float],
) -> None:
    assert measured["answer_accuracy"] == round(2 / 3, 4)


def test_abstention_recall_is_the_share_of_unanswerable_questions_refused(
    measured: dict[str, float],
) -> None:
    assert measured["abstention_recall"] == 0.5


def test_false_abstention_is_the_share_of_answerable_questions_refused(
    measured: dict[str, float],
) -> None:
    assert measured["false_abstention"] == round(1 / 3, 4)


def test_answered_is_the_share_of_answerable_questions_answered(
    measured: dict[str, float],
) -> None:
    assert measured["answered"] == round(2 / 3, 4)


def test_precision_answered_counts_right_answers_not_facts(measured: dict[str, float]) -> None:
    # of three answers, one is right; "fact-wrong-file" holds the fact but is not right, and
    # the right answer an abstention withheld is no answer
    assert measured["precision_answered"] == round(1 / 3, 4)


def test_precision_sure_and_unsure_split_the_answers_by_their_mark() -> None:
    records = [
        record("sure-right"),
        record("sure-wrong", right=False),
        record("unsure-right", unsure=True),
        record("unsure-wrong-1", unsure=True, right=False),
        record("unsure-wrong-2", unsure=True, right=False),
    ]

    measured = metrics(records)

    assert measured["precision_sure"] == 0.5
    assert measured["precision_unsure"] == round(1 / 3, 4)
    assert measured["unsure"] == 0.6


def test_a_metric_with_no_question_to_judge_is_absent() -> None:
    measured = metrics([record("a"), record("b")])

    assert "abstention_recall" not in measured  # no unanswerable question
    assert "precision_unsure" not in measured  # no answer marked unsure
    assert "llm_answers" not in measured  # no LLM asked
    assert measured["answer_accuracy"] == 1.0


def test_retrieval_metrics_judge_files_by_rank() -> None:
    second = record("second", retrieved=["other.txt", GOLD])

    measured = metrics([second])

    assert measured["hit@1"] == 0.0 and measured["hit@3"] == 1.0 and measured["mrr@10"] == 0.5


def test_failures_name_the_questions_that_pull_a_metric_down() -> None:
    assert failures("precision_answered", RECORDS) == ["fact-wrong-file", "unanswerable-answered"]
    assert failures("false_abstention", RECORDS) == ["withheld"]
    assert failures("abstention_recall", RECORDS) == ["unanswerable-answered"]
    assert failures("no such metric", RECORDS) == []


# --- the risk-coverage curve ----------------------------------------------------------------


def test_risk_coverage_walks_answers_from_the_most_confident() -> None:
    records = [
        record("wrong", confidence=0.8, right=False),
        record("right", confidence=0.9),
    ]

    assert risk_coverage(records) == [(0.5, 1.0), (1.0, 0.5)]


def test_risk_coverage_counts_an_unanswerable_question_answered_as_wrong() -> None:
    # the docstring's example: 0.9 right, 0.8 wrong (here: unanswerable), 2 answerable
    records = [
        record("right", confidence=0.9),
        record("unanswerable", answerable=False, confidence=0.8, right=False),
        record("last", confidence=0.1, right=False),
    ]

    assert risk_coverage(records) == [(0.5, 1.0), (0.5, 0.5), (1.0, 1 / 3)]


# --- one definition of right ----------------------------------------------------------------

ITEM = {"answerable": True, "sources": [GOLD], "answers": ["Jake Sullivan"]}
LONG = "Les délégations arriveront la veille au bord du lac Léman pour préparer le sommet."


def test_right_needs_an_answerable_question_a_gold_file_and_a_fact() -> None:
    said = "Le conseiller est Jake Sullivan."
    assert is_right(ITEM, GOLD, said, [])
    assert not is_right({**ITEM, "answerable": False}, GOLD, said, [])
    assert not is_right(ITEM, "other.txt", said, [])
    assert not is_right(ITEM, GOLD, "Le conseiller est Antony Blinken.", [])


def test_right_accepts_a_quote_that_is_part_of_a_long_gold_answer() -> None:
    item = {**ITEM, "answers": [LONG]}
    quote = "arriveront la veille au bord du lac Léman"

    assert is_right(item, GOLD, f"{quote} [1]", [quote])
    assert not is_right(item, GOLD, "la veille [1]", ["la veille"])  # 20 characters or fewer


def test_contains_fact_example_of_the_docstring() -> None:
    assert contains_fact("Jake Sullivan, s’est entretenu", ["jake sullivan"])


def test_contains_fact_ignores_case_accents_apostrophes_and_spacing() -> None:
    assert contains_fact("Le sommet aura lieu à GENEVE.", ["Genève"])
    assert contains_fact("l’accord  de\nMinsk", ["L'accord de Minsk"])


def test_contains_fact_needs_one_of_the_facts() -> None:
    assert contains_fact("Genève ou Vienne", ["Helsinki", "Vienne"])
    assert not contains_fact("Genève ou Vienne", ["Helsinki", "Stockholm"])
