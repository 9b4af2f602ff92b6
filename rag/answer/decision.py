"""The one answer decision: gate -> probability -> answer, answer "à vérifier", or abstain.

Its input is the best sentence's ANSWER_FEATURES, by name (ranking.answer_features builds them,
for answering, `rag calibrate` and `python -m evals.fit` alike). The models are read from
model.json, which says what made them (data, embedding model, sentence vectors, settings,
commit, date); `provenance_warning` says when the running index differs from that.

Example: decide({"typed": 1.0, "focus_unknown": 0.0, ...}, Thresholds(0.40, 0.60))
    -> Decision(probability=0.72, abstain=False, below_sure=False, gate="")
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from rag.answer.features import (
    ANSWER_FEATURES,
    READER_FEATURES,
    READER_RANK_FEATURES,
    SENTENCE_FEATURES,
)

MODEL_FILE = Path(__file__).with_name("model.json")
Z_CAP = 4.0  # standard deviations a feature may count for (see Logistic.logit)
# 0/1 answer features: always on the scale they were fitted on (see corpus_scale)
BINARY = ("typed", "focus_unknown", "english")
Features = Mapping[str, float]


def matrix(rows: Sequence[Features], names: Sequence[str]) -> np.ndarray:
    """Named feature rows as a matrix, columns in the order of ``names``.

    Example: ([{"a": 1, "b": 2}], ("b", "a")) -> [[2., 1.]]
    """
    return np.array([[row[name] for name in names] for row in rows], dtype=np.float64)


@dataclass(frozen=True)
class Logistic:
    """A fitted logistic model over named features (standardised with the training mean/scale)."""

    features: tuple[str, ...]
    weights: np.ndarray
    bias: float
    mean: np.ndarray
    scale: np.ndarray
    provenance: Mapping[str, Any] | None = None  # what fitted it (see evals/fit.py)

    def logit(self, rows: Sequence[Features]) -> np.ndarray:
        """A feature far outside the fitted range counts as Z_CAP standard deviations: a linear
        model extrapolates it into nonsense (a one-article corpus has no rival article, and its
        dense margin was 19 deviations out, which alone turned a right answer into abstention)."""
        z = np.clip((matrix(rows, self.features) - self.mean) / self.scale, -Z_CAP, Z_CAP)
        return z @ self.weights + self.bias

    def probability(self, rows: Sequence[Features]) -> np.ndarray:
        return 1 / (1 + np.exp(-self.logit(rows)))

    def rescaled(self, scale: Scale) -> Logistic:
        """The same weights over features read on another corpus's scale."""
        return replace(
            self,
            mean=np.array([scale.mean[f] for f in self.features]),
            scale=np.array([scale.scale[f] for f in self.features]),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "weights": self.weights.round(6).tolist(),
            "bias": round(self.bias, 6),
            "mean": self.mean.round(6).tolist(),
            "scale": self.scale.round(6).tolist(),
            "provenance": dict(self.provenance or {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], features: tuple[str, ...]) -> Logistic:
        """The model of ``data``, whose features must be ``features`` (in any order)."""
        if set(data["features"]) != set(features):
            raise ValueError(f"{MODEL_FILE} was fitted on other features: re-run evals.fit")
        arrays = [np.asarray(data[k], dtype=np.float64) for k in ("weights", "mean", "scale")]
        names = tuple(data["features"])
        return cls(names, arrays[0], float(data["bias"]), arrays[1], arrays[2], data["provenance"])


class Scale(NamedTuple):
    """A corpus's own mean and scale of each answer feature (`rag calibrate`)."""

    mean: dict[str, float]
    scale: dict[str, float]


def corpus_scale(rows: Sequence[Features], default: Scale) -> Scale:
    """Mean and scale of the answer features ``rows`` (one per question asked of one corpus),
    for the features ``default`` has.

    A margin or a cosine that is strong on one corpus is ordinary on another; the answer model
    reads each feature relative to the corpus it answers from. 0/1 features keep ``default``'s.
    """
    names = tuple(default.mean)
    table = matrix(rows, names)
    mean, scale = table.mean(axis=0), table.std(axis=0)
    keep = {f for f, s in zip(names, scale) if f in BINARY or s == 0}
    return Scale(
        {f: default.mean[f] if f in keep else float(m) for f, m in zip(names, mean)},
        {f: default.scale[f] if f in keep else float(s) for f, s in zip(names, scale)},
    )


class Models(NamedTuple):
    """model.json: the sentence ranker, and the answer model twice: over features on the pooled
    scale of the fitting corpora, and over features on each corpus's own scale (used once
    `rag calibrate` has measured the index's)."""

    sentence: Logistic
    answer: Logistic
    answer_own_scale: Logistic
    # fitted with the reader's features (RAG_READER=on); None in a file fitted without
    reader_rank: Logistic | None = None
    answer_reader: Logistic | None = None
    answer_reader_own_scale: Logistic | None = None

    def answer_models(self, reading: bool) -> tuple[Logistic, Logistic]:
        """The answer model and its own-scale twin, for features with the reader's or not."""
        if reading and self.answer_reader and self.answer_reader_own_scale:
            return self.answer_reader, self.answer_reader_own_scale
        return self.answer, self.answer_own_scale

    def default_scale(self, reading: bool = False) -> Scale:
        """The scale the own-scale model falls back on: the fitting corpora's, pooled."""
        own = self.answer_models(reading)[1]
        return Scale(
            dict(zip(own.features, own.mean.tolist())), dict(zip(own.features, own.scale.tolist()))
        )


@lru_cache(maxsize=1)
def models() -> Models:
    data = json.loads(MODEL_FILE.read_text(encoding="utf-8"))
    reading = ANSWER_FEATURES + READER_FEATURES

    def optional(name: str, features: tuple[str, ...]) -> Logistic | None:
        return Logistic.from_dict(data[name], features) if name in data else None

    return Models(
        Logistic.from_dict(data["sentence"], SENTENCE_FEATURES),
        Logistic.from_dict(data["answer"], ANSWER_FEATURES),
        Logistic.from_dict(data["answer_own_scale"], ANSWER_FEATURES),
        optional("reader_rank", READER_RANK_FEATURES),
        optional("answer_reader", reading),
        optional("answer_reader_own_scale", reading),
    )


@dataclass(frozen=True)
class Thresholds:
    """RAG_ABSTAIN_THRESHOLD and RAG_SURE_THRESHOLD."""

    abstain: float
    sure: float


@dataclass(frozen=True)
class Decision:
    """What to do with the best sentence: quote it, quote it marked "à vérifier", or abstain."""

    probability: float  # calibrated probability that quoting it answers the question right
    abstain: bool
    below_sure: bool  # below RAG_SURE_THRESHOLD: an answer given anyway is marked unsure
    gate: str = ""  # why no model was asked ("" when one was)

    @property
    def unsure(self) -> bool:
        return not self.abstain and self.below_sure


def decide(
    features: Features | None, thresholds: Thresholds, scale: Scale | None = None
) -> Decision:
    """The decision for the best sentence's ``features`` (None: nothing was retrieved);
    ``scale`` is the index's own feature scale, if `rag calibrate` measured one. A closed gate
    abstains whatever the thresholds (even RAG_ABSTAIN_THRESHOLD=0)."""
    why = "nothing retrieved" if features is None else gate(features)
    p = 0.0 if why or features is None else probability(features, scale)
    return Decision(p, bool(why) or p < thresholds.abstain, p < thresholds.sure, why)


def gate(features: Features) -> str:
    """Why no model is asked ("" when one is): the best sentence holds no fact of the kind
    asked for, or the question asks about something the corpus never names."""
    if not features["typed"]:
        return "the best sentence holds no fact of the kind asked for"
    if features["focus_unknown"]:
        return "the question asks about something the corpus never names"
    return ""


def probability(features: Features, scale: Scale | None = None) -> float:
    """What the answer model gives ``features`` (on the index's own ``scale``, if any): the
    model fitted with the reader's features when they are there."""
    pooled, own = models().answer_models("reader" in features)
    # a scale measured for the other set of features (RAG_READER changed since) is not used
    fits = scale is not None and set(scale.mean) == set(own.features)
    model = own.rescaled(scale) if scale is not None and fits else pooled
    return float(model.probability([features])[0])


def provenance_warning(embed_model: str, sentence_vectors: object) -> str:
    """One line when the index was made otherwise than the data the models were fitted on
    ("" when it matches). Example: ("bge-m3", 1) -> "warning: the answer model was fitted..."."""
    made = models().answer.provenance or {}
    fitted = (made.get("embed_model"), made.get("sentence_vectors"))
    if fitted == (embed_model, sentence_vectors):
        return ""
    return (
        f"warning: the answer model was fitted with {fitted[0]} and sentence vectors of kind "
        f"{fitted[1]}; this index has {embed_model} and kind {sentence_vectors}: its confidences "
        "may be off (`rag calibrate QUESTIONS` adapts them to this index)"
    )
