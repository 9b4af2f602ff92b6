"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused by reciprocal rank fusion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.errors import InputError
from rag.index.chunking import Passage
from rag.index.corpus import is_month, month_number
from rag.index.embedding import Embedder
from rag.index.store import Store
from rag.index.translate import to_french
from rag.text import language

RRF_K = 60
TIES = 5  # dense candidates asked beyond those used (see retrieve)


def months_in_order(date_from: str, date_to: str) -> bool:
    """False when both months are given and the first is after the last (an empty one is no
    bound). Example: ("2021-05", "2021-04") -> False"""
    return not (date_from and date_to and date_from > date_to)


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to a date range ("YYYY-MM", inclusive) and/or some file names."""

    date_from: str = ""
    date_to: str = ""
    files: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for value in (self.date_from, self.date_to):
            if value and not is_month(value):
                raise InputError(f"Date {value!r} is not YYYY-MM: write e.g. 2021-04")
        if not months_in_order(self.date_from, self.date_to):
            raise InputError(
                f"The first month ({self.date_from}) is after the last ({self.date_to}): swap them"
            )

    def where(self) -> dict[str, Any] | None:
        """The same filter as a Chroma ``where`` clause."""
        clauses: list[dict[str, Any]] = []
        if self.date_from:
            clauses.append({"ym": {"$gte": month_number(self.date_from)}})
        if self.date_to:
            clauses.append({"ym": {"$lte": month_number(self.date_to)}})
        if self.files:
            clauses.append({"file": {"$in": list(self.files)}})
        return None if not clauses else clauses[0] if len(clauses) == 1 else {"$and": clauses}

    def allows(self, passage: Passage) -> bool:
        ym = month_number(passage.date)
        return (
            (not self.date_from or ym >= month_number(self.date_from))
            and (not self.date_to or (0 < ym <= month_number(self.date_to)))
            and (not self.files or passage.file in self.files)
        )


@dataclass(frozen=True)
class Hit:
    """A retrieved passage: fused score, and the cosine and BM25 scores it came from."""

    passage: Passage
    score: float
    dense: float
    keyword: float


def retrieve(
    question: str,
    store: Store,
    embedder: Embedder,
    k: int = 5,
    filters: Filters = Filters(),
    candidates: int = 30,
    vector: np.ndarray | None = None,
) -> list[Hit]:
    """Top-k passages for ``question``, best first; ``vector`` is its embedding, if known."""
    snapshot = store.keyword
    if vector is None:
        vector = embedder.embed_queries([question])[0]
    # equal scores (the same text in two files) in index order, not in the order Chroma's graph
    # gives them; a few more than needed, so that a tie at the last place is broken the same way
    dense = sorted(
        (
            (snapshot.position[pid], sim)
            for pid, sim in store.dense(vector.tolist(), candidates + TIES, filters.where())
            if pid in snapshot.position  # only published passages: never half an ingest
        ),
        key=lambda item: (-item[1], item[0]),
    )[:candidates]
    bm25 = snapshot.scores(keyword_query(question))
    matching = np.flatnonzero(bm25 > 0)
    if filters != Filters():
        matching = np.array(
            [i for i in matching if filters.allows(snapshot.passages[i])], dtype=int
        )
    fused: dict[int, float] = {}
    for ranking in ([i for i, _ in dense], _best(bm25, matching, candidates)):
        for rank, i in enumerate(ranking):
            fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + rank + 1)
    cosine = dict(dense)
    best = sorted(fused, key=lambda i: -fused[i])[:k]
    return [Hit(snapshot.passages[i], fused[i], cosine.get(i, 0.0), float(bm25[i])) for i in best]


def keyword_query(question: str) -> str:
    """What BM25 reads: an English question with its French translation's words added.

    Example: "Who is the Kremlin spokesman?" -> "Who is ... ? Qui est-ce qui est le porte-parole ..."
    """
    if language(question) != "en":
        return question
    return f"{question} {to_french(question)}".strip()


def _best(scores: np.ndarray, matching: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` of ``matching`` (ascending) with the highest scores, best first, ties in index
    order: what a stable sort of them all gives, without sorting tens of thousands of matches.

    Example: scores [0, 3, 1, 3], matching [1, 2, 3], n=2 -> [1, 3]
    """
    if len(matching) > n:
        values = scores[matching]
        nth = np.partition(values, len(values) - n)[len(values) - n]
        matching = matching[values >= nth]
    return matching[np.argsort(-scores[matching], kind="stable")][:n]
