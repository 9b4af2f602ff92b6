"""Cited answers, extractive by default: the retrieved sentence that best answers the question.

Each sentence of the retrieved passages gets a score from its cosine similarity to the question,
the share of the question's (idf-weighted) words it contains, and whether it holds the kind of
fact the question asks for (a date for "quand", a number for "combien"...). Below the abstention
threshold the answer is an honest "not in the corpus".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.chunking import Passage, split_sentences
from rag.embedding import Embedder
from rag.keyword import KeywordIndex, correct, fold, tokenize
from rag.retrieval import Hit

NOT_FOUND = {
    "fr": "Je ne trouve pas cette information dans le corpus.",
    "en": "I cannot find this information in the corpus.",
}
WEIGHTS = {"cosine": 0.5, "coverage": 0.35, "context": 0.15}
SECOND_SOURCE_RATIO = 0.97
_EN = set("the what who whom which when where why how is are was were did does do of in to and".split())
_FR = set("le la les des du un une qui que quoi quel quelle est sont dans sur pour avec et au aux".split())
_EXPECTS = [  # question pattern -> a sentence that can answer it contains this
    (re.compile(r"\bquel age\b|\bhow old\b"), re.compile(r"\b\d+\s*ans\b|\b\d+[- ]year")),
    (
        re.compile(r"\bcombien\b|\bhow (many|much)\b|\bquel nombre\b"),
        re.compile(r"\d|\b(deux|trois|quatre|cinq|dix|cent|centaines?|milliers?|millions?)\b"),
    ),
    (
        re.compile(r"\bquand\b|\bwhen\b|\bquel jour\b|\bquelle date\b|\ben quelle annee\b"),
        re.compile(
            r"\d|\b(lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|janvier|fevrier|mars|avril"
            r"|mai|juin|juillet|aout|septembre|octobre|novembre|decembre|semaine|mois|annee|ete|hiver)\b"
        ),
    ),
]


@dataclass(frozen=True)
class Source:
    """A cited source: the quoted sentence and where it sits in the file."""

    n: int
    file: str
    date: str
    title: str
    score: float
    text: str
    start: int
    end: int
    passage: Passage

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "file": self.file,
            "date": self.date,
            "title": self.title,
            "score": round(self.score, 4),
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    abstained: bool
    sources: list[Source] = field(default_factory=list)
    language: str = "fr"
    query: str = ""
    hits: list[Hit] = field(default_factory=list)
    confidence: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """The JSON contract of `rag ask --json`."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "sources": [s.as_dict() for s in self.sources],
        }


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    start: int
    end: int
    text: str
    score: float


def language(text: str) -> str:
    """"en" or "fr", from common words. Example: "Who is Jake Sullivan?" -> "en"."""
    words = re.findall(r"[a-z]+", fold(text))
    english = sum(w in _EN for w in words)
    return "en" if english > sum(w in _FR for w in words) else "fr"


def compose(
    question: str,
    hits: list[Hit],
    embedder: Embedder,
    keyword: KeywordIndex,
    threshold: float,
    query: str = "",
) -> Answer:
    """Pick the best sentence(s) among the hits and cite them, or abstain."""
    lang = language(question)
    query = query or question
    ranked = rank_sentences(query, hits, embedder, keyword)
    best = ranked[0].score if ranked else 0.0
    if not ranked or best < threshold or not _has_expected_fact(query, ranked[0].text):
        return Answer(question, NOT_FOUND[lang], True, [], lang, query, hits, best)
    chosen = [ranked[0]]
    second = next((c for c in ranked[1:] if c.hit.passage.file != ranked[0].hit.passage.file), None)
    if second and second.score >= SECOND_SOURCE_RATIO * best:
        chosen.append(second)
    sources = [
        Source(n, c.hit.passage.file, c.hit.passage.date, c.hit.passage.title, c.score, c.text,
               c.start, c.end, c.hit.passage)
        for n, c in enumerate(chosen, 1)
    ]
    text = " ".join(f"{s.text} [{s.n}]" for s in sources)
    return Answer(question, text, False, sources, lang, query, hits, best)


def rank_sentences(
    query: str, hits: list[Hit], embedder: Embedder, keyword: KeywordIndex
) -> list[Candidate]:
    """Every sentence of the hits, best first (a sentence in two overlapping passages once)."""
    spans: dict[tuple[str, int], tuple[Hit, int, int, str]] = {}
    for hit in hits:
        p = hit.passage
        for start, end in split_sentences(p.text):
            key = (p.path, p.start + start)
            if key not in spans and len(p.text[start:end]) > 20:
                spans[key] = (hit, p.start + start, p.start + end, p.text[start:end])
    if not spans:
        return []
    items = list(spans.values())
    query_vector = embedder.embed_queries([query])[0]
    vectors = embedder.embed_passages([text for *_, text in items])
    weights = _query_weights(query, keyword)
    candidates = []
    for (hit, start, end, text), vector in zip(items, vectors):
        score = (
            WEIGHTS["cosine"] * float(vector @ query_vector)
            + WEIGHTS["coverage"] * _coverage(weights, text)
            + WEIGHTS["context"] * _coverage(weights, hit.passage.text)
        )
        candidates.append(Candidate(hit, start, end, text, score))
    return sorted(candidates, key=lambda c: -c.score)


def _query_weights(query: str, keyword: KeywordIndex) -> dict[str, float]:
    """idf of each question word; words the corpus never uses weigh as much as the rarest."""
    tokens = correct(tokenize(query), keyword)
    known = [keyword.idf(t) for t in tokens]
    ceiling = max(known, default=1.0) or 1.0
    return {t: (idf or ceiling) for t, idf in zip(tokens, known)}


def _coverage(weights: dict[str, float], text: str) -> float:
    total = sum(weights.values())
    if not total:
        return 0.0
    present = set(tokenize(text))
    return sum(w for t, w in weights.items() if t in present) / total


def _has_expected_fact(question: str, sentence: str) -> bool:
    folded_q, folded_s = fold(question), fold(sentence)
    return all(not ask.search(folded_q) or need.search(folded_s) for ask, need in _EXPECTS)
