"""Answer quality on the gold questions: one test per metric, against evals/thresholds.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from evals.conftest import CORPORA
from rag.measure.evaluation import (
    LOWER_IS_BETTER,
    Record,
    contains_fact,
    failures,
    load_gold,
    metrics,
)
from rag.pipeline import Pipeline

THRESHOLDS = tomllib.loads((Path(__file__).with_name("thresholds.toml")).read_text("utf-8"))
# (corpus/split, metric) for every gate of thresholds.toml; a tag gate reads "tag:english:metric"
GATES = [
    (f"{corpus}/{split}", metric)
    for corpus, splits in THRESHOLDS.items()
    if isinstance(splits, dict)
    for split, limits in splits.items()
    for metric in limits
]


@pytest.mark.parametrize(("run", "metric"), GATES)
def test_metric_meets_threshold(run: str, metric: str, evaluated: dict[str, Any]) -> None:
    corpus, split = run.split("/")
    limit = THRESHOLDS[corpus][split][metric]
    result = evaluated[run]
    if metric.startswith("tag:"):
        _, tag, name = metric.split(":")
        value, records = (
            result["ours_by_tag"][tag][name],
            [r for r in result["records"] if tag in r["tags"]],
        )
    else:
        name, value, records = metric, result["ours"][metric], result["records"]
    failing = failures(name, [Record(**r) for r in records])
    if name in LOWER_IS_BETTER:
        assert value <= limit, f"{run} {metric} = {value:.3f} > {limit}; failing: {failing}"
    else:
        assert value >= limit, f"{run} {metric} = {value:.3f} < {limit}; failing: {failing}"


# The stock pipeline never abstains, so its answers are compared by precision, not accuracy;
# by the article cited first (source_precision): its "answer" is a whole ~170-token passage,
# which holds the fact more often than one quoted sentence does (precision_answered, in the
# report: seeds/test 0.589 stock, 0.559 ours on 2026-12-06, docs/quality.md)
@pytest.mark.parametrize("metric", ["hit@1", "hit@3", "mrr@10", "source_precision"])
@pytest.mark.parametrize("split", ["dev", "test"])
def test_not_below_stock_llama_index(split: str, metric: str, evaluated: dict[str, Any]) -> None:
    result = evaluated[f"seeds/{split}"]
    ours, baseline = result["ours"][metric], result["baseline"][metric]
    assert ours >= baseline, f"{split} {metric}: ours {ours:.3f} < stock llama-index {baseline:.3f}"


def test_every_answer_cites_the_sentence_holding_its_fact(evaluated: dict[str, Any]) -> None:
    """An answer holding a gold fact holds it inside one of the sentences it cites (its
    ``quotes``), never in words of its own or across two quotes."""
    facts = {
        name: {item["id"]: item["answers"] for item in load_gold(gold)}
        for name, (_, gold) in CORPORA.items()
    }
    wrong, judged = [], 0
    for run, result in evaluated.items():
        answers = facts[run.split("/")[0].split("+")[0]]  # "seeds+calibrate/dev" -> seeds
        for r in result["records"]:
            if r["abstained"] or not r["fact"]:
                continue
            judged += 1
            if not any(contains_fact(quote, answers[r["id"]], [quote]) for quote in r["quotes"]):
                wrong.append(f"{run}:{r['id']}")
    assert judged, "no answer held a gold fact: nothing was checked"
    assert not wrong, f"answers whose fact is in no cited sentence: {wrong}"


def test_confidence_orders_answers(evaluated: dict[str, Any]) -> None:
    """On every test split, the most confident half of the answers is more often right than
    all of them: the confidence behind abstention carries information."""
    for run, result in evaluated.items():
        curve = result["risk_coverage"]
        if run.endswith("/test") and len(curve) > 10:
            half = curve[len(curve) // 2][1]
            assert half > curve[-1][1], (
                f"{run}: precision at half {half:.3f} <= all {curve[-1][1]:.3f}"
            )


def test_answers_marked_unsure_are_the_riskier_ones(evaluated: dict[str, Any]) -> None:
    """Over the test questions of both corpora, answers given plainly are more often right
    than those marked "à vérifier": the mark tells the reader something. Pooled: on one split,
    a few dozen marked answers swing by a question or two (seeds/test on 2026-12-02: 0.786
    plain, 0.833 marked, 58 answers)."""
    for calibrated in (False, True):
        records = [
            Record(**r)
            for run, result in evaluated.items()
            if run.endswith("/test") and ("+calibrate" in run) == calibrated
            for r in result["records"]
        ]
        ours = metrics(records)
        assert ours["precision_sure"] > ours["precision_unsure"] + 0.05, ours


def test_conversations_through_the_chat_layer(
    pipeline: Pipeline, conversations: list[dict[str, Any]], thresholds: dict[str, float]
) -> None:
    missed, turns = [], 0
    for conversation in conversations:
        history: list[str] = []
        for n, turn in enumerate(conversation["turns"], 1):
            answer = pipeline.ask(turn["question"], history)
            turns += 1
            if answer.abstained or not contains_fact(answer.text, turn["answers"]):
                missed.append(f"{conversation['id']}#{n}")
            history.append(turn["question"])
    accuracy = 1 - len(missed) / turns
    limit = thresholds["conversation_accuracy"]
    assert accuracy >= limit, (
        f"conversation_accuracy = {accuracy:.3f} < {limit}; missed turns: {missed}"
    )
