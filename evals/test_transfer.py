"""Abstention on a corpus the models never saw: `rag calibrate` must bring coverage toward what
models fitted on that corpus itself give (evals/transfer.py)."""

from __future__ import annotations

from typing import Any

from evals.fit import CORPORA, examples
from evals.transfer import LABELS, gap_closed, transfer
from rag.pipeline import Pipeline


def test_own_scale_closes_the_coverage_gap_on_an_unseen_corpus(
    pipelines: dict[str, Pipeline], thresholds: dict[str, Any]
) -> None:
    dev = {name: examples(name, "dev", pipelines[name]) for name in CORPORA}
    test = {name: examples(name, "test", pipelines[name]) for name in CORPORA}
    for pair, figures in transfer(dev, test).items():
        shown = {label: round(figures[label]["answered"], 3) for label in LABELS}
        assert gap_closed(figures) >= thresholds["transfer_gap_closed"], (pair, shown)
