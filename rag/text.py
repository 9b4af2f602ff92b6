"""The project's text normalisation: folding (case, accents, apostrophes) and the stemmed
content words that BM25, the answer features, the chat and the citation check all compare.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

_ELISION = re.compile(r"\b(?:qu|jusqu|lorsqu|puisqu|quoiqu|[ldjmnstc])['’‘`]", re.IGNORECASE)
_WORD = re.compile(r"\w+")
# words glued by scraping: "duRGPD" -> "du RGPD", "simplesà respecter" -> "simples à respecter"
_GLUED = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Ý])|(?<=[a-zà-ÿ]{3})(?=à\b)")
_ENGLISH_STOPWORDS = (
    "a an and are as at be by did do does for from has have he her his how i in is it its of on "
    "or she that the their them they this to was were what when where which who whom whose why "
    "will with would about after before did"
    # question words carry no topic in either language
    " comment quel quelle quels quelles combien pourquoi quand lequel laquelle lesquels"
).split()


def fold(text: str) -> str:
    """Lowercase, strip accents and unify apostrophes. Example: "Sécurité l’Otan" -> "securite l'otan".

    Only the runs of non-ASCII characters need work, and they repeat ("é", "’"): each is folded
    once (NFKD leaves ASCII alone and never reorders across it, so run by run is the same).
    """
    return _NON_ASCII.sub(_fold_run, text.lower().replace("`", "'"))


_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _fold_run(match: re.Match[str]) -> str:
    return _fold_chars(match.group())


@lru_cache(maxsize=4096)
def _fold_chars(chars: str) -> str:
    decomposed = unicodedata.normalize("NFKD", chars)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[’‘`´]", "'", plain)


@lru_cache(maxsize=1)
def analyzers() -> tuple[Any, frozenset[str]]:
    import Stemmer
    from bm25s.stopwords import STOPWORDS_FRENCH

    stopwords = frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *_ENGLISH_STOPWORDS))
    return Stemmer.Stemmer("french"), stopwords


def tokenize(text: str) -> list[str]:
    """Stemmed, folded content words. Example: "L'accumulation des troupes" -> ["accumul", "troup"]."""
    stemmer, stopwords = analyzers()
    unglued = _GLUED.sub(" ", text)
    words = [w for w in _WORD.findall(_ELISION.sub(" ", fold(unglued))) if w not in stopwords]
    return list(stemmer.stemWords(words))


_EN = set(
    "the what who whom which when where why how is are was were did does do of in to and".split()
)
_FR = set(
    "le la les des du un une qui que quoi quel quelle est sont dans sur pour avec et au aux".split()
)


def language(text: str) -> str:
    """ "en" or "fr", from common words. Example: "Who is Jake Sullivan?" -> "en"."""
    words = re.findall(r"[a-z]+", fold(text))
    english = sum(w in _EN for w in words)
    return "en" if english > sum(w in _FR for w in words) else "fr"
