"""Cited answers, extractive by default: the retrieved sentence that best answers the question.

Each sentence of the retrieved passages gets a score from its cosine similarity to the question,
the share of the question's (idf-weighted) words it contains, and whether it holds the kind of
fact the question asks for (a date for "quand", a number for "combien"...). Below the abstention
threshold the answer is an honest "not in the corpus".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from rag.chunking import Passage, split_sentences
from rag.embedding import Embedder
from rag.keyword import KeywordIndex, analyzers, fold, tokenize
from rag.retrieval import Hit

NOT_FOUND = {
    "fr": "Je ne trouve pas cette information dans le corpus.",
    "en": "I cannot find this information in the corpus.",
}
# Calibrated on evals/gold.jsonl; they sum to 1 so a score reads like a similarity.
WEIGHTS = {"cosine": 0.42, "window": 0.11, "passage": 0.42, "rank": 0.05}
SECOND_SENTENCE_RATIO = 0.90
_NUMBER = r"(\d+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|centaines?|milliers?|millions?|dizaines?)"
_MONTHS = "janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre"
_DAYS = "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
# Nouns that name the kind of answer ("quelle date", "quel pays"), not a topic the text must hold.
_ANSWER_TYPES = set(
    "date jour moment annee saison heure mois semaine nom type sorte genre fonction role ville pays"
    " endroit lieu adjectif mot terme format ampleur moyen chiffre nombre decennie periode maniere"
    " facon personne organisation ministere institution".split()
)
_FOCUS = re.compile(
    r"\b(?:quel|quelle|quels|quelles|s'appelle|s'appellent)\s+(?:a ete |est |sont |etait |etaient )?"
    r"(?:(?:le|la|les|l'|un|une|du|des)\s*)?([a-z-]+)"
)
_WHO = re.compile(
    r"^(?:\w+\s)?(?:qui|who|whom)\b|s'appell?e|\bwhat is the name\b|\bquel est le nom\b"
)
_NAME = re.compile(r"\b([A-ZÀ-Ý][\w-]+)\s+([A-ZÀ-Ý][\w-]+)")
_EN = set(
    "the what who whom which when where why how is are was were did does do of in to and".split()
)
_FR = set(
    "le la les des du un une qui que quoi quel quelle est sont dans sur pour avec et au aux".split()
)
_EXPECTS = [  # question pattern -> a sentence that can answer it contains this
    (re.compile(r"\bquel age\b|\bhow old\b"), re.compile(r"\b\d+\s*ans\b|\b\d+[- ]years?\b")),
    (
        re.compile(r"\bcombien de temps\b|\bhow long\b|\bquelle duree\b"),
        re.compile(
            rf"\b{_NUMBER}\s+(secondes?|minutes?|heures?|jours?|semaines?|mois|ans|annees?)\b"
        ),
    ),
    (
        re.compile(r"\bcombien\b|\bhow (many|much)\b|\bquel nombre\b"),
        re.compile(rf"\b{_NUMBER}\b(?!\s+({_MONTHS}))(?<!\b(19|20)\d\d)"),
    ),
    (
        re.compile(r"\bquand\b|\bwhen\b|\bquel jour\b|\bquelle date\b|\ben quelle annee\b"),
        re.compile(rf"\d|\b({_DAYS}|{_MONTHS}|semaine|mois|annee|ete|hiver|printemps|automne)\b"),
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
    """ "en" or "fr", from common words. Example: "Who is Jake Sullivan?" -> "en"."""
    words = re.findall(r"[a-z]+", fold(text))
    english = sum(w in _EN for w in words)
    return "en" if english > sum(w in _FR for w in words) else "fr"


def compose(
    question: str,
    hits: list[Hit],
    embedder: Embedder,
    keyword: KeywordIndex,
    threshold: float,
    query: str,
    query_vector: np.ndarray,
) -> Answer:
    """Pick the best sentence(s) among the hits and cite them, or abstain.

    ``query`` is what was searched (the question, or its rewrite) and ``query_vector`` its
    embedding.
    """
    lang = language(question)
    ranked = rank_sentences(query, query_vector, hits, embedder, keyword)
    best = ranked[0].score if ranked else 0.0
    if (
        not ranked
        or best < threshold
        or not _has_expected_fact(question, ranked[0].text)
        or _unknown_focus(question, keyword)
    ):
        return Answer(question, NOT_FOUND[lang], True, [], lang, query, hits, best)
    chosen = ranked[:1]
    if len(ranked) > 1 and ranked[1].score >= SECOND_SENTENCE_RATIO * best:
        chosen.append(ranked[1])
    sources = [
        Source(
            n,
            c.hit.passage.file,
            c.hit.passage.date,
            c.hit.passage.title,
            c.score,
            c.text,
            c.start,
            c.end,
            c.hit.passage,
        )
        for n, c in enumerate(chosen, 1)
    ]
    text = " ".join(f"{s.text} [{s.n}]" for s in sources)
    return Answer(question, text, False, sources, lang, query, hits, best)


def rank_sentences(
    query: str,
    query_vector: np.ndarray,
    hits: list[Hit],
    embedder: Embedder,
    keyword: KeywordIndex,
) -> list[Candidate]:
    """Every sentence of the hits, best first (a sentence in two overlapping passages once).

    A sentence is judged with the one before it ("window"), which often names its subject.
    """
    found: dict[tuple[str, int], tuple[Hit, int, int, str, str, int]] = {}
    for rank, hit in enumerate(hits):
        p = hit.passage
        spans = split_sentences(p.text)
        for i, (start, end) in enumerate(spans):
            key = (p.path, p.start + start)
            if key not in found and end - start > 20:
                before = p.text[spans[i - 1][0] : spans[i - 1][1]] if i else ""
                found[key] = (hit, p.start + start, p.start + end, p.text[start:end], before, rank)
    if not found:
        return []
    items = list(found.values())
    vectors = embedder.embed_sentences([item[3] for item in items])
    weights = _query_weights(query, keyword)
    candidates = []
    for (hit, start, end, text, before, rank), vector in zip(items, vectors):
        score = (
            WEIGHTS["cosine"] * float(vector @ query_vector)
            + WEIGHTS["window"] * _coverage(weights, f"{before} {text}")
            + WEIGHTS["passage"] * _coverage(weights, hit.passage.text)
            + WEIGHTS["rank"] / (1 + rank)
        )
        candidates.append(Candidate(hit, start, end, text, score))
    return sorted(candidates, key=lambda c: -c.score)


def _query_weights(query: str, keyword: KeywordIndex) -> dict[str, float]:
    """idf of each question word; words the corpus never uses weigh as much as the rarest."""
    tokens = keyword.correct(tokenize(query))
    known = [keyword.idf(t) for t in tokens]
    ceiling = max(known, default=1.0) or 1.0
    return {t: (idf or ceiling) for t, idf in zip(tokens, known)}


def _coverage(weights: dict[str, float], text: str) -> float:
    total = sum(weights.values())
    if not total:
        return 0.0
    present = set(tokenize(text))
    return sum(w for t, w in weights.items() if t in present) / total


def _unknown_focus(question: str, keyword: KeywordIndex) -> bool:
    """True when the thing asked about ("le chien de Joe Biden") is a word the corpus never uses.

    Answer-type nouns ("quelle date", "quel pays") are exempt: the text holds the answer, not them.
    """
    folded = fold(question)
    match = _FOCUS.search(folded)
    if not match:
        return False
    _, stopwords = analyzers()
    phrase = []  # "chien de Joe Biden" -> "chien": the focus ends at its first small word
    for word in re.findall(r"[a-z-]+", folded[match.start(1) :]):
        if word in stopwords:
            break
        phrase.append(word)
    stems = keyword.correct(tokenize(" ".join(phrase)))
    if not stems or stems[0] in _answer_type_stems():
        return False
    return all(keyword.idf(stem) == 0 for stem in stems)


@lru_cache(maxsize=1)
def _answer_type_stems() -> frozenset[str]:
    return frozenset(stem for word in _ANSWER_TYPES for stem in tokenize(word))


def _has_expected_fact(question: str, sentence: str) -> bool:
    """Does the sentence hold the kind of fact asked for: a name for "qui", a number for "combien"..."""
    folded_q, folded_s = fold(question), fold(sentence)
    if _WHO.search(folded_q.strip()) and not _has_new_name(folded_q, sentence):
        return False
    return all(not ask.search(folded_q) or need.search(folded_s) for ask, need in _EXPECTS)


def _has_new_name(folded_question: str, sentence: str) -> bool:
    """A proper name ("Jake Sullivan") in the sentence that the question does not already give."""
    _, stopwords = analyzers()
    for first, second in _NAME.findall(sentence):
        words = (fold(first), fold(second))
        if not any(w in stopwords for w in words) and not all(w in folded_question for w in words):
            return True
    return False
