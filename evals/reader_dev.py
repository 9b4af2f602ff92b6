"""How should the reader enter the answer decision? Measured on the dev splits only:
`python -m evals.reader_dev [WEIGHTS] [--repeats N]` (the shipped reader's by default).

All variants see the same sentences (the shipped ranker's top READ, read by the shipped reader)
and are fitted and measured by 5-fold cross-validation over the dev questions, so none is judged
on questions it was fitted on:
- off: today's decision (the ranker's order, the answer model over ANSWER_FEATURES);
- calibrated: the reader's logit re-ranks with the ranker's (READER_RANK_FEATURES) and joins the
  answer model (ANSWER_FEATURES + READER_FEATURES): what RAG_READER=on ships;
- alone: the reader's order, and a probability from the reader's features only.
Figures per corpus: the best sentence is right (answerable questions), AUC of the probability
for right vs not, precision at half the answerable questions answered (p@50), and
precision / answered / abstention recall at the 0.40 threshold. ``--repeats N`` averages them
over N fold assignments (the first is the fixed one, question i in fold i % 5; the others
shuffled with seeds 1..N-1): a steadier comparison on a few hundred questions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from evals.fit import CORPORA, Example, best_answer, examples, fit, fit_ranker
from rag.answer.decision import Logistic, gate
from rag.answer.features import ANSWER_FEATURES, READER_FEATURES, READER_RANK_FEATURES
from rag.reader.evaluate import auc
from rag.reader.model import Reader

FOLDS = 5
THRESHOLD = 0.40


def order_by(feature: str) -> Logistic:
    """A sentence model that ranks by one feature."""
    w = np.array([float(f == feature) for f in READER_RANK_FEATURES])
    n = len(READER_RANK_FEATURES)
    return Logistic(READER_RANK_FEATURES, w, 0.0, np.zeros(n), np.ones(n))


def variant(name: str, train: list[Example]) -> tuple[Logistic, tuple[str, ...]]:
    """The sentence model and the answer features of variant ``name``, fitted on ``train``."""
    if name == "off":
        return order_by("ranker"), ANSWER_FEATURES
    if name == "alone":
        return order_by("reader"), READER_FEATURES
    return fit_ranker(train, READER_RANK_FEATURES), ANSWER_FEATURES + READER_FEATURES


def measure(data: list[Example], name: str, repeats: int = 1) -> dict[str, float]:
    """The figures of variant ``name``, averaged over ``repeats`` fold assignments."""
    runs = [measure_once(data, name, assign(len(data), r)) for r in range(repeats)]
    return {k: float(np.mean([run[k] for run in runs])) for k in runs[0]}


def assign(n: int, repeat: int) -> np.ndarray:
    """The fold of each of ``n`` questions: i % FOLDS, shuffled unless ``repeat`` is 0."""
    folds = np.arange(n) % FOLDS
    return np.random.default_rng(repeat).permutation(folds) if repeat else folds


def measure_once(data: list[Example], name: str, folds: np.ndarray) -> dict[str, float]:
    probs, rights, answerable = [], [], []
    for k in range(FOLDS):
        train = [e for e, f in zip(data, folds) if f != k]
        ranker, names = variant(name, train)
        rows, labels = [], []
        for e in train:
            row, best = best_answer(e, ranker)
            rows.append(row)
            labels.append(e.right(best))
        model = fit(rows, np.array(labels), names)
        for e in (e for e, f in zip(data, folds) if f == k):
            row, best = best_answer(e, ranker)
            probs.append(0.0 if gate(row) else float(model.probability([row])[0]))
            rights.append(e.right(best))
            answerable.append(bool(e.item["answerable"]))
    return figures(np.array(probs), np.array(rights), np.array(answerable))


def figures(p: np.ndarray, right: np.ndarray, answerable: np.ndarray) -> dict[str, float]:
    order = np.argsort(-p, kind="stable")
    covered = np.cumsum(answerable[order]) / max(1, answerable.sum())
    precision = np.cumsum(right[order]) / np.arange(1, len(p) + 1)
    at_half = precision[np.searchsorted(covered, 0.5)] if covered[-1] >= 0.5 else 0.0
    given = p >= THRESHOLD
    return {
        "sentence_right": float(right[answerable].mean()),
        "auc": auc(p.tolist(), right.tolist()),
        "p@50": float(at_half),
        "precision": float(right[given].mean()) if given.any() else 0.0,
        "answered": float(given[answerable].mean()),
        "abstention_recall": float((~given[~answerable]).mean()) if (~answerable).any() else 1.0,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.reader_dev")
    parser.add_argument("weights", nargs="?", type=Path, help="default: the shipped reader's")
    parser.add_argument("--repeats", type=int, default=1, help="fold assignments averaged")
    args = parser.parse_args(argv)
    reader = Reader.load(args.weights) if args.weights else Reader.load()
    repeats = args.repeats
    for corpus in CORPORA:
        data = [e for e in examples(corpus, "dev", reader=reader) if e.evidence.ranked]
        for name in ("off", "calibrated", "alone"):
            shown = "  ".join(f"{k} {v:.3f}" for k, v in measure(data, name, repeats).items())
            print(f"{corpus}/dev {name:10} {shown}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
