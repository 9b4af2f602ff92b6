"""BM25 keyword index over passages: French stemming, stopwords, accents and elisions folded.

The saved index is also the published list of passages: retrieval only returns passages
listed here, so readers see a whole ingest or none of it.
"""

from __future__ import annotations

import numpy as np

from rag.index.chunking import Passage
from rag.index.segments import Segment, merged
from rag.text import tokenize


def passage_tokens(text: str) -> list[str]:
    """What BM25 indexes of a passage: its tokens, or a placeholder when it has none."""
    return tokenize(text) or ["_"]


K1, B = 1.5, 0.75  # Lucene's (and bm25s's) defaults


class KeywordIndex:
    """BM25 over immutable segments (rag/index/segments.py); ``passages`` in (path, start) order.

    An index is never changed in place: ``changed`` gives a new one that shares the untouched
    segments, so a reader keeps a consistent index while an ingest makes the next.
    """

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        rows = sorted(
            (p.path, p.start, s, d)
            for s, segment in enumerate(segments)
            for d, p in enumerate(segment.passages)
            if segment.alive[d]
        )
        self.passages = [segments[s].passages[d] for _, _, s, d in rows]
        self.position = {p.id: i for i, p in enumerate(self.passages)}
        self._slots = [np.full(len(s.passages), -1, dtype=np.int64) for s in segments]
        for i, (_, _, s, d) in enumerate(rows):
            self._slots[s][d] = i
        self.frequency: dict[str, int] = {}  # live passages holding each term
        for segment in segments:
            for term, count in zip(segment.terms, segment.live_frequencies().tolist()):
                if count:
                    self.frequency[term] = self.frequency.get(term, 0) + count
        total = sum(int(s.lengths[s.alive].sum()) for s in segments)  # exact: no rounding order
        self._average = total / max(len(self.passages), 1)
        self._fixes: dict[str, str] = {}  # typo -> corpus token, remembered across questions

    @classmethod
    def build(cls, passages: list[Passage]) -> KeywordIndex:
        """The index of ``passages`` from scratch, in one segment."""
        if not passages:
            return cls([])
        return cls([Segment.build(passages, [passage_tokens(p.text) for p in passages])])

    def changed(self, add: list[Passage], remove: set[str]) -> KeywordIndex:
        """A new index: this one with the passages ``remove`` out and ``add`` in (a passage id
        always names the same text, so one already in is not added twice). Costs about the
        passages changed, plus the occasional merge (segments.merged)."""
        add = [p for p in add if p.id not in self.position or p.id in remove]
        gone = {i for i in remove if i in self.position}
        if not add and not gone:  # e.g. an ingest with nothing new: no re-sorting, no merge
            return self
        segments = [s.killed(gone) for s in self.segments]
        if add:
            segments.append(Segment.build(add, [passage_tokens(p.text) for p in add]))
        return KeywordIndex(merged(segments))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage, in ``self.passages`` order; a repeated token counts again."""
        out = np.zeros(len(self.passages), dtype=np.float64)
        for token in (t for t in self.correct(tokenize(query)) if t in self.frequency):
            idf = self.idf(token)
            for segment, slots in zip(self.segments, self._slots):
                docs, counts = segment.postings(token)
                where = slots[docs]
                keep = where >= 0
                tf = counts[keep].astype(np.float64)
                norm = 1 - B + B * segment.lengths[docs[keep]] / self._average
                out[where[keep]] += idf * tf / (tf + K1 * norm)
        return out.astype(np.float32)

    def correct(self, tokens: list[str]) -> list[str]:
        """Replace tokens the corpus never uses by a close corpus token (typos, missing letters).

        Example: ["washigton", "acumul"] -> ["washington", "accumul"]
        """
        vocab = self.frequency
        return [
            t if t in vocab or len(t) < 5 or t.isdigit() else self._fix(t, vocab) for t in tokens
        ]

    def _fix(self, token: str, vocab: dict[str, int]) -> str:
        if token not in self._fixes:
            import difflib

            close = difflib.get_close_matches(token, list(vocab), n=3, cutoff=0.8)
            # a short token only takes a one-letter substitution ("agens" -> "agenc", not
            # "recet" -> "recent" nor "apple" -> "appel")
            fits = [c for c in close if len(token) >= 6 or _one_substitution(token, c)]
            self._fixes[token] = fits[0] if fits else token
        return self._fixes[token]

    def idf(self, token: str) -> float:
        """Inverse document frequency of a stemmed token (0 for tokens the corpus never uses)."""
        df = self.frequency.get(token, 0)
        if not df:
            return 0.0
        return float(np.log(1 + (len(self.passages) - df + 0.5) / (df + 0.5)))


def _one_substitution(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
