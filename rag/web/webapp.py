"""The Gradio chat: the Questions and Corpus tabs wired to the handlers of rag/web/handlers.py.

Served by rag/web/server.py (`rag serve`), mounted at / beside the HTTP API.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from rag.config import MAX_K, Settings
from rag.web import handlers, page, ui, uploads

if TYPE_CHECKING:
    import gradio as gr

    from rag.answer.extractive import Source
    from rag.pipeline import Pipeline

# asks before a deletion; "cancelled" tells the handler that the reader said no
REMOVE_JS = "(name) => [name, Boolean(name) && !confirm(`Supprimer ${name} du corpus ?`)]"


def build_app(pipeline: Pipeline, settings: Settings) -> gr.Blocks:
    """The whole chat wired to ``pipeline``; rag/web/server.py mounts it with ``mount_options``."""
    import gradio as gr

    now = handlers.corpus_choices(pipeline, settings)
    with gr.Blocks(title="Questions sur l'actualité", analytics_enabled=False) as demo:
        gr.Markdown(page.ABOUT, elem_id="rag-about")
        with gr.Tab("Questions"):
            filters = _chat_tab(pipeline, settings, now)
        with gr.Tab("Corpus"):
            corpus = _corpus_tab(settings, now)
        view = [corpus["table"], *filters, corpus["doomed"]]
        demo.load(
            partial(handlers.corpus_view, pipeline, settings), None, view, api_visibility="private"
        )
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
                    label="Votre question",  # for screen readers
                    show_label=False,
                    placeholder="Votre question…",
                    scale=5,
                    elem_id="rag-question",
                    autofocus=True,
                )
                send = gr.Button("Envoyer", variant="primary", scale=1, elem_id="rag-send")
            with gr.Row():
                use_llm = gr.Checkbox(
                    False,
                    label=f"Réponse rédigée par le LLM ({pipeline.llm.name})"
                    if pipeline.llm
                    else "",
                    visible=pipeline.llm is not None,  # only when RAG_LLM names one
                    elem_id="rag-llm",
                )
                clear = gr.Button("Nouvelle conversation", size="sm", elem_id="rag-clear")
            with gr.Accordion("Filtres et réglages", open=False):
                k = gr.Slider(  # the API's range too (routes.Search.k)
                    1, MAX_K, value=settings.top_k, step=1, label="Passages consultés"
                )
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
                handlers.NO_ARTICLE, elem_id="rag-article", max_height=520, js_on_load=ui.SCROLL_JS
            )

    ask = partial(handlers.respond, pipeline)
    inputs = [question, chatbot, history, k, date_from, date_to, files, show_scores, use_llm]
    outputs = [chatbot, panel, article, history, sources, question]
    gr.on([question.submit, send.click], ask, inputs, outputs, api_name="ask")

    def use_example(evt: Any) -> str:
        return str(evt.value.get("text", "")) if isinstance(evt.value, dict) else str(evt.value)

    def select_source(sources: list[Source], evt: Any) -> str:
        return handlers.open_source(sources, evt.index)

    # Gradio finds event parameters with typing.get_type_hints, which cannot resolve the
    # postponed annotation "gr.SelectData" (gradio is imported lazily): hand it the class
    use_example.__annotations__ = {"evt": gr.SelectData}
    select_source.__annotations__ = {"evt": gr.SelectData}
    chatbot.example_select(use_example, None, question, api_visibility="private").then(
        ask, inputs, outputs, api_visibility="private"
    )
    clear.click(handlers.reset, None, outputs, api_name="clear")
    chatbot.clear(handlers.reset, None, outputs, api_visibility="private")
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
        elem_id="rag-corpus-table",
    )
    writable = uploads.writes_allowed(settings)  # handlers check it again: buttons can be forged
    if not writable:
        gr.Markdown(uploads.READ_ONLY, elem_id="rag-read-only")
    with gr.Row(visible=writable):
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
            remove = gr.Button("Supprimer l'article", variant="stop", elem_id="rag-delete")
            # set by the confirmation box in the browser (REMOVE_JS), never shown
            cancelled = gr.Checkbox(False, visible=False)
    status = gr.Markdown(elem_id="rag-corpus-status")
    return dict(
        table=table,
        files=files,
        replace=replace,
        add=add,
        doomed=doomed,
        remove=remove,
        cancelled=cancelled,
        status=status,
    )


def _wire_corpus(
    pipeline: Pipeline, settings: Settings, c: dict[str, Any], view: list[Any]
) -> None:
    import gradio as gr

    # Gradio hands a live progress bar to a parameter whose default is a gr.Progress
    def add(paths: list[str] | None, replace: bool, progress: Any = gr.Progress()) -> Any:  # noqa: B008
        return handlers.upload(pipeline, settings, paths, replace, progress)

    def remove(name: str | None, cancelled: bool, progress: Any = gr.Progress()) -> Any:  # noqa: B008
        return handlers.delete(pipeline, settings, name, progress, cancelled)

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
        [c["doomed"], c["cancelled"]],
        [c["status"], *view],
        api_name="delete",
        js=REMOVE_JS,
        **corpus,
    )


def mount_options(settings: Settings) -> dict[str, Any]:
    """How the chat is served: system fonts only (no web font download), optional login."""
    import gradio as gr

    font, mono = gr.themes.Font("sans-serif"), gr.themes.Font("monospace")
    return {
        "auth": settings.credentials(),
        "max_file_size": f"{settings.max_upload_mb}mb",
        "ssr_mode": False,
        # no "api": Gradio's page documents its internal endpoints; the API is at /docs
        "footer_links": ["settings"],
        "i18n": gr.I18n(**page.translations()),
        "js": page.PAGE_JS,
        "theme": gr.themes.Default(font=[font], font_mono=[mono]),
        "css": ui.CSS,
    }
