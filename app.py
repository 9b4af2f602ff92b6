"""Gradio front end: chat with cited sources, filters, and a corpus tab. `python app.py --help`.

The Pipeline is loaded once and shared read-only; everything that belongs to one user (the
questions asked so far, the latest sources) lives in gr.State and goes through the handlers'
arguments. HTML rendering and upload checks are in rag/ui.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag import ui
from rag.config import Settings
from rag.errors import NoIndex, RagError

if TYPE_CHECKING:
    import gradio as gr

    from rag.answer import Source
    from rag.pipeline import Pipeline

STREAM_DELAY = 0.03  # seconds between streamed chunks: visible, yet short
ANY_DATE = ("Toutes", "")
NO_ARTICLE = '<p class="rag-empty">Cliquez sur une source pour lire l\'article entier.</p>'
SEARCHING = '<p class="rag-empty">Recherche en cours…</p>'

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
) -> Iterator[tuple[Any, ...]]:
    """One chat turn, the answer streamed in.

    Yields (chat, sources panel, article panel, question history, sources, question box).
    """
    question = " ".join((question or "").split())
    if not question:
        yield messages, ui.sources_html([]), NO_ARTICLE, history, [], ""
        return
    chat = [*messages, {"role": "user", "content": question}, {"role": "assistant", "content": "…"}]
    yield chat, SEARCHING, NO_ARTICLE, history, [], ""
    try:
        filters = ui.make_filters(date_from, date_to, files)
        answer = pipeline.ask(question, history=history, k=int(k), filters=filters)
    except RagError as exc:
        chat[-1] = {"role": "assistant", "content": ui.error_markdown(str(exc))}
        yield chat, ui.sources_html([]), NO_ARTICLE, history, [], ""
        return
    for prefix in ui.stream_prefixes(answer.text):
        chat[-1] = {"role": "assistant", "content": ui.answer_markdown(prefix, answer.abstained)}
        yield chat, SEARCHING, NO_ARTICLE, history, [], ""
        time.sleep(STREAM_DELAY)
    final = ui.answer_markdown(answer.text, answer.abstained, question, answer.query)
    chat[-1] = {"role": "assistant", "content": final}
    panel = ui.sources_html(answer.sources, show_scores)
    yield chat, panel, NO_ARTICLE, [*history, question], answer.sources, ""


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
        "deletable": ui.corpus_files(articles, settings.corpus_dir),
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
    for path in paths or []:
        name = Path(path).name
        try:
            target, written = ui.save_upload(
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
    pipeline: Pipeline, settings: Settings, name: str | None, progress: Callable[..., Any]
) -> tuple[Any, ...]:
    """Delete one article file from the corpus folder, then drop it from the index."""
    if not name:
        return ("Choisissez l'article à supprimer.", *corpus_view(pipeline, settings))
    try:
        ui.remove_article(name, settings.corpus_dir)
    except RagError as exc:
        return (f"**Refusé** : {exc}", *corpus_view(pipeline, settings))
    status = f"**Supprimé** : {name}\n\n" + _ingest(pipeline, [settings.corpus_dir], progress)
    return (status, *corpus_view(pipeline, settings))


def _ingest(pipeline: Pipeline, paths: list[Path], progress: Callable[..., Any]) -> str:
    """Ingest with a progress bar; the summary is the line `rag ingest` prints."""

    def step(done: int, total: int) -> None:
        progress((done, total), desc="Indexation…", unit="passages")

    progress(0, desc="Indexation…")
    try:
        report = pipeline.ingest(paths, progress=step)
    except RagError as exc:
        return f"**Échec de l'indexation** : {exc}"
    return f"`{report.summary()}`"


# --- the app ---------------------------------------------------------------------------------


def build_app(pipeline: Pipeline, settings: Settings) -> gr.Blocks:
    """The whole UI wired to ``pipeline``; serve it with ``launch(demo, settings)``."""
    import gradio as gr

    now = corpus_choices(pipeline, settings)
    with gr.Blocks(title="Questions sur l'actualité", analytics_enabled=False) as demo:
        gr.Markdown(
            "## Questions sur l'actualité\n"
            "Réponses tirées des articles du corpus, avec leurs sources."
        )
        with gr.Tab("Questions"):
            filters = _chat_tab(pipeline, settings, now)
        with gr.Tab("Corpus"):
            corpus = _corpus_tab(settings, now)
        view = [corpus["table"], *filters, corpus["doomed"]]
        demo.load(partial(corpus_view, pipeline, settings), None, view, api_visibility="private")
        _wire_corpus(pipeline, settings, corpus, view)
    demo.queue(default_concurrency_limit=settings.concurrency)
    return demo


def _chat_tab(pipeline: Pipeline, settings: Settings, now: dict[str, Any]) -> list[Any]:
    """The chat, its settings and the sources/article panels; returns the filter widgets."""
    import gradio as gr

    history = gr.State([])  # this user's previous questions, oldest first
    sources = gr.State([])  # Source objects of this user's latest answer
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(
                label="Discussion",
                height=460,
                examples=[{"text": q} for q in ui.EXAMPLES],
                placeholder="**Posez une question sur les articles du corpus.**",
                feedback_options=None,
                buttons=["copy", "copy_all"],  # no "share": it needs Hugging Face
                elem_id="rag-chat",
            )
            with gr.Row():
                question = gr.Textbox(
                    show_label=False,
                    placeholder="Votre question…",
                    scale=5,
                    elem_id="rag-question",
                    autofocus=True,
                )
                send = gr.Button("Envoyer", variant="primary", scale=1, elem_id="rag-send")
            clear = gr.Button("Nouvelle conversation", size="sm", elem_id="rag-clear")
            with gr.Accordion("Filtres et réglages", open=False):
                k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages consultés")
                with gr.Row():
                    date_from = _month_dropdown("Depuis (mois)", now["months"])
                    date_to = _month_dropdown("Jusqu'à (mois)", now["months"])
                files = gr.Dropdown(
                    now["files"],
                    multiselect=True,
                    allow_custom_value=True,  # articles uploaded after this page was built
                    label="Limiter aux articles",
                )
                show_scores = gr.Checkbox(True, label="Afficher les scores")
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            panel = gr.HTML(ui.sources_html([]), elem_id="rag-sources", js_on_load=ui.CLICK_JS)
            gr.Markdown("### Article")
            article = gr.HTML(
                NO_ARTICLE, elem_id="rag-article", max_height=520, js_on_load=ui.SCROLL_JS
            )

    ask = partial(respond, pipeline)
    inputs = [question, chatbot, history, k, date_from, date_to, files, show_scores]
    outputs = [chatbot, panel, article, history, sources, question]
    gr.on([question.submit, send.click], ask, inputs, outputs, api_name="ask")

    def use_example(evt: Any) -> str:
        return str(evt.value.get("text", "")) if isinstance(evt.value, dict) else str(evt.value)

    def select_source(sources: list[Source], evt: Any) -> str:
        return open_source(sources, evt.index)

    # Gradio finds event parameters with typing.get_type_hints, which cannot resolve the
    # postponed annotation "gr.SelectData" (gradio is imported lazily): hand it the class
    use_example.__annotations__ = {"evt": gr.SelectData}
    select_source.__annotations__ = {"evt": gr.SelectData}
    chatbot.example_select(use_example, None, question, api_visibility="private").then(
        ask, inputs, outputs, api_visibility="private"
    )
    clear.click(reset, None, outputs, api_name="clear")
    chatbot.clear(reset, None, outputs, api_visibility="private")
    panel.select(select_source, sources, article, api_visibility="private")
    show_scores.change(ui.sources_html, [sources, show_scores], panel, api_visibility="private")
    return [date_from, date_to, files]


def _month_dropdown(label: str, months: list[tuple[str, str]]) -> Any:
    import gradio as gr

    return gr.Dropdown(months, value="", label=label, allow_custom_value=True)


def _corpus_tab(settings: Settings, now: dict[str, Any]) -> dict[str, Any]:
    import gradio as gr

    table = gr.Dataframe(
        now["rows"],
        headers=["Fichier", "Date", "Titre", "Passages"],
        interactive=False,
        label="Articles indexés",
        wrap=True,
        column_widths=["24%", "9%", "57%", "10%"],
        datatype=["str", "str", "str", "number"],
        show_search="search",
    )
    with gr.Row():
        with gr.Column():
            files = gr.File(
                label=f"Ajouter des articles (.txt ou .md, {settings.max_upload_mb} Mo au plus)",
                file_count="multiple",
                # no file_types: Gradio would refuse the whole batch; ui.save_upload
                # checks each file and says which ones were refused and why
                type="filepath",
            )
            replace = gr.Checkbox(False, label="Remplacer les fichiers existants")
            add = gr.Button("Ajouter au corpus", variant="primary")
        with gr.Column():
            doomed = gr.Dropdown(
                now["deletable"], value=None, label="Article à supprimer", allow_custom_value=True
            )
            remove = gr.Button("Supprimer l'article", variant="stop")
    status = gr.Markdown(elem_id="rag-corpus-status")
    return dict(
        table=table,
        files=files,
        replace=replace,
        add=add,
        doomed=doomed,
        remove=remove,
        status=status,
    )


def _wire_corpus(
    pipeline: Pipeline, settings: Settings, c: dict[str, Any], view: list[Any]
) -> None:
    import gradio as gr

    # Gradio hands a live progress bar to a parameter whose default is a gr.Progress
    def add(paths: list[str] | None, replace: bool, progress: Any = gr.Progress()) -> Any:  # noqa: B008
        return upload(pipeline, settings, paths, replace, progress)

    def remove(name: str | None, progress: Any = gr.Progress()) -> Any:  # noqa: B008
        return delete(pipeline, settings, name, progress)

    # one corpus change at a time, whoever asks; meanwhile answers come from the old index
    corpus = {"concurrency_limit": 1, "concurrency_id": "corpus"}
    c["add"].click(
        add,
        [c["files"], c["replace"]],
        [c["status"], c["files"], *view],
        api_name="upload",
        **corpus,
    )
    c["remove"].click(
        remove,
        c["doomed"],
        [c["status"], *view],
        api_name="delete",
        js="(name) => (name && confirm(`Supprimer ${name} du corpus ?`)) ? name : null",
        **corpus,
    )


# --- serving ---------------------------------------------------------------------------------


def launch(demo: gr.Blocks, settings: Settings, **options: Any) -> Any:
    """Serve ``demo`` on settings.host:port: system fonts only, no share link, optional login."""
    import gradio as gr

    font, mono = gr.themes.Font("sans-serif"), gr.themes.Font("monospace")
    defaults: dict[str, Any] = {
        "server_name": settings.host,
        "server_port": settings.port,
        "share": False,
        "auth": ui.parse_auth(settings.auth),
        "max_file_size": f"{settings.max_upload_mb}mb",
        "ssr_mode": False,
        "footer_links": ["api", "settings"],
        "theme": gr.themes.Default(font=[font], font_mono=[mono]),
        "css": ui.CSS,
    }
    return demo.launch(**(defaults | options))


def load_pipeline(settings: Settings) -> Pipeline:
    """Load the index, first building it from settings.corpus_dir when there is none."""
    from rag.pipeline import Pipeline

    try:
        return Pipeline.load(settings)
    except NoIndex:
        pass
    from rag.embedding import Embedder
    from rag.ingest import ingest

    say = partial(print, file=sys.stderr, flush=True)
    say(f"No index in {settings.index_dir}/: ingesting {settings.corpus_dir}/ first")

    def show(done: int, total: int) -> None:
        say(f"\r  {done}/{total} passages embedded", end="" if done < total else "\n")

    embedder = Embedder.load(settings.embed_model, settings.device)
    say(ingest([settings.corpus_dir], settings, embedder, progress=show).summary())
    return Pipeline.load(settings)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(description="Web UI: ask questions about the articles.")
    parser.add_argument("--host", help=f"interface to listen on (default {defaults.host})")
    parser.add_argument("--port", type=int, help=f"port to listen on (default {defaults.port})")
    parser.add_argument("--index", type=Path, help=f"index folder (default {defaults.index_dir}/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # must precede the first gradio import
    try:
        settings = Settings.from_env(host=args.host, port=args.port, index_dir=args.index)
        ui.parse_auth(settings.auth)  # fail before the slow part, not after
        launch(build_app(load_pipeline(settings), settings), settings)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
