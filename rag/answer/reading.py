"""The trained reader (rag/reader) in the answer decision, when RAG_READER=on.

The sentence ranker's top READ sentences are read against the question; each gets a ``reader``
logit, and a second sentence model (``reader_rank`` in model.json: the ranker's logit, the
reader's, and whether the sentence holds the kind of fact asked for) re-ranks them. The best
one's answer features then include READER_FEATURES, which the answer model fitted with the
reader (``answer_reader``) reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from rag.answer.decision import Logistic, models
from rag.answer.extractive import Answer
from rag.answer.ranking import Evidence, best_first
from rag.config import Settings

READ = 10  # sentences the reader reads per question (its cost grows with them)


class Reader(Protocol):
    """What the answer layer needs of rag.reader.model.Reader."""

    def logits(self, question: str, candidates: Sequence[tuple[str, str]]) -> Sequence[float]: ...

    def answer_span(self, question: str, sentence: str, before: str) -> tuple[int, int] | None: ...


def read(evidence: Evidence, reader: Reader, reranker: Logistic | None = None) -> Evidence:
    """``evidence`` reduced to its top READ sentences, read and re-ranked (by ``reranker``,
    default the shipped ``reader_rank``; evals/fit.py passes its own while fitting)."""
    top = evidence.ranked[:READ]
    if not top:
        return evidence
    logits = reader.logits(evidence.question, [(c.text, c.before) for c in top])
    read_ = [
        replace(c, features={**c.features, "ranker": c.logit, "reader": float(x)})
        for c, x in zip(top, logits)
    ]
    reranker = reranker or models().reader_rank
    if reranker is not None:
        new = reranker.logit([c.features for c in read_])
        read_ = [replace(c, logit=float(x)) for c, x in zip(read_, new)]
    return replace(evidence, ranked=best_first(read_))


def mark_phrase(answer: Answer, evidence: Evidence, reader: Reader) -> Answer:
    """``answer`` with the phrase of its first sentence that answers the question (the reader's
    span head), when it answers."""
    if answer.abstained or not answer.sources or not evidence.ranked:
        return answer
    best = evidence.ranked[0]  # the first source's sentence (compose quotes it first)
    span = reader.answer_span(evidence.question, best.text, best.before)
    if span is None:
        return answer
    return replace(answer, sources=[replace(answer.sources[0], span=span), *answer.sources[1:]])


def load_reader(settings: Settings, warn: Callable[[str], None]) -> Reader | None:
    """The shipped reader when RAG_READER=on, loaded once; when it cannot load, ``warn`` hears
    why in one line and answers come without it (never a silent switch, never a traceback)."""
    if settings.reader != "on":
        return None
    why = reader_unavailable()
    if not why:
        from rag.reader.model import shipped

        try:
            return shipped()
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            why = f"its weights do not load ({type(exc).__name__}: {str(exc)[:120]})"
    warn(f"warning: RAG_READER=on (the default) but {why}: answering without it (RAG_READER=off)")
    return None


def reader_unavailable() -> str:
    """Why the shipped reader cannot be used here ("" when it can), without loading it."""
    try:
        from rag.reader.model import WEIGHTS
    except ImportError as exc:  # torch missing
        return f"the reader needs {exc.name}"
    if not WEIGHTS.exists():
        return f"its weights are missing ({WEIGHTS}): train them with `make reader`"
    if models().answer_reader is None:
        return "the answer model was fitted without it: run `python -m evals.fit --reader`"
    return ""


def status(settings: Settings) -> str:
    """What `rag info` and /api/health say of the reader. Example: "on (trained 2026-12-06 at
    abc1234; held out: PIAF sentence 0.81, SQuAD 2.0 AUC 0.86, answer phrase F1 0.42)"."""
    if settings.reader != "on":
        return "off (RAG_READER=on to use it)"
    why = reader_unavailable()
    if why:
        return f"unavailable: {why}"
    from rag.reader.model import card

    made = card()
    held = made.get("held_out", {})
    span = made.get("span", {}).get("held_out", {})
    phrase = f", answer phrase F1 {span['piaf_span_f1']:.2f}" if "piaf_span_f1" in span else ""
    return (
        f"on (trained {made.get('date')} at {made.get('commit')}; held out: PIAF sentence "
        f"{held.get('piaf_sentence_accuracy', 0):.2f}, SQuAD 2.0 AUC "
        f"{held.get('squad_auc_answerable', 0):.2f}{phrase})"
    )
