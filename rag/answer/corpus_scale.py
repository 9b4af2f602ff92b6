"""Abstention adapted to one index: `rag calibrate QUESTIONS`.

The answer model reads its features relative to the corpus it answers from (decision.corpus_scale):
a margin that is strong on five news articles is ordinary among 400 FAQ answers. Out of the box an
index uses the scale of the corpora the model was fitted on; given questions its users would ask
(no answers needed), it measures its own. The scale is kept in the collection's metadata, so every
machine of a Chroma server shares it and a rebuild keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer.decision import Features, Scale, Thresholds, corpus_scale, decide, models
from rag.answer.features import ANSWER_FEATURES
from rag.errors import InputError
from rag.index.chroma import OWN_SCALE
from rag.index.watch import stamp_calibration

if TYPE_CHECKING:
    from rag.index.store import Store

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


def calibrate(store: Store, rows: Sequence[Features], threshold: float) -> Calibration:
    """Keep the answer-feature scale of ``rows`` (one per question asked of ``store``'s
    corpus, as Pipeline.calibrate gathers them) as the index's own."""
    if len(rows) < MIN_QUESTIONS:
        raise InputError(
            f"Only {len(rows)} of the questions retrieved anything: give questions about "
            "this corpus"
        )
    scale = corpus_scale(rows, models().default_scale(reading="reader" in rows[0]))
    payload = {"mean": scale.mean, "scale": scale.scale, "questions": len(rows)}
    store.annotate(**{OWN_SCALE: json.dumps(payload)})
    stamp_calibration(store.settings)
    thresholds = Thresholds(threshold, threshold)

    def answered(own: Scale | None) -> int:
        return sum(not decide(row, thresholds, own).abstain for row in rows)

    return Calibration(len(rows), answered(None), answered(scale))


def forget(store: Store) -> None:
    """Back to the default scale."""
    meta = {k: v for k, v in (store.collection.metadata or {}).items() if k != OWN_SCALE}
    store.collection.modify(metadata=meta)
    stamp_calibration(store.settings)


def scale_of(store: Store) -> Scale | None:
    """The index's own scale, if `rag calibrate` measured one (a scale kept as a list, as
    older versions wrote it, is in ANSWER_FEATURES order)."""
    data = _stored(store)
    if data is None:
        return None
    mean, scale = data["mean"], data["scale"]
    if isinstance(mean, list):
        if len(mean) != len(ANSWER_FEATURES):
            return None  # measured for an answer model of other features
        mean, scale = dict(zip(ANSWER_FEATURES, mean)), dict(zip(ANSWER_FEATURES, scale))
    return Scale(mean, scale)


def described(store: Store) -> str:
    """What `rag info` says. Example: "own scale, from 40 questions"."""
    data = _stored(store)
    if data is None:
        return "default scale (run `rag calibrate QUESTIONS` to measure this corpus's own)"
    return f"own scale, from {data['questions']} questions"


def _stored(store: Store) -> dict[str, Any] | None:
    """The scale kept in the collection's metadata, if any."""
    raw = (store.collection.metadata or {}).get(OWN_SCALE)
    return json.loads(str(raw)) if raw else None
