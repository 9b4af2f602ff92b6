"""Does abstention hold on a corpus the models never saw? `python -m evals.transfer`

For each pair of corpora: fit the models on one corpus's dev questions only, then answer the
other corpus's test questions, first on the default scale, then on that corpus's own scale as
`rag calibrate` measures it from its dev questions (their answers unread), and last with models
fitted on the target's own dev answers: the bound the first two are measured against.
`pytest evals/` gates how much of the gap to that bound the own scale closes. Needs scikit-learn.
"""

from __future__ import annotations

import sys

from evals.fit import CORPORA, Example, best_answer, calibrate, examples
from rag.answer.decision import Features, Logistic, Models, corpus_scale, gate
from rag.config import Settings

Rows = list[tuple[Features, Example, bool]]  # answer features, question, first source right
LABELS = ("default scale", "own scale (rag calibrate)", "fitted on the target itself")


def transfer(
    dev: dict[str, list[Example]], test: dict[str, list[Example]]
) -> dict[str, dict[str, dict[str, float]]]:
    """ "source -> target" -> one of LABELS -> figures on the target's test split."""
    out = {}
    for source, target in (("seeds", "cnil-faq"), ("cnil-faq", "seeds")):
        models = calibrate(dev[source])
        scale = corpus_scale(
            [row for row, _, _ in rows(dev[target], models)], models.default_scale()
        )
        found = rows(test[target], models)
        itself = calibrate(dev[target])
        cases = (
            (found, models.answer),
            (found, models.answer_own_scale.rescaled(scale)),
            (rows(test[target], itself), itself.answer),
        )
        out[f"{source} -> {target}"] = {
            label: measure(answers, model, test[target])
            for label, (answers, model) in zip(LABELS, cases)
        }
    return out


def rows(data: list[Example], models: Models) -> Rows:
    out = []
    for e in data:
        if e.evidence.ranked:
            row, best = best_answer(e, models.sentence)
            out.append((row, e, best.hit.passage.file in e.item["sources"]))
    return out


def measure(found: Rows, model: Logistic, total: list[Example]) -> dict[str, float]:
    threshold = Settings().abstain_threshold
    answered = [(e, right) for row, e, right in found if model_says(row, model) >= threshold]
    with_answer = sum(e.item["answerable"] for e in total)
    unanswerable = len(total) - with_answer
    return {
        "precision_answered": sum(r for _, r in answered) / max(1, len(answered)),
        "answered": sum(e.item["answerable"] for e, _ in answered) / max(1, with_answer),
        "abstention_recall": 1 - sum(not e.item["answerable"] for e, _ in answered) / unanswerable,
    }


def model_says(row: Features, model: Logistic) -> float:
    """What ``model`` gives ``row``, behind the decision's gate (0 when the gate closes)."""
    return 0.0 if gate(row) else float(model.probability([row])[0])


def gap_closed(figures: dict[str, dict[str, float]]) -> float:
    """The share of the default scale's coverage gap to the bound that the own scale closes."""
    default, own, bound = (figures[label]["answered"] for label in LABELS)
    return (abs(default - bound) - abs(own - bound)) / max(abs(default - bound), 1e-9)


def main() -> int:
    dev = {name: examples(name, "dev") for name in CORPORA}
    test = {name: examples(name, "test") for name in CORPORA}
    for pair, by_label in transfer(dev, test).items():
        for label, figures in by_label.items():
            shown = "  ".join(f"{k} {v:.3f}" for k, v in figures.items())
            print(f"fit {pair}/test, {label:28} {shown}")
        print(f"fit {pair}: the own scale closes {gap_closed(by_label):.0%} of the coverage gap")
    return 0


if __name__ == "__main__":
    sys.exit(main())
