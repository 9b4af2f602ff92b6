"""Every sentence of the retrieved passages, ranked; and how likely the best one answers.

Each sentence gets SENTENCE_FEATURES (rag/scoring.py) and the calibrated sentence model's logit;
the best one's ANSWER_FEATURES give, through the answer model, the probability that citing it
answers the question.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from rag.bm25 import KeywordIndex, fold
from rag.chunking import CAPTION, MIN_SENTENCE, split_sentences
from rag.embedding import Embedder
from rag.retrieval import Hit
from rag.scoring import (
    ANSWER_FEATURES,
    SENTENCE_FEATURES,
    Logistic,
    Norm,
    Terms,
    has_expected_fact,
    language,
    models,
    new_names,
    novelty,
    unknown_focus,
)
from rag.store import Store, sentence_id

MARGIN_CAP = 5.0


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, its features (SENTENCE_FEATURES) and ranking logit."""

    hit: Hit
    start: int
    end: int
    text: str
    features: np.ndarray
    logit: float

    def feature(self, name: str) -> float:
        return float(self.features[SENTENCE_FEATURES.index(name)])


class _Sentence(NamedTuple):
    """A sentence of a retrieved passage, the one before it, and the passage's rank."""

    hit: Hit
    start: int
    end: int
    text: str
    before: str
    rank: int


def rank_sentences(
    question: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    embedder: Embedder,
    store: Store,
    terms: Terms,
    ranker: Logistic | None = None,
) -> list[Candidate]:
    """Every sentence of the hits, best first; a sentence found twice (overlapping passages,
    or the same words in two articles) once, where it ranks best.

    A sentence is judged with the one before it ("window"), which often names its subject.
    """
    found: dict[str, _Sentence] = {}
    for rank, hit in enumerate(hits):
        p = hit.passage
        spans = split_sentences(p.text)
        for i, (start, end) in enumerate(spans):
            text = p.text[start:end]
            key = " ".join(fold(text).split())
            if key not in found and end - start > MIN_SENTENCE and not CAPTION.search(text):
                before = p.text[spans[i - 1][0] : spans[i - 1][1]] if i else ""
                found[key] = _Sentence(hit, p.start + start, p.start + end, text, before, rank)
    if not found:
        return []
    items = list(found.values())
    ids = [sentence_id(s.hit.passage.id, s.start - s.hit.passage.start) for s in items]
    cosines = store.sentence_matrix(ids, [s.hit.passage for s in items], embedder) @ query_vector
    top_fused = max(h.score for h in hits)
    windows = np.array([terms.coverage(f"{s.before} {s.text}") for s in items])
    passages = {h.passage.id: terms.coverage(h.passage.text) for h in hits}  # once per passage
    rows = np.array(
        [
            [
                cosine,
                cosine - cosines.max(),
                window,
                window - windows.max(),
                passages[s.hit.passage.id],
                1 / (1 + s.rank),
                s.hit.score / top_fused,
                float(has_expected_fact(question, s.text)),
                min(1.0, len(s.text.split()) / 25),
                new_names(question, s.text),
                novelty(terms, s.text),
            ]
            for s, cosine, window in zip(items, cosines, windows)
        ]
    )
    logits = (ranker or models().sentence).logit(rows)
    candidates = [
        Candidate(s.hit, s.start, s.end, s.text, row, float(logit))
        for s, row, logit in zip(items, rows, logits)
    ]
    return best_first(candidates)


def best_first(candidates: list[Candidate]) -> list[Candidate]:
    """Sentences holding the kind of fact asked for first (a name for "qui"...), then by logit."""
    return sorted(candidates, key=lambda c: (-c.feature("typed"), -c.logit))


def answer_features(
    question: str, ranked: list[Candidate], keyword: KeywordIndex, terms: Terms
) -> np.ndarray:
    """ANSWER_FEATURES of the best candidate: how it ranks, what of the question it misses."""
    best = ranked[0]
    rivals = [c.logit for c in ranked if c.hit.passage.file != best.hit.passage.file]
    margin = min(MARGIN_CAP, best.logit - max(rivals)) if rivals else MARGIN_CAP
    english = language(question) == "en"
    hits = {c.hit.passage.id: c.hit for c in ranked}.values()
    others = [h.dense for h in hits if h.passage.file != best.hit.passage.file]
    return np.array(
        [
            best.logit,
            margin,
            best.feature("cosine"),
            best.feature("window"),
            best.feature("passage"),
            best.feature("typed"),
            0.0 if english else terms.unknown,  # English words are expected to be unknown
            terms.missing_rare(best.hit.passage.text),
            float(unknown_focus(question, keyword)),
            float(english),
            best.hit.dense / max(max(h.dense for h in hits), 1e-9),
            best.hit.keyword / max(max(h.keyword for h in hits), 1e-9),
            best.hit.dense - max(others, default=0.0),
        ]
    )


def confidence(row: np.ndarray, norm: Norm | None = None) -> float:
    """The calibrated probability that the answer of ANSWER_FEATURES ``row`` is right;
    ``norm`` is the index's own feature scale (`rag calibrate`), if it has one."""
    model = models().answer
    if norm is not None:
        model = replace(models().answer_own_scale, mean=norm[0], scale=norm[1])
    return probability(row, model)


def probability(row: np.ndarray, model: Logistic) -> float:
    """What answer ``model`` gives ``row``, or 0 when the answer is not ``answerable``."""
    return float(model.probability(row[None, :])[0]) if answerable(row) else 0.0


def answerable(row: np.ndarray) -> bool:
    """False when the best sentence holds no fact of the kind asked for, or the question asks
    about something the corpus never names: then no model is asked, the answer is abstention."""
    return (
        bool(row[ANSWER_FEATURES.index("typed")])
        and not row[ANSWER_FEATURES.index("focus_unknown")]
    )
