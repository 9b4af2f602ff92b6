"""What the chat and the Corpus tab do: one function per user action, state passed in and out.

The Pipeline is shared read-only; everything that belongs to one user (the questions asked so
far, the latest sources) comes in through the arguments and goes back in the return values
(gr.State in rag/web/webapp.py). HTML rendering and upload checks are in rag/web/ui.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.answer.extractive import stream_prefixes
from rag.config import Settings
from rag.errors import RagError
from rag.web import ui, uploads

if TYPE_CHECKING:
    from rag.answer.extractive import Answer, Source
    from rag.index.ingest import IngestReport
    from rag.pipeline import Pipeline

STREAM_DELAY = 0.03  # seconds between streamed chunks: visible, yet short
ANY_DATE = ("Toutes", "")
NO_ARTICLE = '<p class="rag-empty">Cliquez sur une source pour lire l\'article entier.</p>'
SEARCHING = '<p class="rag-empty">Recherche en cours…</p>'
CANCELLED = "Suppression annulée."

# --- chat handlers ---------------------------------------------------------------------------


def respond(
    pipeline: Pipeline,
    question: str,
    messages: list[dict[str, Any]],
    history: list[str],
    k: float,
    date_from: str | None,
    date_to: str | None,
    files: list[str] | None,
    show_scores: bool,
    use_llm: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """One chat turn, the answer streamed in (with ``use_llm``, the LLM's draft as it comes).

    Yields (chat, sources panel, article panel, question history, sources, question box).
    """
    question = " ".join((question or "").split())
    if not question:
        yield messages, ui.sources_html([]), NO_ARTICLE, history, [], ""
        return
    chat = [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
    yield chat, SEARCHING, NO_ARTICLE, history, [], ""
    draft, answer = "", None
    try:
        filters = ui.make_filters(date_from, date_to, files)
        for item in pipeline.stream(question, history, int(k), filters, use_llm):
            if not isinstance(item, str):
                answer = item
                break
            draft += item
            chat[-1] = {"role": "assistant", "content": ui.answer_markdown(draft)}
            yield chat, SEARCHING, NO_ARTICLE, history, [], ""
    except RagError as exc:
        chat[-1] = {"role": "assistant", "content": ui.error_markdown(str(exc))}
        yield chat, ui.sources_html([]), NO_ARTICLE, history, [], ""
        return
    assert answer is not None  # Pipeline.stream always ends with the Answer
    for prefix in [] if draft else stream_prefixes(answer.text):
        chat[-1] = {"role": "assistant", "content": ui.answer_markdown(prefix, answer.abstained)}
        yield chat, SEARCHING, NO_ARTICLE, history, [], ""
        time.sleep(STREAM_DELAY)
    final = ui.answer_markdown(
        answer.text, answer.abstained, question, answer.query, answer.warning(), answer.phrase()
    )
    chat[-1] = {"role": "assistant", "content": final + _provenance(answer)}
    panel = ui.sources_html(answer.sources, show_scores)
    yield chat, panel, NO_ARTICLE, [*history, question], answer.sources, ""


def _provenance(answer: Answer) -> str:
    """Under an answer: who wrote it, and why the LLM's answer was not kept."""
    if answer.mode == "llm":
        line = f"Rédigée par le LLM ({answer.llm}), chaque citation vérifiée dans son passage"
    elif answer.note:
        line = f"Réponse du LLM non retenue : {answer.note}"
    else:
        return ""
    return f'\n\n<div class="rag-query">{ui.escape_markdown(line)}</div>'


def reset() -> tuple[Any, ...]:
    """A new conversation: empty chat, sources, article, history and question box."""
    return [], ui.sources_html([]), NO_ARTICLE, [], [], ""


def open_source(sources: list[Source], index: int | None) -> str:
    """The full article of the source at ``index`` among the latest answer's sources."""
    if index is None or not 0 <= int(index) < len(sources):
        return NO_ARTICLE
    return ui.article_html(sources[int(index)])


# --- corpus handlers -------------------------------------------------------------------------


def corpus_choices(pipeline: Pipeline, settings: Settings) -> dict[str, Any]:
    """What the widgets offer given the articles indexed right now."""
    articles = pipeline.articles()
    return {
        "rows": ui.article_rows(articles),
        "months": [ANY_DATE, *((m, m) for m in ui.month_choices(articles))],
        "files": [a["file"] for a in articles],
        "deletable": uploads.corpus_files(articles, settings.corpus_dir),
    }


def corpus_view(pipeline: Pipeline, settings: Settings) -> tuple[Any, ...]:
    """Updates for (table, date from, date to, file filter, article to delete)."""
    import gradio as gr

    now = corpus_choices(pipeline, settings)
    return (
        now["rows"],
        gr.update(choices=now["months"]),
        gr.update(choices=now["months"]),
        gr.update(choices=now["files"]),
        gr.update(choices=now["deletable"], value=None),
    )


def upload(
    pipeline: Pipeline,
    settings: Settings,
    paths: list[str] | None,
    replace: bool,
    progress: Callable[..., Any],
) -> tuple[Any, ...]:
    """Copy the valid uploads into the corpus folder and ingest them.

    Returns (status, file widget, *corpus_view).
    """
    lines, saved = [], []
    try:
        uploads.check_writes(settings)
    except RagError as exc:
        paths, lines = [], [f"**Refusé** : {exc}"]
    for path in paths or []:
        name = Path(path).name
        try:
            target, written = uploads.save_upload(
                Path(path), name, settings.corpus_dir, settings.max_upload_mb, replace
            )
        except (RagError, OSError) as exc:
            lines.append(f"**Refusé** : {exc}")
            continue
        saved.append(target)
        lines.append(
            f"**Ajouté** : {target.name}" + ("" if written else " (déjà présent, identique)")
        )
    if saved:
        lines.append(_ingest(pipeline, saved, progress))
    elif not lines:
        lines.append("Choisissez d'abord un ou plusieurs fichiers .txt ou .md.")
    return ("\n\n".join(lines), None, *corpus_view(pipeline, settings))


def delete(
    pipeline: Pipeline,
    settings: Settings,
    name: str | None,
    progress: Callable[..., Any],
    cancelled: bool = False,
) -> tuple[Any, ...]:
    """Delete one article file from the corpus folder, then drop it from the index.
    ``cancelled``: the reader said no in the confirmation box; nothing changes."""
    if cancelled:
        import gradio as gr

        return (CANCELLED, *(gr.skip() for _ in range(5)))  # the choice stays as it was
    if not name:
        return ("Choisissez l'article à supprimer.", *corpus_view(pipeline, settings))
    try:
        uploads.check_writes(settings)
        indexed = uploads.corpus_files(pipeline.articles(), settings.corpus_dir)
        uploads.remove_article(name, settings.corpus_dir, indexed)
    except RagError as exc:
        return (f"**Refusé** : {exc}", *corpus_view(pipeline, settings))
    status = f"**Supprimé** : {name}\n\n" + _ingest(pipeline, [settings.corpus_dir], progress)
    return (status, *corpus_view(pipeline, settings))


def _ingest(pipeline: Pipeline, paths: list[Path], progress: Callable[..., Any]) -> str:
    """Ingest with a progress bar; returns what changed, in French (``ingest_status``)."""

    def step(done: int, total: int) -> None:
        progress((done, total), desc="Indexation…", unit="passages")

    progress(0, desc="Indexation…")
    try:
        report = pipeline.ingest(paths, progress=step)
    except RagError as exc:
        return f"**Échec de l'indexation** : {exc}"
    return ingest_status(report)


def ingest_status(report: IngestReport) -> str:
    """What an ingest changed, as a French sentence for the Corpus tab (`rag ingest` prints
    ``report.summary()``, in English).

    Example: 1 added, 27 passages -> "Index à jour : 1 article ajouté ; 27 passages indexés (3
    nouveaux), en 1,2 s."
    """
    changes = [
        _count(len(report.added), "article ajouté", "articles ajoutés"),
        _count(len(report.updated), "article modifié", "articles modifiés"),
        _count(len(report.removed), "article retiré", "articles retirés"),
    ]
    done = ", ".join(c for c in changes if c) or "aucun changement"
    if report.skipped:
        names = ", ".join(s.path.name for s in report.skipped)
        done += f", {_count(len(report.skipped), 'fichier ignoré', 'fichiers ignorés')} ({names})"
    passages = _count(report.passages, "passage indexé", "passages indexés") or "aucun passage"
    new = f" ({_count(report.embedded, 'nouveau', 'nouveaux')})" if report.embedded else ""
    seconds = f"{report.seconds:.1f}".replace(".", ",")
    return f"Index à jour : {ui.escape_markdown(done)} ; {passages}{new}, en {seconds} s."


def _count(n: int, one: str, many: str) -> str:
    """``n`` things, "" for none. Example: (2, "article ajouté", "articles ajoutés") -> "2 articles
    ajoutés"."""
    return "" if n == 0 else f"{n} {one if n == 1 else many}"
