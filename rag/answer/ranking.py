"""Every sentence of the retrieved passages, ranked, and the best one's answer features.

``gather`` is the one feature chain: answering and `rag calibrate` (through
Pipeline.evidence) and the fitting of the models (evals/fit.py) all call it. Each sentence
gets SENTENCE_FEATURES (features.py) by name and the sentence model's logit; the best one's
ANSWER_FEATURES go to the answer decision (decision.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from rag.answer.decision import Features, Logistic, models
from rag.answer.features import (
    Terms,
    has_expected_fact,
    new_names,
    novelty,
    unknown_focus,
)
from rag.index.bm25 import KeywordIndex
from rag.index.chunking import CAPTION, MIN_SENTENCE, split_sentences
from rag.index.embedding import Embedder
from rag.index.retrieval import Hit
from rag.index.sentences import sentence_id
from rag.index.store import Store
from rag.text import fold, language

MARGIN_CAP = 5.0


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, its features (SENTENCE_FEATURES) and ranking logit."""

    hit: Hit
    start: int
    end: int
    text: str
    features: Features
    logit: float
    before: str = ""  # the sentence before it in its passage (the reader's context)

    def feature(self, name: str) -> float:
        return float(self.features[name])


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
    rows = [
        {
            "cosine": float(cosine),
            "cosine_gap": float(cosine - cosines.max()),
            "window": float(window),
            "window_gap": float(window - windows.max()),
            "passage": passages[s.hit.passage.id],
            "rank": 1 / (1 + s.rank),
            "fused": s.hit.score / top_fused,
            "typed": float(has_expected_fact(question, s.text)),
            "length": min(1.0, len(s.text.split()) / 25),
            "new_names": new_names(question, s.text),
            "novelty": novelty(terms, s.text),
        }
        for s, cosine, window in zip(items, cosines, windows)
    ]
    logits = (ranker or models().sentence).logit(rows)
    candidates = [
        Candidate(s.hit, s.start, s.end, s.text, row, float(logit), s.before)
        for s, row, logit in zip(items, rows, logits)
    ]
    return best_first(candidates)


def best_first(candidates: list[Candidate]) -> list[Candidate]:
    """Sentences holding the kind of fact asked for first (a name for "qui"...), then by logit."""
    return sorted(candidates, key=lambda c: (-c.feature("typed"), -c.logit))


def answer_features(
    question: str, ranked: list[Candidate], keyword: KeywordIndex, terms: Terms
) -> dict[str, float]:
    """ANSWER_FEATURES of the best candidate: how it ranks, what of the question it misses."""
    best = ranked[0]
    english = language(question) == "en"
    hits = {c.hit.passage.id: c.hit for c in ranked}.values()
    others = [h.dense for h in hits if h.passage.file != best.hit.passage.file]
    return {
        "logit": best.logit,
        "margin": _lead(ranked, lambda c: c.logit),
        "cosine": best.feature("cosine"),
        "window": best.feature("window"),
        "passage": best.feature("passage"),
        "typed": best.feature("typed"),
        "unknown": 0.0 if english else terms.unknown,  # English words are expected to be unknown
        "missing_rare": terms.missing_rare(best.hit.passage.text),
        "focus_unknown": float(unknown_focus(question, keyword)),
        "english": float(english),
        "dense_rel": best.hit.dense / max(max(h.dense for h in hits), 1e-9),
        "bm25_rel": best.hit.keyword / max(max(h.keyword for h in hits), 1e-9),
        "dense_margin": best.hit.dense - max(others, default=0.0),
    }


@dataclass(frozen=True)
class Evidence:
    """A question's ranked sentences and what the answer decision reads of them."""

    question: str
    ranked: list[Candidate]
    terms: Terms
    keyword: KeywordIndex

    def features(self) -> dict[str, float] | None:
        """The best sentence's ANSWER_FEATURES, and READER_FEATURES when the reader read them
        (reading.py); None when no sentence was retrieved."""
        if not self.ranked:
            return None
        found = answer_features(self.question, self.ranked, self.keyword, self.terms)
        return (
            found | reader_features(self.ranked) if "reader" in self.ranked[0].features else found
        )

    def reranked(self, ranker: Logistic) -> Evidence:
        """The same sentences ranked by another sentence model (when fitting one)."""
        if not self.ranked:
            return self
        logits = ranker.logit([c.features for c in self.ranked])
        ranked = [replace(c, logit=float(x)) for c, x in zip(self.ranked, logits)]
        return replace(self, ranked=best_first(ranked))


def gather(
    question: str,
    query: str,
    vector: np.ndarray,
    hits: list[Hit],
    embedder: Embedder,
    store: Store,
    ranker: Logistic | None = None,
) -> Evidence:
    """The one feature chain from retrieved ``hits`` to ranked, featured sentences.

    ``question`` is what the user typed, ``query`` what was searched (the question, or its
    follow-up rewrite) and ``vector`` the query's embedding; ``ranker`` replaces the shipped
    sentence model (evals/fit.py fits one).
    """
    terms = Terms.of(query, store.keyword)
    ranked = rank_sentences(question, vector, hits, embedder, store, terms, ranker)
    return Evidence(question, ranked, terms, store.keyword)


def reader_features(ranked: list[Candidate]) -> dict[str, float]:
    """READER_FEATURES of the best sentence: its reader logit, and its lead over the best
    sentence of another file (see _lead)."""
    lead = _lead(ranked, lambda c: c.feature("reader"))
    return {"reader": ranked[0].feature("reader"), "reader_margin": lead}


def _lead(ranked: list[Candidate], value: Callable[[Candidate], float]) -> float:
    """How far the best sentence's ``value`` is above the best of another file's, capped at
    MARGIN_CAP. When no other file was retrieved (a filter or the corpus left one article),
    above the next sentence's: every question the models were fitted on had rival files, and
    MARGIN_CAP there made a question whose answer the filter excluded look certain.
    MARGIN_CAP for a lone sentence."""
    best = ranked[0]
    rivals = [value(c) for c in ranked if c.hit.passage.file != best.hit.passage.file]
    rivals = rivals or [value(c) for c in ranked[1:]]
    return min(MARGIN_CAP, value(best) - max(rivals)) if rivals else MARGIN_CAP
