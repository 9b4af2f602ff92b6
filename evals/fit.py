"""Fit rag/answer/model.json on the dev splits of both corpora: `python -m evals.fit`.

Only `dev` questions are read; `test` questions are for `pytest evals/` to measure. Each corpus is
indexed once into evals/.cache/ (ingest is incremental, so a re-run costs nothing; sentence
vectors are stored at ingest), so a re-fit takes seconds. Features come from the same chain that
answers (rag.answer.ranking.gather), labels from the same definition of right that measures
(rag.measure.evaluation.is_right). Needs scikit-learn (the `dev` extra).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.chat import rewrite
from rag.answer.decision import (
    MODEL_FILE,
    Features,
    Logistic,
    Models,
    Scale,
    corpus_scale,
    matrix,
    models,
)
from rag.answer.features import (
    ANSWER_FEATURES,
    READER_FEATURES,
    READER_RANK_FEATURES,
    SENTENCE_FEATURES,
)
from rag.answer.ranking import Candidate, Evidence, gather
from rag.answer.reading import Reader, read
from rag.config import Settings
from rag.index.embedding import sentence_kind
from rag.index.ingest import ingest
from rag.measure import evaluation
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "evals" / ".cache"
CORPORA = {
    "seeds": (ROOT / "seeds", ROOT / "evals" / "gold.jsonl"),
    "cnil-faq": (
        ROOT / "evals" / "cnil-faq" / "corpus",
        ROOT / "evals" / "cnil-faq" / "questions.jsonl",
    ),
}
N = len(SENTENCE_FEATURES)
UNRANKED = Logistic(SENTENCE_FEATURES, np.zeros(N), 0.0, np.zeros(N), np.ones(N))
R = len(READER_RANK_FEATURES)
UNREAD = Logistic(READER_RANK_FEATURES, np.zeros(R), 0.0, np.zeros(R), np.ones(R))
C, MAX_ITER = 1.0, 2000  # sklearn's LogisticRegression; recorded in each model's provenance


@dataclass
class Example:
    """One dev question: its sentences (features only, unranked) and what a right answer is."""

    corpus: str
    item: dict[str, Any]
    evidence: Evidence

    def right(self, candidate: Candidate) -> bool:
        return evaluation.is_right(
            self.item, candidate.hit.passage.file, candidate.text, [candidate.text]
        )


def open_corpus(name: str) -> Pipeline:
    corpus, _ = CORPORA[name]
    settings = Settings.from_env(index_dir=CACHE / name, chroma_url="")
    ingest([corpus], settings)
    return Pipeline.load(settings)


def examples(
    name: str, split: str, pipeline: Pipeline | None = None, reader: Reader | None = None
) -> list[Example]:
    """The ``split`` questions of corpus ``name``, asked of ``pipeline`` (default: its cache).
    With ``reader``: the shipped ranker's top sentences, read (features only, unranked)."""
    pipeline = pipeline or open_corpus(name)
    out = []
    for item in evaluation.load_gold(CORPORA[name][1], split):
        query = rewrite(item["question"], item["history"])
        vector = pipeline.embedder.embed_queries([query])[0]
        hits = pipeline.retrieve(query, vector=vector)
        store, ranker = pipeline.store, None if reader else UNRANKED
        evidence = gather(item["question"], query, vector, hits, pipeline.embedder, store, ranker)
        if reader:
            evidence = read(evidence, reader, UNREAD)
        out.append(Example(name, item, evidence))
    return out


def fit(
    rows: Sequence[Features],
    labels: np.ndarray,
    features: tuple[str, ...],
    weights: np.ndarray | None = None,
    norms: tuple[np.ndarray, np.ndarray] | None = None,
) -> Logistic:
    """A logistic model over ``rows``, each standardised with its row of ``norms`` (default:
    the mean and scale of all rows, which the model keeps for rows of unknown origin)."""
    from sklearn.linear_model import LogisticRegression

    table = matrix(rows, features)
    mean, scale = pooled = _pooled(table)
    by_row = norms or pooled
    model = LogisticRegression(C=C, max_iter=MAX_ITER)
    model.fit((table - by_row[0]) / by_row[1], labels, sample_weight=weights)
    return Logistic(features, model.coef_[0], float(model.intercept_[0]), mean, scale)


