"""Abstention adapted to one index: `rag calibrate QUESTIONS`.

The answer model reads its features relative to the corpus it answers from (scoring.corpus_norm):
a margin that is strong on five news articles is ordinary among 400 FAQ answers. Out of the box an
index uses the scale of the corpora the model was fitted on; given questions its users would ask
(no answers needed), it measures its own. The scale is kept in the collection's metadata, so every
machine of a Chroma server shares it and a rebuild keeps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.chroma import CALIBRATION
from rag.config import Settings
from rag.errors import InputError
from rag.ranking import answer_features, confidence, rank_sentences
from rag.scoring import Norm, Terms, corpus_norm, models
from rag.watch import stamp_calibration

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.store import Store

MIN_QUESTIONS = 20  # fewer give a scale that is mostly noise


@dataclass(frozen=True)
class Calibration:
    questions: int
    answered_before: int  # of those questions, answered with the default scale
    answered_after: int

    def summary(self, threshold: float) -> str:
        """Example: "calibrated on 40 questions: 18 would be answered (31 before) at 0.40"."""
        return (
            f"calibrated on {self.questions} questions: {self.answered_after} would be answered "
            f"({self.answered_before} before) at the abstention threshold {threshold:.2f}; "
            "undo with `rag calibrate --reset`"
        )


def command(path: Path | None, reset: bool, settings: Settings) -> str:
    """`rag calibrate [QUESTIONS] [--reset]`: what it did, in one line."""
    from rag.pipeline import Pipeline
    from rag.store import Store

    if reset:
        forget(Store.open(settings))
        return "abstention back to the default scale"
    if path is None:
        raise InputError("Give a file of questions (or --reset): rag calibrate my-questions.txt")
    questions = read_questions(path)
    threshold = settings.abstain_threshold
    return calibrate(Pipeline.load(settings), questions, threshold).summary(threshold)


def read_questions(path: Path) -> list[str]:
    """Questions from a text file (one per line) or a JSONL file (a "question" field per line)."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read {path}: {exc}: give a UTF-8 text file") from None
    questions = [line for line in lines if line]
    if path.suffix == ".jsonl":
        try:
            questions = [str(json.loads(line)["question"]) for line in questions]
        except (ValueError, KeyError, TypeError):
            raise InputError(f'{path}: every line must be JSON with a "question" field') from None
    if len(questions) < MIN_QUESTIONS:
        raise InputError(
            f"{path} holds {len(questions)} questions: give at least {MIN_QUESTIONS}, "
            "written the way your users ask"
        )
    return questions


def calibrate(pipeline: Pipeline, questions: list[str], threshold: float) -> Calibration:
    """Measure the index's own answer-feature scale on ``questions`` and keep it."""
    store = pipeline.store
    rows = [row for q in questions if (row := _row(pipeline, store, q)) is not None]
    if len(rows) < MIN_QUESTIONS:
        raise InputError(
            f"Only {len(rows)} of the questions retrieved anything: give questions about "
            "this corpus"
        )
    table = np.array(rows)
    default = models().answer_own_scale
    norm = corpus_norm(table, (default.mean, default.scale))
    payload = {"mean": norm[0].tolist(), "scale": norm[1].tolist(), "questions": len(rows)}
    store.annotate(**{CALIBRATION: json.dumps(payload)})  # {"mean", "scale", "questions"}
    stamp_calibration(store.settings)

    def answered(scale: Norm | None) -> int:
        return sum(confidence(row, scale) >= threshold for row in table)

    return Calibration(len(rows), answered(None), answered(norm))


def forget(store: Store) -> None:
    """Back to the default scale."""
    meta = {k: v for k, v in (store.collection.metadata or {}).items() if k != CALIBRATION}
    store.collection.modify(metadata=meta)
    stamp_calibration(store.settings)


def norm_of(store: Store) -> Norm | None:
    """The index's own scale, if `rag calibrate` measured one."""
    data = _stored(store)
    if data is None or len(data["mean"]) != len(models().answer.features):
        return None  # none, or measured for an answer model of other features
    return np.asarray(data["mean"]), np.asarray(data["scale"])


def described(store: Store) -> str:
    """What `rag info` says. Example: "own scale, from 40 questions"."""
    data = _stored(store)
    if data is None:
        return "default scale (run `rag calibrate QUESTIONS` to measure this corpus's own)"
    return f"own scale, from {data['questions']} questions"


def _stored(store: Store) -> dict[str, Any] | None:
    """The calibration kept in the collection's metadata, if any."""
    raw = (store.collection.metadata or {}).get(CALIBRATION)
    return json.loads(str(raw)) if raw else None


def _row(pipeline: Pipeline, store: Store, question: str) -> np.ndarray | None:
    vector = pipeline.embedder.embed_queries([question])[0]
    hits = pipeline.retrieve(question, vector=vector)
    terms = Terms.of(question, store.keyword)
    ranked = rank_sentences(question, vector, hits, pipeline.embedder, store, terms)
    return answer_features(question, ranked, store.keyword, terms) if ranked else None
