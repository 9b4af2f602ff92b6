"""rag/web/ui.py: HTML of answers, sources and articles; upload checks. Plain functions, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.extractive import Source, stream_prefixes
from rag.config import Settings
from rag.errors import ConfigError, InputError
from rag.index.chunking import Passage
from rag.index.corpus import parse_article
from rag.index.retrieval import Filters
from rag.web import ui, uploads

ARTICLE = (
    " date 2021-04 Titre <b>gras</b>\n\n"
    "Premier paragraphe & co. Le conseiller, Jake Sullivan, a parlé. Fin <script>x</script>.\n"
)


def make_source(path: Path, text: str = ARTICLE, n: int = 1) -> Source:
    """A source citing "Le conseiller ... a parlé." inside the passage after the title line."""
    passage_start = text.index("Premier")
    passage_end = len(text) - 1
    start = text.index("Le conseiller")
    end = text.index("parlé.") + len("parlé.")
    passage = Passage(
        id="p1",
        text=text[passage_start:passage_end],
        file=path.name,
        path=str(path),
        date="2021-04",
        title="Titre <b>gras</b>",
        start=passage_start,
        end=passage_end,
        sha="0" * 16,
    )
    return Source(
        n, path.name, "2021-04", passage.title, 0.875, text[start:end], start, end, passage
    )


@pytest.fixture
def article(tmp_path: Path) -> Path:
    path = tmp_path / "a<1>.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    return path


# --- chat --------------------------------------------------------------------------------------


def test_escape_markdown_keeps_text_verbatim() -> None:
    assert ui.escape_markdown("a_b *c* [1] <i>") == "a\\_b \\*c\\* \\[1\\] &lt;i&gt;"


def test_answer_markdown_shows_the_rewritten_query_only_when_it_differs() -> None:
    same = ui.answer_markdown("Réponse [1]", False, "Qui ?", "Qui ?")
    assert "rag-query" not in same and "\\[1\\]" in same
    other = ui.answer_markdown("Réponse [1]", False, "Qui ?", "Qui ? (Biden <x>)")
    assert "rag-query" in other and "Biden &lt;x&gt;" in other


def test_an_unsure_answer_carries_its_warning() -> None:
    marked = ui.answer_markdown("Réponse [1]", warning="À vérifier : confiance 45 %")
    assert '<div class="rag-unsure">À vérifier : confiance 45 %</div>' in marked
    assert "rag-unsure" not in ui.answer_markdown("Réponse [1]")


def test_the_answer_phrase_is_marked_and_escaped() -> None:
    text = "Dmitri Peskov, porte-parole du <Kremlin> [1]"
    marked = ui.answer_markdown(text, phrase=(0, 13))
    assert marked.startswith('<mark class="rag-phrase">Dmitri Peskov</mark>, porte-parole')
    assert "&lt;Kremlin&gt; \\[1\\]" in marked
    assert "<mark" not in ui.answer_markdown(text)


def test_abstained_and_failed_answers_are_styled() -> None:
    assert 'class="rag-abstained"' in ui.answer_markdown("Pas dans le corpus.", True)
    assert 'class="rag-abstained"' in ui.error_markdown("Question vide <b>")
    assert "<b>" not in ui.error_markdown("Question vide <b>")


def test_stream_prefixes_grow_to_the_whole_text() -> None:
    text = "un deux trois quatre cinq six sept"
    prefixes = list(stream_prefixes(text, steps=3))
    assert prefixes[-1] == text
    assert all(text.startswith(p) for p in prefixes)
    assert [len(p) for p in prefixes] == sorted(len(p) for p in prefixes) and len(prefixes) == 3
    assert list(stream_prefixes("seul")) == ["seul"]


def test_make_filters() -> None:
    assert ui.make_filters("", None, None) == Filters()
    assert ui.make_filters("2021-03", "2021-04", ["a.txt"]).files == ("a.txt",)
    with pytest.raises(InputError, match="après"):
        ui.make_filters("2021-12", "2021-03", [])
    with pytest.raises(InputError):
        ui.make_filters("mars", "", [])


# --- sources and articles ----------------------------------------------------------------------


def test_highlight_escapes_around_and_inside_the_mark() -> None:
    assert ui.highlight("a<b>c", 1, 4) == "a<mark>&lt;b&gt;</mark>c"
    assert ui.highlight("abc", -5, 99) == "<mark>abc</mark>"


def test_sources_html_marks_the_supporting_sentence(article: Path) -> None:
    html = ui.sources_html([make_source(article)], show_scores=True)
    assert "<mark>Le conseiller, Jake Sullivan, a parlé.</mark>" in html
    assert "a&lt;1&gt;.txt" in html and "2021-04" in html and "0.875" in html
    assert "Titre &lt;b&gt;gras&lt;/b&gt;" in html and "<script>" not in html
    assert 'data-index="0"' in html
    assert "0.875" not in ui.sources_html([make_source(article)], show_scores=False)
    assert "rag-source" not in ui.sources_html([])


def test_article_html_highlights_the_passage_and_sentence(article: Path) -> None:
    html = ui.article_html(make_source(article))
    assert '<span class="rag-passage">Premier paragraphe &amp; co. <mark>' in html
    assert "<mark>Le conseiller, Jake Sullivan, a parlé.</mark>" in html
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_article_html_follows_an_edited_file_and_reports_a_deleted_one(article: Path) -> None:
    source = make_source(article)
    article.write_text("Nouvelle ligne en tête.\n" + ARTICLE, encoding="utf-8")
    assert "<mark>Le conseiller, Jake Sullivan, a parlé.</mark>" in ui.article_html(source)
    article.unlink()
    assert "n'est plus dans le corpus" in ui.article_html(source)


def test_read_text_falls_back_to_latin_1(tmp_path: Path) -> None:
    path = tmp_path / "vieux.txt"
    path.write_bytes("Élysée".encode("latin-1"))
    assert ui.read_text(path) == "Élysée"


def test_corpus_rows_months_and_deletable_files(tmp_path: Path) -> None:
    articles = [
        {
            "file": "b.txt",
            "date": "2021-12",
            "title": "B",
            "passages": 2,
            "path": str(tmp_path / "b.txt"),
        },
        {
            "file": "a.txt",
            "date": "2021-03",
            "title": "A",
            "passages": 1,
            "path": "/ailleurs/a.txt",
        },
        {"file": "c.md", "date": "", "title": "C", "passages": 1, "path": str(tmp_path / "c.md")},
    ]
    assert ui.article_rows(articles)[0] == ["b.txt", "2021-12", "B", 2]
    assert ui.month_choices(articles) == ["2021-03", "2021-12"]
    assert uploads.corpus_files(articles, tmp_path) == ["b.txt", "c.md"]


def test_rag_auth_is_read_once_as_credentials() -> None:
    assert Settings(auth="").credentials() is None
    assert Settings(auth="alice:s3cr:et").credentials() == ("alice", "s3cr:et")
    for bad in ["alice", ":pw", "alice:"]:
        with pytest.raises(ConfigError):
            Settings(auth=bad)


# --- the article view and titles (issue #23) -------------------------------------------------


def opening_source(path: Path, text: str, title: str) -> Source:
    """A source whose passage opens the article (its first line included), citing its last
    sentence."""
    body = text.index(text.split(" date 2021-04 ", 1)[-1])
    passage_end = len(text.rstrip())
    start = text.rindex("Le conseiller")
    passage = Passage("p0", text[body:passage_end], path.name, str(path), "2021-04", title, body,
                      passage_end, "0" * 16)  # fmt: skip
    return Source(1, path.name, "2021-04", title, 0.5, text[start:passage_end], start,
                  passage_end, passage)  # fmt: skip


def test_the_article_view_leaves_out_the_date_header(article: Path) -> None:
    shown = ui.article_html(make_source(article))

    assert "date 2021-04" not in shown
    assert shown.count("Titre &lt;b&gt;gras&lt;/b&gt;") == 1  # the title line, once, as the title
    assert "<h3>Titre &lt;b&gt;gras&lt;/b&gt;</h3>" in shown


def test_a_title_cut_from_the_first_line_is_not_shown_above_it(tmp_path: Path) -> None:
    text = " date 2021-04 " + " ".join(f"mot{n}" for n in range(40)) + ". Le conseiller a parlé.\n"
    path = tmp_path / "long.txt"
    path.write_text(text, encoding="utf-8")
    title = parse_article(path, text, "").title
    assert title.endswith("…")

    source = opening_source(path, text, title)
    card, view = ui.sources_html([source]), ui.article_html(source)

    assert "rag-source-title" not in card and "<h3>" not in view
    assert card.count("mot1 mot2") == 1 and view.count("mot1 mot2") == 1
    assert "date 2021-04" not in view


def test_a_card_does_not_repeat_the_title_its_passage_opens_with(tmp_path: Path) -> None:
    text = " date 2021-04 Crise en Ukraine\n\n\n\nLe conseiller a parlé.\n"
    path = tmp_path / "crise.txt"
    path.write_text(text, encoding="utf-8")

    card = ui.sources_html([opening_source(path, text, "Crise en Ukraine")])

    assert card.count("Crise en Ukraine") == 1
    assert "Crise en Ukraine\n\n<mark>Le conseiller a parlé.</mark>" in card  # one blank line
    elsewhere = make_source(path, ARTICLE)  # a passage after the title line keeps the title
    assert '<div class="rag-source-title">Titre' in ui.sources_html([elsewhere])


@pytest.mark.parametrize(
    ("text", "title", "begins"),
    [
        ("Crise en Ukraine\n\nLe président", "Crise en Ukraine", True),
        ("# Crise  en\nUkraine, le président", "Crise en Ukraine, le…", True),
        ("Le président parle.", "Crise en Ukraine", False),
        ("Le président parle.", "", False),
        ("Biden (illustration). — Photos Sipa\n\nOublié, le «tueur».", "Oublié, le…", True),
    ],
)
def test_begins_with(text: str, title: str, begins: bool) -> None:
    assert ui.begins_with(text, title) is begins


# --- the Corpus tab's status -----------------------------------------------------------------


def test_ingest_status_is_a_french_sentence(tmp_path: Path) -> None:
    from rag.index.corpus import Skipped
    from rag.index.ingest import IngestReport
    from rag.web.handlers import ingest_status

    report = IngestReport(added=["a.txt"], removed=["b.md", "c.md"], passages=27, embedded=3)
    report.skipped = [Skipped(tmp_path / "x_y.txt", "empty file")]
    report.seconds = 1.25

    status = ingest_status(report)

    assert status == (
        "Index à jour : 1 article ajouté, 2 articles retirés, 1 fichier ignoré (x\\_y.txt) ; "
        "27 passages indexés (3 nouveaux), en 1,2 s."
    )
    assert ingest_status(IngestReport(passages=1)).startswith("Index à jour : aucun changement")
