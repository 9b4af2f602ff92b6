"""Cited answers, extractive: the retrieved sentence that best answers the question, or abstention.

The best-ranked sentence (ranking.py) is quoted with its source, as the answer decision
(decision.py) says: plainly, marked "à vérifier", or not at all (an honest "not in the corpus").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from rag.answer.citations import INSTRUCTION, Sentence
from rag.answer.decision import Decision, Scale, Thresholds, decide
from rag.answer.ranking import Candidate, Evidence
from rag.index.chunking import CAPTION, Passage, crosses_paragraphs, split_sentences
from rag.text import fold, language, tokenize

NOT_FOUND = {
    "fr": "Je ne trouve pas cette information dans le corpus.",
    "en": "I cannot find this information in the corpus.",
}
UNSURE = {
    "fr": "À vérifier : confiance {:.0f} %, lisez la source citée.",
    "en": "Unsure: confidence {:.0f}%, read the cited source.",
}
INDEXING = {
    "fr": "Indexation en cours ({} passages ont leurs vecteurs) : les autres ne sont trouvés "
    "que par mots-clés.",
    "en": "Indexing ({} passages embedded): the others are found by keyword only.",
}
SECOND_SENTENCE_MARGIN = 1.0  # in logits: a second sentence must rank nearly as well as the first
MAX_ANSWER_CHARS = 450  # a first sentence and the one after it, together
_FACT = re.compile(r"\b(?:[A-ZÀ-Ý][\w-]+|\d[\d,.]*)")


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
    span: tuple[int, int] | None = None  # the answer phrase in ``text`` (the reader's span head)

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
    confidence: float = 0.0  # the calibrated probability that the answer is right
    withheld: list[Source] = field(default_factory=list)  # what an abstention would have cited
    mode: str = "extractive"  # or "llm": written by the LLM, citations checked
    llm: str = ""  # the LLM asked, even when its answer was not kept
    sentences: list[Sentence] = field(default_factory=list)  # mode "llm"
    note: str = ""  # why the LLM's answer was not kept, or could not be had
    unsure: bool = False  # answered below RAG_SURE_THRESHOLD: the reader should check the source
    decision: Decision | None = None  # the answer decision behind it (decision.py)
    indexing: str = ""  # while an ingest stores vectors: "12,400 / 50,000" passages have theirs

    def warning(self) -> str:
        """What to tell the reader of an unsure answer, or of one made while vectors are still
        being stored ("" for the others)."""
        unsure = UNSURE[self.language].format(100 * self.confidence) if self.unsure else ""
        indexing = INDEXING[self.language].format(self.indexing) if self.indexing else ""
        return " ".join(filter(None, (unsure, indexing)))

    def phrase(self) -> tuple[int, int] | None:
        """Where the answer phrase sits in ``text``: the first source's span, which ``text``
        opens with (extractive answers only)."""
        if self.abstained or self.mode != "extractive" or not self.sources:
            return None
        return self.sources[0].span

    def as_dict(self) -> dict[str, object]:
        """The JSON contract of `rag ask --json`."""
        sentences = self.sentences or [Sentence(s.text, (s.n,)) for s in self.sources]
        return {
            "question": self.question,
            "query": self.query or self.question,  # what was searched: a follow-up's rewrite
            "answer": self.text,
            "abstained": self.abstained,
            "confidence": round(self.confidence, 4),
            "unsure": self.unsure,
            "sources": [s.as_dict() for s in self.sources],
            "mode": self.mode,
            "llm": self.llm or None,
            "sentences": [s.as_dict() for s in sentences],
            "note": self.note,
            "indexing": self.indexing or None,
            "span": list(span) if (span := self.phrase()) else None,
        }


def compose(
    evidence: Evidence, query: str, thresholds: Thresholds, scale: Scale | None = None
) -> Answer:
    """Cite the best sentence(s) of ``evidence`` (Pipeline.evidence), or abstain.

    ``query`` is what was searched (the question, or its rewrite); ``scale`` the index's own
    answer-feature scale, if `rag calibrate` set one.
    """
    question = evidence.question
    lang = language(question)
    decision = decide(evidence.features(), thresholds, scale)
    ranked = evidence.ranked
    first = _with_next(question, ranked[0]) if ranked else None
    chosen = [first, *_second(question, first, ranked[1:])] if first else []
    sources = [
        Source(
            n,
            c.hit.passage.file,
            c.hit.passage.date,
            c.hit.passage.title,
            _sigmoid(c.logit),
            c.text,
            c.start,
            c.end,
            c.hit.passage,
        )
        for n, c in enumerate(chosen, 1)
    ]
    score = decision.probability
    if decision.abstain:
        return Answer(
            question, NOT_FOUND[lang], True, [], lang, query, score, sources, decision=decision
        )
    text = " ".join(f"{s.text} [{s.n}]" for s in sources)
    return Answer(
        question,
        text,
        False,
        sources,
        lang,
        query,
        score,
        unsure=decision.unsure,
        decision=decision,
    )


def _second(question: str, first: Candidate, rest: list[Candidate]) -> list[Candidate]:
    """A second sentence when it ranks nearly as well and adds a fact (a name, a number) that the
    first answer and the question lack; from another passage, so each passage is cited once."""
    for c in rest:
        if c.logit < first.logit - SECOND_SENTENCE_MARGIN:
            break
        if c.hit.passage.id == first.hit.passage.id:
            continue
        new = _new_facts(f"{first.text} {question}", c.text)
        return [c] if new and c.feature("typed") else []
    return []


def _with_next(question: str, first: Candidate) -> Candidate:
    """``first`` and the sentence after it, when that one holds a name or a number that the
    question and ``first`` lack: a sentence naming the topic is often followed by the fact
    ("Gorbatchev a salué un possible sommet." "« C'est le seul moyen... », cité par Interfax.")."""
    p = first.hit.passage
    spans = split_sentences(p.text)
    at = first.start - p.start
    after = [following for here, following in zip(spans, spans[1:]) if here[0] == at]
    if (
        not after
        or after[0][1] - at > MAX_ANSWER_CHARS
        or crosses_paragraphs(p.text, at, after[0][0])  # a paragraph break ends the answer too
    ):
        return first
    following = p.text[after[0][0] : after[0][1]]
    if (
        INSTRUCTION.search(fold(following))  # a sentence that talks to a model: never quoted
        or CAPTION.search(following)
        or not _new_facts(f"{first.text} {question}", following)
    ):
        return first
    return replace(first, end=p.start + after[0][1], text=p.text[at : after[0][1]])


def _new_facts(known_text: str, sentence: str) -> list[str]:
    """Names and numbers of ``sentence`` that ``known_text`` does not hold (its first word is
    capitalised as any first word is: not taken for a name)."""
    known = set(tokenize(known_text))
    rest = sentence.split(maxsplit=1)[1:]
    return [f for f in _FACT.findall(" ".join(rest)) if not set(tokenize(f)) <= known]


def _sigmoid(x: float) -> float:
    return float(1 / (1 + np.exp(-x)))


def drain(items: Iterable[str | Answer], on_piece: Callable[[str], None] | None = None) -> Answer:
    """The Answer that ends a stream (Pipeline.stream), each draft piece before it handed to
    ``on_piece``. Example: drain(["Il ", "part."] + [answer]) -> answer"""
    for item in items:
        if isinstance(item, Answer):
            return item
        if on_piece:
            on_piece(item)
    raise ValueError("the stream ended without an Answer")


def stream_prefixes(text: str, steps: int = 12) -> Iterator[str]:
    """Ever longer prefixes of ``text``, cut between words, the last one the whole text: how an
    extractive answer streams in the chat and the API.

    Example: ("a b c d", steps=2) -> "a b", "a b c d"
    """
    words = text.split(" ")
    size = max(1, -(-len(words) // max(1, steps)))
    for end in range(size, len(words) + size, size):
        yield " ".join(words[: min(end, len(words))])
