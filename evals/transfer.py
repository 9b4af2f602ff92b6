"""Does abstention hold on a corpus the models never saw? `python -m evals.transfer`

For each pair of corpora: fit the models on one corpus's dev questions only, then answer the
other corpus's test questions, first on the default scale, then on that corpus's own scale as
`rag calibrate` measures it from its dev questions (their answers unread). Needs scikit-learn.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from evals.calibrate import CORPORA, Example, calibrate, examples, rerank
from rag.answer import answer_features
from rag.config import Settings
from rag.scoring import ANSWER_FEATURES, Logistic, Models, corpus_norm

Rows = list[tuple[np.ndarray, Example, bool]]  # answer features, question, first source right


def rows(data: list[Example], models: Models) -> Rows:
    """Each question's answer features, and whether its first cited source is right."""
    out = []
    for e in data:
        if e.candidates:
            ranked = rerank(e, models.sentence)
            row = answer_features(e.question, ranked, e.pipeline.store.keyword, e.terms)
            out.append((row, e, ranked[0].hit.passage.file in e.item["sources"]))
    return out


def measure(found: Rows, model: Logistic, total: list[Example]) -> dict[str, float]:
    threshold = Settings().abstain_threshold
    gate = [ANSWER_FEATURES.index("typed"), ANSWER_FEATURES.index("focus_unknown")]
    answered = [
        (e, right)
        for row, e, right in found
        if row[gate[0]] and not row[gate[1]] and model.probability(row[None, :])[0] >= threshold
    ]
    answerable = sum(e.item["answerable"] for e in total)
    unanswerable = len(total) - answerable
    return {
        "precision_answered": sum(r for _, r in answered) / max(1, len(answered)),
        "answered": sum(e.item["answerable"] for e, _ in answered) / max(1, answerable),
        "abstention_recall": 1 - sum(not e.item["answerable"] for e, _ in answered) / unanswerable,
    }


def main() -> int:
    dev = {name: examples(name, "dev") for name in CORPORA}
    test = {name: examples(name, "test") for name in CORPORA}
    for source, target in (("seeds", "cnil-faq"), ("cnil-faq", "seeds")):
        models = calibrate(dev[source])
        own = models.answer_own_scale
        scale = np.array([row for row, _, _ in rows(dev[target], models)])
        norm = corpus_norm(scale, (own.mean, own.scale))
        found = rows(test[target], models)
        itself = calibrate(dev[target])  # the upper bound: the target's dev answers read
        for label, answers, model in (
            ("default scale", found, models.answer),
            ("own scale (rag calibrate)", found, replace(own, mean=norm[0], scale=norm[1])),
            ("fitted on the target itself", rows(test[target], itself), itself.answer),
        ):
            figures = measure(answers, model, test[target])
            shown = "  ".join(f"{k} {v:.3f}" for k, v in figures.items())
            print(f"fit {source} -> {target}/test, {label:28} {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
