"""Immutable keyword segments: the term counts of a batch of passages, Lucene-style.

An ingest adds one small segment and marks the passages it removes as dead in theirs, so it
costs about the articles it changes, not the archive. ``merged`` keeps the number of segments
logarithmic: sizes double at least from the newest to the oldest, and a segment more than half
dead is rewritten. Scores read only counts, never a segment's layout (rag/index/bm25.py), so a
merged index scores exactly as one rebuilt from scratch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from rag.index.chunking import Passage

GROWTH = 2  # an older segment holds at least this many times the live passages of the next


@dataclass(frozen=True, eq=False)
class Segment:
    """Passages and their postings: term ``terms[t]`` occurs ``counts[j]`` times in passage
    ``docs[j]`` for j in ``indptr[t]:indptr[t + 1]``."""

    passages: list[Passage]
    terms: list[str]
    indptr: np.ndarray
    docs: np.ndarray
    counts: np.ndarray
    lengths: np.ndarray  # tokens in each passage
    dead: frozenset[str] = frozenset()  # passages removed since it was written
    name: str = ""  # its folder, once saved

    @classmethod
    def build(cls, passages: list[Passage], tokens: list[list[str]]) -> Segment:
        """Example: passages [p, q], tokens [["ours", "brun"], ["ours"]] -> "ours" in both."""
        vocabulary: dict[str, int] = {}
        ids = [vocabulary.setdefault(t, len(vocabulary)) for own in tokens for t in own]
        lengths = np.array([len(own) for own in tokens], dtype=np.int64)
        docs = np.repeat(np.arange(len(passages)), lengths)
        return _from_postings(
            passages,
            list(vocabulary),
            np.array(ids, dtype=np.int64),
            docs,
            np.ones(len(ids)),
            lengths,
        )

    @cached_property
    def ids(self) -> frozenset[str]:
        return frozenset(p.id for p in self.passages)

    @cached_property
    def alive(self) -> np.ndarray:
        return np.array([p.id not in self.dead for p in self.passages], dtype=bool)

    @cached_property
    def index(self) -> dict[str, int]:
        """Where each term's postings start: built at the first question, not at load."""
        return {t: i for i, t in enumerate(self.terms)}

    @property
    def live(self) -> int:
        return len(self.passages) - len(self.dead)

    def killed(self, ids: set[str]) -> Segment:
        """This segment with ``ids`` (those it holds) dead too."""
        gone = self.ids & ids
        return replace(self, dead=self.dead | gone) if gone - self.dead else self

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(passages, counts) of ``term`` in this segment, dead passages included."""
        t = self.index.get(term)
        if t is None:
            return _NONE, _NONE
        lo, hi = self.indptr[t], self.indptr[t + 1]
        return self.docs[lo:hi], self.counts[lo:hi]

    def live_frequencies(self) -> np.ndarray:
        """In how many live passages each term occurs."""
        per_posting = self.alive[self.docs].astype(np.int64)
        return np.add.reduceat(per_posting, self.indptr[:-1]) if len(self.terms) else _NONE

    def save(self, folder: Path) -> Segment:
        folder.mkdir(parents=True)
        with open(folder / "passages.jsonl", "w", encoding="utf-8") as out:
            for passage in self.passages:
                # flat strings and numbers: vars(), not asdict(), whose deep copies were two
                # thirds of the time of saving 100k passages
                out.write(json.dumps(vars(passage), ensure_ascii=False) + "\n")
        (folder / "terms.txt").write_text("\n".join(self.terms), encoding="utf-8")
        arrays = ("indptr", "docs", "counts", "lengths")
        np.savez(folder / "postings.npz", **{a: getattr(self, a) for a in arrays})
        return replace(self, name=folder.name)

    @classmethod
    def load(cls, folder: Path, dead: frozenset[str] = frozenset()) -> Segment:
        with open(folder / "passages.jsonl", encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines]
        text = (folder / "terms.txt").read_text(encoding="utf-8")
        with np.load(folder / "postings.npz") as arrays:
            indptr, docs, counts, lengths = (
                arrays[a] for a in ("indptr", "docs", "counts", "lengths")
            )
        terms = text.split("\n") if text else []
        return cls(passages, terms, indptr, docs, counts, lengths, dead, folder.name)


_NONE = np.zeros(0, dtype=np.int64)


def merge(segments: list[Segment]) -> Segment:
    """One segment of the live passages of ``segments``, in their order."""
    passages: list[Passage] = []
    vocabulary: dict[str, int] = {}
    terms, docs, counts, lengths = [], [], [], []
    for segment in segments:
        renumber = np.cumsum(segment.alive) - 1 + len(passages)
        keep = segment.alive[segment.docs]
        ids = np.array([vocabulary.setdefault(t, len(vocabulary)) for t in segment.terms])
        per_posting = np.repeat(ids, np.diff(segment.indptr)).astype(np.int64)
        terms.append(per_posting[keep])
        docs.append(renumber[segment.docs[keep]])
        counts.append(segment.counts[keep])
        lengths.append(segment.lengths[segment.alive])
        passages += [p for p, alive in zip(segment.passages, segment.alive) if alive]
    return _from_postings(
        passages,
        list(vocabulary),
        np.concatenate([_NONE, *terms]),
        np.concatenate([_NONE, *docs]),
        np.concatenate([np.zeros(0), *counts]),
        np.concatenate([_NONE, *lengths]),
    )


def merged(segments: list[Segment]) -> list[Segment]:
    """``segments`` (oldest first) after the merges that keep their count logarithmic.

    Example: live sizes [1000, 40, 30] -> [1000, 70]; [1000, 600] -> [1600]
    """
    out = [merge([s]) if 2 * len(s.dead) > len(s.passages) else s for s in segments if s.live]
    while len(out) >= 2 and out[-2].live < GROWTH * out[-1].live:
        out[-2:] = [merge(out[-2:])]
    return out


def _from_postings(
    passages: list[Passage],
    vocabulary: list[str],
    terms: np.ndarray,
    docs: np.ndarray,
    counts: np.ndarray,
    lengths: np.ndarray,
) -> Segment:
    """A segment from (term, passage, count) triples, repeated pairs summed, unused terms dropped."""
    n = max(len(passages), 1)
    pairs, where = np.unique(terms * n + docs, return_inverse=True)
    summed = np.bincount(where, weights=counts, minlength=len(pairs)) if len(pairs) else counts
    used, term_of = np.unique(pairs // n, return_inverse=True)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(term_of, minlength=len(used)))])
    return Segment(
        passages,
        [vocabulary[t] for t in used.tolist()],
        indptr.astype(np.int64),
        (pairs % n).astype(np.int64),
        summed.astype(np.int32),
        lengths.astype(np.int64),
    )
