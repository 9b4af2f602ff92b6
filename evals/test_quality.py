"""Answer quality on the gold questions: one test per metric, against evals/thresholds.toml."""

from __future__ import annotations

from typing import Any

import pytest

from rag.evaluation import LOWER_IS_BETTER, METRICS, Record, contains_fact, failures
from rag.pipeline import Pipeline

GATED = [m for m in METRICS if m != "latency_median_s"]  # latency is for information


@pytest.mark.parametrize("metric", GATED)
def test_metric_meets_threshold(
    metric: str, evaluated: dict[str, Any], thresholds: dict[str, float]
) -> None:
    value, limit = evaluated["ours"][metric], thresholds[metric]
    failing = failures(metric, [Record(**r) for r in evaluated["records"]])
    if metric in LOWER_IS_BETTER:
        assert value <= limit, f"{metric} = {value:.3f} > {limit}; failing questions: {failing}"
    else:
        assert value >= limit, f"{metric} = {value:.3f} < {limit}; failing questions: {failing}"


@pytest.mark.parametrize("metric", ["hit@1", "hit@3", "mrr@10", "answer_accuracy"])
def test_not_below_stock_llama_index(metric: str, evaluated: dict[str, Any]) -> None:
    ours, baseline = evaluated["ours"][metric], evaluated["baseline"][metric]
    assert ours >= baseline, f"{metric}: ours {ours:.3f} < stock llama-index {baseline:.3f}"


def test_every_answer_cites_the_sentence_holding_its_fact(evaluated: dict[str, Any]) -> None:
    wrong = [
        r["id"] for r in evaluated["records"] if r["fact"] and not r["abstained"] and not r["cited"]
    ]
    assert not wrong, f"answers with a fact but no citation: {wrong}"


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
