"""rag/web/ui.py: HTML of answers, sources and articles; upload checks. Plain functions, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answer.extractive import Source, stream_prefixes
from rag.config import Settings
from rag.errors import ConfigError, InputError
from rag.index.chunking import Passage
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
