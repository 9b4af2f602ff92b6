"""Plain-Python helpers of the web UI: HTML for answers, sources and articles.

Nothing here imports gradio, so every piece is testable on its own. All article text is
escaped before it reaches HTML: a corpus file is data, never markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import InputError
from rag.index.corpus import CAPTION, decode, parse_article
from rag.index.retrieval import Filters, months_in_order

if TYPE_CHECKING:
    from rag.answer.extractive import Source

EXAMPLES = [
    "Qui est le conseiller à la sécurité nationale de Joe Biden ?",
    "Quel dernier dirigeant de l'URSS a salué un sommet entre les deux présidents ?",
    "Comment s'appelle l'ambassadeur russe à Washington rappelé pour consultations ?",
    # answered right today (tests/test_browser.py asks each in the page); "Qui est le
    # porte-parole du Kremlin ?" was refused although 003 and 004 name Peskov: issue #20
    "Quel jour Joe Biden s'entretient-il avec Vladimir Poutine en décembre ?",
]
_MARKDOWN = re.compile(r"([\\`*_\[\]{}#|~])")
_BLANK_LINES = re.compile(r"\n[^\S\n]*(?:\n[^\S\n]*)+")  # shown as one blank line

CSS = """
.rag-sources { display: flex; flex-direction: column; gap: 0.6rem; }
.rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.6rem 0.8rem; cursor: pointer; background: var(--background-fill-secondary); }
.rag-source:hover, .rag-source:focus { border-color: var(--color-accent); outline: none; }
.rag-source-head { font-size: 0.85rem; color: var(--body-text-color-subdued);
  margin-bottom: 0.3rem; }
.rag-source-head b { color: var(--body-text-color); }
.rag-source-title { font-weight: 600; margin-bottom: 0.3rem; }
.rag-source-text { font-size: 0.92rem; line-height: 1.45; white-space: pre-line; }
.rag-source mark, .rag-article mark, mark.rag-phrase { background: #ffe066; color: #222; padding: 0 1px;
  border-radius: 2px; }
.rag-article .rag-passage { background: rgba(255, 224, 102, 0.25); }
.rag-article-body { white-space: pre-wrap; line-height: 1.5; }
.rag-empty { color: var(--body-text-color-subdued); font-style: italic; }
.rag-abstained { border-left: 4px solid #e8590c; padding-left: 0.6rem; color: #c2410c;
  font-style: italic; }
.rag-unsure { border-left: 4px solid #ca8a04; padding-left: 0.6rem; color: #a16207;
  font-size: 0.9rem; margin-top: 0.4rem; }
.rag-query { font-size: 0.82rem; color: var(--body-text-color-subdued); margin-top: 0.4rem; }
footer .divider { display: none; }
"""


# --- chat ------------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Text shown verbatim by a Markdown renderer. Example: "a_b [1]" -> "a\\_b \\[1\\]"."""
    return _MARKDOWN.sub(r"\\\1", html.escape(text, quote=False))


def answer_markdown(
    text: str,
    abstained: bool = False,
    question: str = "",
    query: str = "",
    warning: str = "",
    phrase: tuple[int, int] | None = None,
) -> str:
    """The chat message for an answer, its answer ``phrase`` (characters of ``text``) marked,
    with its ``warning`` (unsure answers); the rewritten query is shown when it differs."""
    body = escape_markdown(text)
    if phrase:
        a, b = phrase
        marked = f'<mark class="rag-phrase">{escape_markdown(text[a:b])}</mark>'
        body = escape_markdown(text[:a]) + marked + escape_markdown(text[b:])
    if abstained:
        body = f'<div class="rag-abstained">{body}</div>'
    if warning:
        body += f'\n\n<div class="rag-unsure">{escape_markdown(warning)}</div>'
    if query and " ".join(query.split()) != " ".join(question.split()):
        body += (
            f'\n\n<div class="rag-query">Recherche effectuée : « {escape_markdown(query)} »</div>'
        )
    return body


def error_markdown(message: str) -> str:
    """The chat message for a question that could not be answered at all."""
    return f'<div class="rag-abstained">Erreur : {escape_markdown(message)}</div>'


def make_filters(
    date_from: str | None, date_to: str | None, files: Iterable[str] | None
) -> Filters:
    """Filters from the UI's widgets; an empty widget means no restriction."""
    date_from, date_to = date_from or "", date_to or ""
    if not months_in_order(date_from, date_to):
        raise InputError(f"La date de début ({date_from}) est après la date de fin ({date_to}).")
    return Filters(date_from, date_to, tuple(files or ()))


# --- sources and articles --------------------------------------------------------------------


def highlight(text: str, start: int, end: int) -> str:
    """Escaped ``text`` with ``text[start:end]`` inside <mark>."""
    start, end = _clamp(start, 0, len(text)), _clamp(end, 0, len(text))
    end = max(start, end)
    esc = html.escape
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def sources_html(sources: Sequence[Source], show_scores: bool = True) -> str:
    """The sources panel: one clickable card per cited source, its sentence highlighted."""
    if not sources:
        return '<p class="rag-empty">Aucune source à afficher pour l\'instant.</p>'
    cards = "\n".join(_source_card(i, s, show_scores) for i, s in enumerate(sources))
    return f'<div class="rag-sources">{cards}</div>'


