"""BM25 keyword index over passages: French stemming, stopwords, accents and elisions folded.

The saved index is also the published list of passages: retrieval only returns passages
listed here, so readers see a whole ingest or none of it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rag.index.chunking import Passage
from rag.text import tokenize

# saved tokens are reused by later ingests: change this when ``tokenize`` changes
TOKENS_VERSION = "tokens 1"


def passage_tokens(text: str) -> list[str]:
    """What BM25 indexes of a passage: its tokens, or a placeholder when it has none."""
    return tokenize(text) or ["_"]


class KeywordIndex:
    """Passages plus a BM25 model over them.

    An index built here keeps each passage's ``tokens`` and saves them, so that the next ingest
    tokenizes only the passages it adds (tokenizing was most of the time of a rebuild).
    """

    def __init__(
        self, passages: list[Passage], bm25: Any, tokens: list[list[str]] | None = None
    ) -> None:
        self.passages = passages
        self.bm25 = bm25
        self.tokens = tokens  # None when loaded: read only by an ingest, with saved_tokens
        self.position = {p.id: i for i, p in enumerate(passages)}
        self._fixes: dict[str, str] = {}  # typo -> corpus token, remembered across questions

    @classmethod
    def build(cls, passages: list[Passage], tokens: list[list[str]] | None = None) -> KeywordIndex:
        """The index of ``passages``; ``tokens``, when given, are theirs (``passage_tokens``)."""
        import bm25s

        if tokens is None:
            tokens = [passage_tokens(p.text) for p in passages]
        bm25 = bm25s.BM25()
        if passages:
            bm25.index(tokens, show_progress=False)
        return cls(passages, bm25, tokens)

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every passage, in ``self.passages`` order."""
        if not self.passages:  # an index emptied by deleting every article
            return np.zeros(0, dtype=np.float32)
        tokens = [t for t in self.correct(tokenize(query)) if t in self.bm25.vocab_dict]
        if not tokens:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self.bm25.get_scores(tokens), dtype=np.float32)

    def correct(self, tokens: list[str]) -> list[str]:
        """Replace tokens the corpus never uses by a close corpus token (typos, missing letters).

        Example: ["washigton", "acumul"] -> ["washington", "accumul"]
        """
        vocab = self.bm25.vocab_dict if self.passages else {}
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
        token_id = self.bm25.vocab_dict.get(token) if self.passages else None
        if token_id is None:
            return 0.0
        indptr = self.bm25.scores["indptr"]
        df = int(indptr[token_id + 1] - indptr[token_id])
        n = len(self.passages)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        with open(folder / "passages.jsonl", "w", encoding="utf-8") as out:
            for passage in self.passages:
                # its fields are flat strings and numbers: vars(), not asdict(), whose deep
                # copies were two thirds of the time of saving 100k passages
                out.write(json.dumps(vars(passage), ensure_ascii=False) + "\n")
        if self.passages:
            self.bm25.save(str(folder / "bm25"), show_progress=False)
        if self.tokens is not None:
            with open(folder / "tokens.txt", "w", encoding="utf-8") as out:
                out.write(f"{TOKENS_VERSION}\n")
                out.writelines(" ".join(tokens) + "\n" for tokens in self.tokens)

    @staticmethod
    def saved_tokens(folder: Path) -> list[list[str]] | None:
        """The tokens saved with the index in ``folder``, passage by passage (None: none, or
        made by another version of ``tokenize``)."""
        try:
            lines = (folder / "tokens.txt").read_text(encoding="utf-8").split("\n")
        except FileNotFoundError:
            return None
        if lines[0] != TOKENS_VERSION:
            return None
        return [line.split(" ") for line in lines[1:-1]]

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex:
        import bm25s

        with open(folder / "passages.jsonl", encoding="utf-8") as lines:
            passages = [Passage(**json.loads(line)) for line in lines]
        bm25 = bm25s.BM25.load(str(folder / "bm25")) if passages else bm25s.BM25()
        return cls(passages, bm25)


def _one_substitution(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1
