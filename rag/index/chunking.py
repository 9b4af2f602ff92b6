"""Articles -> passages of a few sentences, with character offsets into the original file.

Sentence splitting knows French typography: guillemets (« »), abbreviations such as
"M.", "MM.", "Mme", initials, and decimal numbers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.index.corpus import CAPTION as CAPTION  # re-exported: rag/answer reads it from here
from rag.index.corpus import Article, month_number

TARGET_TOKENS = 170
MAX_TOKENS = 220
MIN_SENTENCE = 20  # characters: shorter "sentences" (datelines, "Lire aussi") are never quoted
ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle mlles mgr dr pr me st ste av apr j.-c cf etc ex p pp vol éd n° no art ch fig"
    " gal gén col cdt lt sgt adj hab min max env av.-j.-c".split()
)
# a blank line (spaces aside): a paragraph ends there, and so does any sentence
PARAGRAPH_BREAK = re.compile(r"\n[^\S\n]*\n")
_END = re.compile(r"[.!?…]+(?:[ \u00a0\u202f]?[»\"”’)\]])*(?=\s)|\n+")
_WORD_BEFORE = re.compile(r"([\w.\-°]+)$")
_OPENERS = '«"“‘([—–-'
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WORD = re.compile(r"\S+")
_NONSPACE = re.compile(r"\S")
# characters counted at once when a sentence is too long: a few hundred tokens, so that
# cutting a sentence of any length costs time in proportion to its length, never its square
WINDOW_CHARS = 8 * TARGET_TOKENS


@dataclass(frozen=True)
class Passage:
    """A chunk of an article; ``start``/``end`` index the file's decoded text."""

    id: str
    text: str
    file: str
    path: str
    date: str
    title: str
    start: int
    end: int
    sha: str

    def metadata(self) -> dict[str, str | int]:
        """Flat metadata, as Chroma requires."""
        ym = month_number(self.date)
        return {
            "file": self.file,
            "path": self.path,
            "date": self.date,
            "year": ym // 100,
            "month": ym % 100,
            "ym": ym,
            "title": self.title,
            "start": self.start,
            "end": self.end,
            "sha": self.sha,
        }


def estimate_tokens(text: str) -> int:
    """Rough word-piece count for French text under an English vocabulary.

    Example: "Le conseiller de Joe Biden" -> 9
    """
    # long French words split into many pieces: the character count bounds those texts
    return int(max(len(_TOKEN.findall(text)) * 1.6, len(text) / 3.3)) + 1


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in ``text[start:end]``, whitespace trimmed.

    Example: "M. Biden parle. Il part." -> [(0, 15), (16, 24)]
    """
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _END.finditer(text, start, end):
        if match.group().startswith("\n") or _is_boundary(text, match.start(), match.end(), end):
            _add_span(text, cursor, match.end(), spans)
            cursor = match.end()
    _add_span(text, cursor, end, spans)
    return spans


def crosses_paragraphs(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` holds a paragraph break: two sentences on either side of it
    are never quoted as one.

    Example: ("Il part.\\n\\nElle reste.", 0, 20) -> True
    """
    return PARAGRAPH_BREAK.search(text, start, end) is not None


def answer_sentences(text: str) -> list[tuple[int, int]]:
    """The spans of ``text`` an answer may quote: its sentences of more than MIN_SENTENCE chars."""
    return [(s, e) for s, e in split_sentences(text) if e - s > MIN_SENTENCE]


def _is_boundary(text: str, stop: int, after: int, end: int) -> bool:
    following = _NONSPACE.search(text, after, end)  # not text[after:end]: that is quadratic
    if following is None:
        return True
    nxt = following.group()
    if not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS):
        return False
    if text[stop] != ".":
        return True
    word = _WORD_BEFORE.search(text[max(0, stop - 20) : stop])
    token = word.group(1).lower() if word else ""
    is_initial = len(token) == 1 and token.isalpha()
    return token not in ABBREVIATIONS and not is_initial


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    chunk = text[start:end]
    stripped = chunk.strip()
    if stripped:
        lead = len(chunk) - len(chunk.lstrip())
        spans.append((start + lead, start + lead + len(stripped)))