def _source_card(index: int, source: Source, show_scores: bool) -> str:
    p = source.passage
    esc = html.escape
    details = [f"<b>[{source.n}]</b> {esc(source.file)}"]
    if source.date:
        details.append(esc(source.date))
    if show_scores:
        details.append(f'score <span class="rag-score">{source.score:.3f}</span>')
    passage = _BLANK_LINES.sub(
        "\n\n", highlight(p.text, source.start - p.start, source.end - p.start)
    )
    # a passage that opens the article starts with its title: shown once, in the passage
    title = "" if begins_with(p.text, source.title) else source.title
    return (
        f'<div class="rag-source" data-index="{index}" data-file="{esc(source.file)}" '
        f'role="button" tabindex="0" title="Ouvrir l\'article">'
        f'<div class="rag-source-head">{" · ".join(details)}</div>'
        + (f'<div class="rag-source-title">{esc(title)}</div>' if title else "")
        + f'<div class="rag-source-text">{passage}</div></div>'
    )


def begins_with(text: str, title: str) -> bool:
    """Whether ``text`` opens with ``title`` (a title cut short ends with "…"), spaces and
    photo captions (never a title) aside.

    Example: ("Crise en Ukraine\n\nLe président…", "Crise en Ukraine") -> True
    """
    lines = text.lstrip().split("\n")
    while len(lines) > 1 and (not lines[0].strip() or CAPTION.search(lines[0])):
        lines.pop(0)
    words = " ".join(title.removesuffix("…").split())
    return bool(words) and " ".join("\n".join(lines).lstrip("#").split()).startswith(words)


def read_text(path: Path) -> str:
    """A corpus file decoded as ingest decodes it: UTF-8, else Latin-1."""
    return decode(path.read_bytes())[0]


def article_html(source: Source) -> str:
    """The whole article of a source: its passage shaded, its sentence in <mark>."""
    path = Path(source.passage.path)
    try:
        text = read_text(path)
    except OSError:
        return (
            f"<p class=\"rag-empty\">L'article {html.escape(source.file)} n'est plus dans le "
            "corpus : posez la question à nouveau.</p>"
        )
    p = source.passage
    shift = _shift(text, p.start, p.text)
    head = f"{html.escape(source.file)}" + (f" · {html.escape(source.date)}" if source.date else "")
    begin, title = _article_start(path, text, source.title, source.start + shift)
    body = passage_html(
        text, p.start + shift, p.end + shift, source.start + shift, source.end + shift, begin
    )
    return (
        '<div class="rag-article">'
        + (f"<h3>{html.escape(title)}</h3>" if title else "")
        + f'<div class="rag-source-head">{head}</div>'
        f'<div class="rag-article-body">{body}</div></div>'
    )


def _article_start(path: Path, text: str, title: str, keep: int) -> tuple[int, str]:
    """(where the article view's text starts, the title above it, "" for none).

    The date header is metadata, never shown; a first line that is the title is shown once, as
    the title; a title cut short from the first line is not shown above it. Nothing from
    ``keep`` on (the cited sentence) is ever left out.
    """
    start = parse_article(path, text, "").body_start
    start += len(text[start:]) - len(text[start:].lstrip())
    line = text[start:].split("\n", 1)[0]
    if line.strip().lstrip("#").strip() == title:
        after = start + len(line)
        after += len(text[after:]) - len(text[after:].lstrip())
        return (after if after <= keep else min(start, keep)), title
    return min(start, keep), "" if begins_with(text[start:], title) else title


def passage_html(
    text: str, start: int, end: int, mark_start: int, mark_end: int, begin: int = 0
) -> str:
    """Escaped ``text[begin:]`` with [start, end) shaded and [mark_start, mark_end) inside it
    marked."""
    start, end = _clamp(start, begin, len(text)), _clamp(end, begin, len(text))
    end = max(start, end)
    mark_start, mark_end = _clamp(mark_start, start, end), _clamp(mark_end, start, end)
    inner = highlight(text[start:end], mark_start - start, mark_end - start)
    esc = html.escape
    return f'{esc(text[begin:start])}<span class="rag-passage">{inner}</span>{esc(text[end:])}'


def _shift(text: str, start: int, expected: str) -> int:
    """How far the passage moved if the file changed since it was indexed (0 if it did not)."""
    if text[start : start + len(expected)] == expected:
        return 0
    found = text.find(expected)
    return found - start if found >= 0 else 0


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


# --- corpus ----------------------------------------------------------------------------------


def article_rows(articles: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Rows of the corpus table: file, date, title, passages."""
    return [[a["file"], a["date"], a["title"], a["passages"]] for a in articles]


def month_choices(articles: Sequence[dict[str, Any]]) -> list[str]:
    """The distinct "YYYY-MM" dates of the corpus, oldest first."""
    return sorted({a["date"] for a in articles if a["date"]})


# --- serving ---------------------------------------------------------------------------------


# Front-end snippets of the sources panel (a click opens the article) and of the article
# panel (scroll the highlighted sentence into view).
CLICK_JS = """
const pick = (event) => {
  const card = event.target.closest('[data-index]');
  if (card) trigger('select', {index: Number(card.dataset.index), value: card.dataset.file});
};
element.addEventListener('click', pick);
element.addEventListener('keydown', (event) => { if (event.key === 'Enter') pick(event); });
"""
SCROLL_JS = """
watch('value', () => {
  const mark = element.querySelector('mark');
  if (mark) mark.scrollIntoView({block: 'center'});
});
"""
