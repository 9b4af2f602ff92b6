"""Fit rag/calibration.json on the dev splits of both corpora: `python -m evals.calibrate`.

Only `dev` questions are read; `test` questions are for `pytest evals/` to measure. Each corpus is
indexed once into evals/.cache/ (ingest is incremental, so a re-run costs nothing; sentence
vectors are stored at ingest), so a re-fit takes seconds. Needs scikit-learn (the `dev` extra).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag import evaluation
from rag.chat import rewrite
from rag.config import Settings
from rag.ingest import ingest
from rag.pipeline import Pipeline
from rag.ranking import Candidate, answer_features, best_first, rank_sentences
from rag.scoring import (
    ANSWER_FEATURES,
    CALIBRATION,
    SENTENCE_FEATURES,
    Logistic,
    Models,
    Norm,
    Terms,
    corpus_norm,
    models,
)

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "evals" / ".cache"
CORPORA = {
    "seeds": (ROOT / "seeds", ROOT / "evals" / "gold.jsonl"),
    "cnil-faq": (
        ROOT / "evals" / "cnil-faq" / "corpus",
        ROOT / "evals" / "cnil-faq" / "questions.jsonl",
    ),
}
UNRANKED = Logistic(
    SENTENCE_FEATURES,
    np.zeros(len(SENTENCE_FEATURES)),
    0.0,
    np.zeros(len(SENTENCE_FEATURES)),
    np.ones(len(SENTENCE_FEATURES)),
)


@dataclass
class Example:
    """One dev question: its candidates (features only) and what a right answer is."""

    corpus: str
    item: dict[str, Any]
    question: str
    candidates: list[Candidate]
    terms: Terms
    pipeline: Pipeline

    def right(self, candidate: Candidate) -> bool:
        item = self.item
        return (
            item["answerable"]
            and candidate.hit.passage.file in item["sources"]
            and evaluation.contains_fact(candidate.text, item["answers"], [candidate.text])
        )


def open_corpus(name: str) -> Pipeline:
    corpus, _ = CORPORA[name]
    settings = Settings.from_env(index_dir=CACHE / name, chroma_url="")
    ingest([corpus], settings)
    return Pipeline.load(settings)


def examples(name: str, split: str, pipeline: Pipeline | None = None) -> list[Example]:
    """The ``split`` questions of corpus ``name``, asked of ``pipeline`` (default: its cache)."""
    pipeline = pipeline or open_corpus(name)
    out = []
    for item in evaluation.load_gold(CORPORA[name][1], split):
        query = rewrite(item["question"], item["history"])
        vector = pipeline.embedder.embed_queries([query])[0]
        hits = pipeline.retrieve(query, vector=vector)
        terms = Terms.of(query, pipeline.store.keyword)
        ranked = rank_sentences(
            item["question"], vector, hits, pipeline.embedder, pipeline.store, terms, UNRANKED
        )
        out.append(Example(name, item, item["question"], ranked, terms, pipeline))
    return out


def fit(
    rows: np.ndarray,
    labels: np.ndarray,
    features: tuple[str, ...],
    weights: np.ndarray | None = None,
    norms: Norm | None = None,
) -> Logistic:
    """A logistic model over ``rows``, each standardised with its row of ``norms`` (default:
    the mean and scale of all rows, which the model keeps for rows of unknown origin)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = pooled = _pooled(rows)
    by_row = norms or pooled
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((rows - by_row[0]) / by_row[1], labels, sample_weight=weights)
    return Logistic(features, model.coef_[0], float(model.intercept_[0]), mean, scale)


def _pooled(rows: np.ndarray) -> Norm:
    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def rerank(example: Example, ranker: Logistic) -> list[Candidate]:
    logits = ranker.logit(np.array([c.features for c in example.candidates]))
    return best_first([replace(c, logit=float(x)) for c, x in zip(example.candidates, logits)])


def best_answer(example: Example, ranker: Logistic) -> tuple[np.ndarray, Candidate]:
    """The ANSWER_FEATURES of ``example``'s best sentence under ``ranker``, and that sentence."""
    ranked = rerank(example, ranker)
    keyword = example.pipeline.store.keyword
    return answer_features(example.question, ranked, keyword, example.terms), ranked[0]


def calibrate(data: list[Example], shipped: Models | None = None) -> Models:
    """The sentence ranker (is this sentence a right answer?), then the answer model (is the
    ranker's best sentence a right answer?) on the pooled scale and on each corpus's own.
    With ``shipped``, its ranker and pooled answer model are kept: only the own-scale one is fit."""
    usable = [e for e in data if e.candidates]
    ranker = shipped.sentence if shipped else _ranker(usable)
    answer_rows, answer_labels = [], []
    for e in usable:
        row, best = best_answer(e, ranker)
        answer_rows.append(row)
        answer_labels.append(e.right(best))
    rows, labels = np.array(answer_rows), np.array(answer_labels)
    own = fit(rows, labels, ANSWER_FEATURES, norms=by_corpus(usable, rows))
    return Models(ranker, shipped.answer if shipped else fit(rows, labels, ANSWER_FEATURES), own)


def _ranker(usable: list[Example]) -> Logistic:
    rows, labels, weights = [], [], []
    for e in usable:
        right = [e.right(c) for c in e.candidates]
        if not any(right):
            continue  # nothing to rank above the rest
        rows += [c.features for c in e.candidates]
        labels += right
        # each question weighs the same, its right and its wrong sentences half each: a FAQ
        # answer of ten right sentences does not outweigh a news question with one
        weights += [0.5 / (right.count(r)) for r in right]
    return fit(np.array(rows), np.array(labels), SENTENCE_FEATURES, np.array(weights))


def by_corpus(data: list[Example], rows: np.ndarray) -> Norm:
    """Each row's corpus_norm: the model learns what a feature means relative to its corpus,
    as `rag calibrate` lets it read one on a new corpus."""
    pooled = _pooled(rows)
    corpora = np.array([e.corpus for e in data])
    mean, scale = np.empty_like(rows), np.empty_like(rows)
    for name in set(corpora):
        mine = corpora == name
        mean[mine], scale[mine] = corpus_norm(rows[mine], pooled)
    return mean, scale


def main(argv: list[str]) -> int:
    """``--own-scale-only`` keeps the shipped ranker and default answer model, so answers on an
    index without `rag calibrate` do not move."""
    data = [e for name in CORPORA for e in examples(name, "dev")]
    fitted = calibrate(data, models() if "--own-scale-only" in argv else None)
    payload = {
        "fitted_on": {name: sum(e.corpus == name for e in data) for name in CORPORA},
        **{name: logistic.as_dict() for name, logistic in fitted._asdict().items()},
    }
    CALIBRATION.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    for name, logistic in fitted._asdict().items():
        weights = ", ".join(f"{f} {w:+.2f}" for f, w in zip(logistic.features, logistic.weights))
        print(f"{name}: {weights}", file=sys.stderr)
    print(f"wrote {CALIBRATION}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
