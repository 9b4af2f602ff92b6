"""rag/index/corpus.py: files -> articles (date header, title, text); bad files skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import InputError
from rag.index.corpus import (
    CAPTION,
    Article,
    Skipped,
    find_files,
    is_month,
    month_number,
    read_article,
)

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def read(path: Path) -> Article:
    result = read_article(path)
    assert isinstance(result, Article), result
    return result


def skipped(path: Path) -> Skipped:
    result = read_article(path)
    assert isinstance(result, Skipped), result
    return result


def test_seed_header_gives_date_title_and_text_after_it() -> None:
    article = read(SEEDS / "003_b5fe129bdbb88210.txt")

    assert article.date == "2021-12"
    assert month_number(article.date) == 202112
    assert article.title == "Crise en Ukraine : Biden va proposer à Poutine une «voie diplomatique»"
    assert article.text[article.body_start :].startswith("Crise en Ukraine")
    assert "date 2021-12" not in article.text[article.body_start :]
    assert article.file == "003_b5fe129bdbb88210.txt"
    assert article.encoding == "utf-8"


def test_offsets_stay_those_of_the_file() -> None:
    path = SEEDS / "000_10bf3600e7f0d36b.txt"
    article = read(path)

    assert article.text == path.read_text(encoding="utf-8")
    assert article.date == "2021-04"
    assert article.text[article.body_start :].startswith("Joe Biden et Vladimir Poutine")


def test_a_photo_caption_is_never_the_title() -> None:
    """Article 000 opens with its photo's caption and credit, then the article."""
    article = read(SEEDS / "000_10bf3600e7f0d36b.txt")

    assert article.title.startswith("Oublié, Vladimir Poutine le «tueur».")
    assert not CAPTION.search(article.title)


@pytest.mark.parametrize(
    "caption",
    [
        "Joe Biden (illustration). — Photos Sipa / Montage 20 Minutes",
        "© AFP",
        "Photo : Reuters",
        "Crédit photo : Kremlin",
    ],
)
def test_caption_lines_are_skipped_for_the_title(tmp_path: Path, caption: str) -> None:
    path = tmp_path / "a.md"
    path.write_text(f" date 2021-04 {caption}\n\n# Le vrai titre\n\nLe texte.\n", encoding="utf-8")

    assert read(path).title == "Le vrai titre"
    only_captions = tmp_path / "photo.txt"
    only_captions.write_text(f"{caption}\n", encoding="utf-8")
    assert read(only_captions).title == "photo"  # no other line: the file's name


def test_file_without_header_has_no_date_and_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "note.md"
    path.write_text("# Une note sans date\n\nLe texte commence ici.\n", encoding="utf-8")

    article = read(path)

    assert article.date == ""
    assert month_number(article.date) == 0
    assert article.body_start == 0
    assert article.title == "Une note sans date"


def test_month_out_of_range_is_not_a_date_and_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(" date 2021-13 Titre\n\nTexte.\n", encoding="utf-8")

    article = read(path)

    assert article.date == ""
    assert article.bad_date == "2021-13"
    assert article.text[article.body_start :].startswith("Titre")  # the header is not quoted


def test_long_first_line_is_shortened_at_a_word(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(" date 2021-04 " + "mot " * 60 + "\n\nTexte.\n", encoding="utf-8")

    title = read(path).title

    assert len(title) <= 121
    assert title.endswith("mot…")


def test_latin1_file_is_decoded_and_flagged(tmp_path: Path) -> None:
    path = tmp_path / "ancien.txt"
    path.write_bytes(" date 2020-05 Été à Paris\n\nLe café était fermé.\n".encode("latin-1"))

    article = read(path)

    assert article.encoding == "latin-1"
    assert article.title == "Été à Paris"
    assert "Le café était fermé." in article.text
    assert article.date == "2020-05"


def test_utf8_byte_order_mark_does_not_hide_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(" date 2021-04 Titre\n\nTexte.\n".encode("utf-8-sig"))

    article = read(path)

    assert article.date == "2021-04"
    assert article.title == "Titre"


@pytest.mark.parametrize("content", [b"", b"   \n\n\t  \n"])
def test_empty_file_is_skipped_with_reason(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vide.txt"
    path.write_bytes(content)

    assert skipped(path).reason == "empty file"


def test_binary_file_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))

    assert skipped(path).reason == "binary file"


def test_unsupported_suffix_is_skipped_and_says_what_to_use(tmp_path: Path) -> None:
    path = tmp_path / "article.pdf"
    path.write_text("date 2021-04 Titre", encoding="utf-8")

    reason = skipped(path).reason

    assert ".pdf" in reason
    assert ".txt" in reason


def test_find_files_recurses_sorted_and_leaves_out_hidden_and_other_types(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.md",
        "sous/dossier/c.TXT",
        "image.pdf",
        ".brouillon.txt",
        ".git/d.txt",
        "sous/.cache/e.md",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("texte", encoding="utf-8")

    found = find_files([tmp_path])

    expected = ["a.md", "b.txt", "sous/dossier/c.TXT"]
    assert found == [(tmp_path / name).resolve() for name in expected]


def test_find_files_takes_an_explicit_file_as_given_and_once(tmp_path: Path) -> None:
    pdf = tmp_path / "article.pdf"
    txt = tmp_path / "a.txt"
    pdf.write_text("x", encoding="utf-8")
    txt.write_text("x", encoding="utf-8")

    found = find_files([pdf, txt, tmp_path])

    assert found == sorted([pdf.resolve(), txt.resolve()])


def test_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        find_files([tmp_path / "absent"])


@pytest.mark.parametrize("text", ["2021-00", "2021-13", "21-04", "2021-4", "2021-04-01", ""])
def test_only_yyyy_mm_is_a_month(text: str) -> None:
    assert not is_month(text)
    assert is_month("2021-04")


def test_links_leading_out_of_the_folder_are_reported_not_followed(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "secret.txt"
    corpus.mkdir()
    outside.write_text("secret", encoding="utf-8")
    (corpus / "a.txt").write_text("texte", encoding="utf-8")
    (corpus / "fuite.txt").symlink_to(outside)
    (corpus / "alias.txt").symlink_to(corpus / "a.txt")  # inside: the same file, once
    skipped: list[Skipped] = []

    found = find_files([corpus], skipped)

    assert found == [(corpus / "a.txt").resolve()]
    assert [s.path.name for s in skipped] == ["fuite.txt"]
    assert "outside" in skipped[0].reason
