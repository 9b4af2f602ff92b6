"""Answer features that mean the same on any corpus, and the text tests behind them.

Every sentence of the retrieved passages gets SENTENCE_FEATURES, all relative to the question
(the share of the question's terms it holds, its similarity next to the best one's...), never raw
corpus statistics; the best one's ANSWER_FEATURES feed the answer decision (decision.py).
ranking.py computes both, by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.index.bm25 import KeywordIndex
from rag.text import analyzers, fold, tokenize

SENTENCE_FEATURES = (
    "cosine",
    "cosine_gap",
    "window",
    "window_gap",
    "passage",
    "rank",
    "fused",
    "typed",
    "length",
    "new_names",
    "novelty",
)
# with RAG_READER=on: the re-ranking of the reader's sentences, and the answer's extra features
READER_RANK_FEATURES = ("ranker", "reader", "typed")
READER_FEATURES = ("reader", "reader_margin")
ANSWER_FEATURES = (
    "logit",
    "margin",
    "cosine",
    "window",
    "passage",
    "typed",
    "unknown",
    "missing_rare",
    "focus_unknown",
    "english",
    "dense_rel",
    "bm25_rel",
    "dense_margin",
)
_NUMBER = r"(\d+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt|trente|cent|centaines?|milliers?|millions?|dizaines?)"
MONTHS = "janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre"
DAYS = "lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche"
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
_WHERE = re.compile(
    r"^(?:d')?ou\b|\bd'ou\b|\bou (?:se|est|sont|a|ont|va|vont|etait|aura|doit)\b|\bwhere\b"
    r"|\b(?:quel|quelle|which) (?:ville|pays|lieu|endroit|city|country|place)\b"
)
_PLACE = re.compile(
    r"\b(?:à|au|aux|en|dans|de|du|d'|d’|depuis|vers|près de|in|at|from)\s*[A-ZÀ-Ý]"
    r"|\bdans (?:la|le|les|l'|l’|un|une|son|sa|ses) ?\w"
)
_NEW = re.compile(r"\b[A-ZÀ-Ý][\w-]{2,}|\b\d[\d,.]*\b")
_NAME = re.compile(r"\b([A-ZÀ-Ý][\w-]+)\s+([A-ZÀ-Ý][\w-]+)")
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
        re.compile(rf"\b{_NUMBER}\b(?!\s+({MONTHS}))(?<!\b(19|20)\d\d)"),
    ),
    (
        re.compile(r"\bquand\b|\bwhen\b|\bquel jour\b|\bquelle date\b|\ben quelle annee\b"),
        re.compile(rf"\d|\b({DAYS}|{MONTHS}|semaine|mois|annee|ete|hiver|printemps|automne)\b"),
    ),
]


@dataclass(frozen=True)
class Terms:
    """The question's stemmed terms: idf of those the corpus knows, and the share it does not."""

    idf: dict[str, float]
    unknown: float

    @classmethod
    def of(cls, query: str, keyword: KeywordIndex) -> Terms:
        """Example: "Quel est le chien de Biden ?" -> idf {"biden": 2.1}, unknown 0.5."""
        tokens = keyword.correct(tokenize(query))
        idf = {t: keyword.idf(t) for t in tokens}
        known = {t: w for t, w in idf.items() if w > 0}
        ceiling = max(known.values(), default=1.0)  # an unknown word weighs as the rarest
        unknown = ceiling * (len(idf) - len(known))
        total = sum(known.values()) + unknown
        return cls(known, unknown / total if total else 0.0)

    def coverage(self, text: str) -> float:
        """Share of the known terms' idf that ``text`` holds (1.0 when no term is known)."""
        total = sum(self.idf.values())
        if not total:
            return 1.0
        present = set(tokenize(text))
        return sum(w for t, w in self.idf.items() if t in present) / total

    def missing_rare(self, text: str) -> float:
        """The rarest known term ``text`` lacks, as a share of the rarest term's idf (0: none)."""
        if not self.idf:
            return 0.0
        present = set(tokenize(text))
        missing = [w for t, w in self.idf.items() if t not in present]
        return max(missing, default=0.0) / max(self.idf.values())


def has_expected_fact(question: str, sentence: str) -> bool:
    """Does the sentence hold the kind of fact asked for: a name for "qui", a place for "où"..."""
    folded_q, folded_s = fold(question).strip(), fold(sentence)
    if _WHO.search(folded_q) and not _has_new_name(folded_q, sentence):
        return False
    if _WHERE.search(folded_q) and not _PLACE.search(sentence):
        return False
    return all(not ask.search(folded_q) or need.search(folded_s) for ask, need in _EXPECTS)


def new_names(question: str, sentence: str) -> float:
    """Proper names and numbers of the sentence that the question lacks (answers bring some),
    as a share of two. Example: ("Quels pays ?", "La Finlande et l'Autriche") -> 1.0"""
    folded_q = fold(question)
    found = {fold(w) for w in _NEW.findall(sentence[1:])} - set(folded_q.split())
    return min(1.0, len([w for w in found if w not in folded_q]) / 2)


def novelty(terms: Terms, sentence: str) -> float:
    """Share of the sentence's content words that the question does not use."""
    words = tokenize(sentence)
    return sum(w not in terms.idf for w in words) / len(words) if words else 0.0


def unknown_focus(question: str, keyword: KeywordIndex) -> bool:
    """True when the thing asked about ("le chien de Joe Biden") is a word the corpus never uses.

    Answer-type nouns ("quelle date", "quel pays") are exempt: the text holds the answer, not them.
    """
    folded = fold(question)
    match = _FOCUS.search(folded)
    if not match:
        return False
    _, stopwords = analyzers()
    words = re.findall(r"[a-z-]+", folded[match.start(1) :].replace("'", " "))
    types = _answer_type_stems()
    # "le nom du chien de Joe Biden" -> "chien": past an answer-type noun and its "de", the focus
    # ends at its first small word
    if (
        words
        and set(tokenize(words[0])) <= types
        and words[1:2] in (["de"], ["du"], ["des"], ["d"])
    ):
        words = words[2:]
    phrase = []
    for word in words:
        if word in stopwords:
            break
        phrase.append(word)
    stems = keyword.correct(tokenize(" ".join(phrase)))
    if not stems or stems[0] in types:
        return False
    return all(keyword.idf(stem) == 0 for stem in stems)


@lru_cache(maxsize=1)
def _answer_type_stems() -> frozenset[str]:
    return frozenset(stem for word in _ANSWER_TYPES for stem in tokenize(word))


def _has_new_name(folded_question: str, sentence: str) -> bool:
    """A proper name ("Jake Sullivan") in the sentence that the question does not already give."""
    _, stopwords = analyzers()
    for first, second in _NAME.findall(sentence):
        words = (fold(first), fold(second))
        if not any(w in stopwords for w in words) and not all(w in folded_question for w in words):
            return True
    return False