def _pooled(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = table.mean(axis=0), table.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def best_answer(example: Example, ranker: Logistic) -> tuple[Features, Candidate]:
    """The answer features of ``example``'s best sentence under ``ranker``, and that sentence."""
    evidence = example.evidence.reranked(ranker)
    return evidence.features() or {}, evidence.ranked[0]


def calibrate_reader(data: list[Example], shipped: Models) -> Models:
    """The reader's sub-models (``reader_rank``, ``answer_reader`` and its own-scale twin) on
    examples read by the reader; ``shipped``'s other models are kept."""
    usable = [e for e in data if e.evidence.ranked]
    ranker = fit_ranker(usable, READER_RANK_FEATURES)
    rows, labels = [], []
    for e in usable:
        row, best = best_answer(e, ranker)
        rows.append(row)
        labels.append(e.right(best))
    names = ANSWER_FEATURES + READER_FEATURES
    own = fit(rows, np.array(labels), names, norms=by_corpus(usable, rows, names))
    pooled = fit(rows, np.array(labels), names)
    return shipped._replace(reader_rank=ranker, answer_reader=pooled, answer_reader_own_scale=own)


def calibrate(data: list[Example], shipped: Models | None = None) -> Models:
    """The sentence ranker (is this sentence a right answer?), then the answer model (is the
    ranker's best sentence a right answer?) on the pooled scale and on each corpus's own.
    With ``shipped``, its ranker and pooled answer model are kept: only the own-scale one is fit."""
    usable = [e for e in data if e.evidence.ranked]
    ranker = shipped.sentence if shipped else fit_ranker(usable)
    rows, labels = [], []
    for e in usable:
        row, best = best_answer(e, ranker)
        rows.append(row)
        labels.append(e.right(best))
    own = fit(rows, np.array(labels), ANSWER_FEATURES, norms=by_corpus(usable, rows))
    if shipped:
        return shipped._replace(answer_own_scale=own)
    return Models(ranker, fit(rows, np.array(labels), ANSWER_FEATURES), own)


def fit_ranker(usable: list[Example], names: tuple[str, ...] = SENTENCE_FEATURES) -> Logistic:
    rows: list[Features] = []
    labels, weights = [], []
    for e in usable:
        right = [e.right(c) for c in e.evidence.ranked]
        if not any(right):
            continue  # nothing to rank above the rest
        rows += [c.features for c in e.evidence.ranked]
        labels += right
        # each question weighs the same, its right and its wrong sentences half each: a FAQ
        # answer of ten right sentences does not outweigh a news question with one
        weights += [0.5 / (right.count(r)) for r in right]
    return fit(rows, np.array(labels), names, np.array(weights))


def by_corpus(
    data: list[Example], rows: list[Features], names: tuple[str, ...] = ANSWER_FEATURES
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's corpus_scale: the model learns what a feature means relative to its corpus,
    as `rag calibrate` lets it read one on a new corpus."""
    table = matrix(rows, names)
    mean, scale = _pooled(table)
    default = Scale(dict(zip(names, mean)), dict(zip(names, scale)))
    corpora = np.array([e.corpus for e in data])
    mean, scale = np.empty_like(table), np.empty_like(table)
    for name in set(corpora):
        mine = corpora == name
        own = corpus_scale([r for r, m in zip(rows, mine) if m], default)
        mean[mine] = [own.mean[f] for f in names]
        scale[mine] = [own.scale[f] for f in names]
    return mean, scale


def provenance(data: list[Example], refit: str) -> dict[str, Any]:
    """What made a model: its data, the index it read, the fitting settings, code and date."""
    import sklearn

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    settings = Settings.from_env()
    return {
        "fitted": refit,
        "questions": {f"{n}/dev": sum(e.corpus == n for e in data) for n in CORPORA},
        "label": "rag.measure.evaluation.is_right of the sentence",
        "embed_model": settings.embed_model,
        "sentence_vectors": sentence_kind(settings.embed_model),
        "settings": {
            "C": C,
            "max_iter": MAX_ITER,
            "top_k": settings.top_k,
            "candidates": settings.candidates,
        },
        "sklearn": sklearn.__version__,
        "commit": commit or "unknown",
        "date": datetime.date.today().isoformat(),
    }


def main(argv: list[str]) -> int:
    """Refit every model without the reader's (then the reader's are dropped: they were fitted
    over the old ranker); ``--own-scale-only`` only the own-scale answer model, so answers on an
    index without `rag calibrate` do not move; ``--reader`` only the reader's models (RAG_READER=on),
    with the shipped reader weights. Models not refit keep their provenance."""
    shipped = models()
    if "--reader" in argv:
        from rag.reader.model import Reader as Trained
        from rag.reader.model import card

        reader = Trained.load()
        data = [e for name in CORPORA for e in examples(name, "dev", reader=reader)]
        fitted = calibrate_reader(data, shipped)
        refit = {"reader_rank", "answer_reader", "answer_reader_own_scale"}
        extra = {"reader": {k: card()[k] for k in ("held_out", "commit", "date", "trained")}}
    else:
        data = [e for name in CORPORA for e in examples(name, "dev")]
        own_only = "--own-scale-only" in argv
        fitted = calibrate(data, shipped if own_only else None)
        refit = {"answer_own_scale"} if own_only else {"sentence", "answer", "answer_own_scale"}
        extra = {}
    made = provenance(data, "python -m evals.fit " + " ".join(argv)) | extra
    payload = {}
    for name, logistic in fitted._asdict().items():
        if logistic is None:
            continue
        kept = name not in refit
        payload[name] = logistic.as_dict() | {"provenance": logistic.provenance if kept else made}
        weights = ", ".join(f"{f} {w:+.2f}" for f, w in zip(logistic.features, logistic.weights))
        print(f"{name}{' (kept)' if kept else ''}: {weights}", file=sys.stderr)
    MODEL_FILE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {MODEL_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