def chunk_article(
    article: Article, count_tokens: Callable[[str], int] = estimate_tokens
) -> list[Passage]:
    """Group sentences into passages of about TARGET_TOKENS, repeating one sentence as overlap."""
    sentences = _fit(article.text, split_sentences(article.text, article.body_start), count_tokens)
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    size = 0
    for span in sentences:
        tokens = count_tokens(article.text[span[0] : span[1]])
        if current and (size + tokens > MAX_TOKENS or size >= TARGET_TOKENS):
            groups.append(current)
            overlap = current[-1]
            overlap_tokens = count_tokens(article.text[overlap[0] : overlap[1]])
            keep = len(current) > 1 and overlap_tokens + tokens <= TARGET_TOKENS // 2
            current, size = ([overlap], overlap_tokens) if keep else ([], 0)
        current.append(span)
        size += tokens
    if current:
        groups.append(current)
    key = hashlib.sha1(str(article.path).encode()).hexdigest()[:10]
    return [
        Passage(
            id=f"{key}-{article.sha[:10]}-{n}",
            text=article.text[group[0][0] : group[-1][1]],
            file=article.file,
            path=str(article.path),
            date=article.date,
            title=article.title,
            start=group[0][0],
            end=group[-1][1],
            sha=article.sha,
        )
        for n, group in enumerate(groups)
    ]


def _fit(
    text: str, spans: list[tuple[int, int]], count_tokens: Callable[[str], int]
) -> list[tuple[int, int]]:
    """Cut any sentence longer than MAX_TOKENS at word boundaries (inside a word if need be).

    Example: a 10,000-word sentence -> pieces of at most TARGET_TOKENS, in order, none empty.
    """
    out: list[tuple[int, int]] = []
    for start, end in spans:
        while start < end and _longer(text, start, end, count_tokens):
            cut = _cut(text, start, end, count_tokens)
            out.append((start, cut))
            following = _NONSPACE.search(text, cut, end)
            start = following.start() if following else end
        if start < end:
            out.append((start, end))
    return out


def _longer(text: str, start: int, end: int, count_tokens: Callable[[str], int]) -> bool:
    """Whether text[start:end] has more than MAX_TOKENS, counting only as much as needed."""
    window = WINDOW_CHARS
    while True:
        stop = min(end, start + window)
        if count_tokens(text[start:stop]) > MAX_TOKENS:
            return True
        if stop == end:
            return False
        window *= 2


def _cut(text: str, start: int, end: int, count_tokens: Callable[[str], int]) -> int:
    """The end of the longest run of words from ``start`` within TARGET_TOKENS (at least 1 char)."""

    def fits(cut: int) -> bool:
        return count_tokens(text[start:cut]) <= TARGET_TOKENS

    window = WINDOW_CHARS
    while True:
        stop = min(end, start + window)
        ends = [m.end() for m in _WORD.finditer(text, start, stop)]
        if stop < end and ends and ends[-1] == stop:
            ends.pop()  # that word may go on past the window
        if stop == end or not fits(ends[-1] if ends else stop):
            break
        window *= 2
    words = _last_fitting(ends, fits)
    if words is not None:
        return words
    # the first word alone is longer than TARGET_TOKENS: cut inside it
    return _last_fitting(range(start + 1, ends[0] if ends else stop), fits) or start + 1


def _last_fitting(cuts: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The last of the increasing ``cuts`` that ``fits`` (a prefix of them fits), by bisection.

    Example: ([3, 5, 9], lambda c: c < 6) -> 5
    """
    low, high = 0, len(cuts)  # cuts[:low] fit, cuts[high:] do not
    while low < high:
        middle = (low + high) // 2
        if fits(cuts[middle]):
            low = middle + 1
        else:
            high = middle
    return cuts[low - 1] if low else None
