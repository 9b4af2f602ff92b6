"""rag/chunking.py: French sentences, passages with exact offsets that fit the embedding models."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.chunking import Passage, chunk_article, split_sentences
from rag.config import PACKAGED_MINILM
from rag.corpus import Article, read_article
from rag.embedding import Embedder

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEED_FILES = sorted(SEEDS.glob("*.txt"))


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def seed(path: Path) -> Article:
    article = read_article(path)
    assert isinstance(article, Article)
    return article


@pytest.fixture(scope="module")
def minilm() -> Embedder:
    return Embedder.load(PACKAGED_MINILM)


@pytest.fixture(scope="module")
def seed_passages() -> list[tuple[Article, list[Passage]]]:
    return [(article, chunk_article(article)) for article in map(seed, SEED_FILES)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("M. Poutine a parlé. Il part.", ["M. Poutine a parlé.", "Il part."]),
        (
            "MM. Biden et Poutine se sont parlé. Mme Psaki l'a confirmé.",
            ["MM. Biden et Poutine se sont parlé.", "Mme Psaki l'a confirmé."],
        ),
        (
            "La croissance atteint 3.5 % cette année. Elle était de 2.1 % avant.",
            ["La croissance atteint 3.5 % cette année.", "Elle était de 2.1 % avant."],
        ),
        (
            "En 52 av. J.-C. César bat Vercingétorix. La Gaule change.",
            ["En 52 av. J.-C. César bat Vercingétorix.", "La Gaule change."],
        ),
        (
            "Le président J. Biden est arrivé. Il a salué la foule.",
            ["Le président J. Biden est arrivé.", "Il a salué la foule."],
        ),
        (
            "Il a parlé. « Nous sommes prêts », a-t-il dit. Fin.",
            ["Il a parlé.", "« Nous sommes prêts », a-t-il dit.", "Fin."],
        ),
        (
            "Il a dit «Nous sommes prêts.» Le Kremlin a confirmé.",
            ["Il a dit «Nous sommes prêts.»", "Le Kremlin a confirmé."],
        ),
        (
            # French typography puts a space before the closing guillemet
            "Il a dit « Nous sommes prêts. » Le Kremlin a confirmé.",
            ["Il a dit « Nous sommes prêts. »", "Le Kremlin a confirmé."],
        ),
        (
            "Vraiment ? Oui ! Le sommet aura lieu… Peut-être.",
            ["Vraiment ?", "Oui !", "Le sommet aura lieu…", "Peut-être."],
        ),
        ("Titre sans point\nPremière phrase.", ["Titre sans point", "Première phrase."]),
    ],
)
def test_split_sentences_knows_french_typography(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_split_sentences_spans_are_trimmed_and_respect_bounds() -> None:
    text = "xx  Première phrase.   Deuxième phrase.  yy"
    start, end = 4, len(text) - 4

    spans = split_sentences(text, start, end)

    assert [text[a:b] for a, b in spans] == ["Première phrase.", "Deuxième phrase."]


@pytest.mark.parametrize("path", SEED_FILES, ids=lambda p: p.name[:3])
def test_passage_offsets_index_the_article_text(path: Path) -> None:
    article = seed(path)

    passages = chunk_article(article)

    assert passages
    for passage in passages:
        assert article.text[passage.start : passage.end] == passage.text
        assert passage.start >= article.body_start
        assert (passage.file, passage.date, passage.title) == (
            article.file,
            article.date,
            article.title,
        )
    assert path.read_text(encoding="utf-8")[passages[-1].start : passages[-1].end] == (
        passages[-1].text
    )


def test_passages_cover_the_whole_body(
    seed_passages: list[tuple[Article, list[Passage]]],
) -> None:
    for article, passages in seed_passages:
        body_words = article.text[article.body_start :].split()
        covered = " ".join(p.text for p in passages).split()
        assert set(body_words) <= set(covered), article.file
        assert passages[0].start == article.body_start


def test_passages_fit_the_packaged_minilm_window(
    minilm: Embedder, seed_passages: list[tuple[Article, list[Passage]]]
) -> None:
    assert minilm.max_tokens == 256
    for _, passages in seed_passages:
        for passage in passages:
            assert minilm.count_tokens(passage.text) <= minilm.max_tokens, passage.id


def test_passages_fit_the_default_model_window(
    embedder: Embedder, seed_passages: list[tuple[Article, list[Passage]]]
) -> None:
    for _, passages in seed_passages:
        for passage in passages:
            assert embedder.count_tokens(passage.text) <= embedder.max_tokens, passage.id


LONG_WORDS = (
    "Les négociations intergouvernementales concernant l'approvisionnement énergétique européen, "
    "l'interconnexion transfrontalière des infrastructures gazières et la décarbonation "
    "industrielle préoccupent particulièrement les administrations ministérielles. "
)


@pytest.mark.parametrize(
    "body",
    [LONG_WORDS * 12, LONG_WORDS.replace(",", "").replace(".", "") * 12],
    ids=["long-words", "no-punctuation"],
)
def test_french_with_long_words_still_fits_the_minilm_window(
    tmp_path: Path, minilm: Embedder, body: str
) -> None:
    path = tmp_path / "long.txt"
    path.write_text(f" date 2021-04 Titre\n\n{body}\n", encoding="utf-8")
    article = seed(path)

    passages = chunk_article(article)

    assert len(passages) > 1
    for passage in passages:
        assert article.text[passage.start : passage.end] == passage.text
    assert passages[-1].text.rstrip(" .").endswith("ministérielles")
    assert max(minilm.count_tokens(p.text) for p in passages) <= minilm.max_tokens


def test_metadata_is_flat_strings_and_integers(
    seed_passages: list[tuple[Article, list[Passage]]],
) -> None:
    article, passages = seed_passages[3]

    meta = passages[0].metadata()

    assert all(type(value) in (str, int) for value in meta.values())
    assert meta["file"] == article.file
    assert (meta["date"], meta["year"], meta["month"], meta["ym"]) == ("2021-12", 2021, 12, 202112)
    assert (meta["start"], meta["end"]) == (passages[0].start, passages[0].end)


def test_undated_passage_metadata_uses_zero(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Titre\n\nUne phrase.\n", encoding="utf-8")

    meta = chunk_article(seed(path))[0].metadata()

    assert (meta["date"], meta["year"], meta["month"], meta["ym"]) == ("", 0, 0, 0)


def test_consecutive_passages_sometimes_share_a_sentence(
    seed_passages: list[tuple[Article, list[Passage]]],
) -> None:
    overlaps = []
    for article, passages in seed_passages:
        for before, after in zip(passages, passages[1:]):
            assert after.start > before.start
            if after.start < before.end:
                shared = article.text[after.start : before.end]
                assert before.text.endswith(shared) and after.text.startswith(shared)
                overlaps.append(shared)

    assert overlaps
    assert all(shared.rstrip().endswith((".", "!", "?", "»", "…")) for shared in overlaps)


def test_passage_ids_are_stable_and_change_with_content(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text(" date 2021-04 Titre\n\nUne phrase.\n", encoding="utf-8")
    first = [p.id for p in chunk_article(seed(path))]
    again = [p.id for p in chunk_article(seed(path))]
    path.write_text(" date 2021-04 Titre\n\nUne autre phrase.\n", encoding="utf-8")
    changed = [p.id for p in chunk_article(seed(path))]

    assert first == again
    assert not set(first) & set(changed)
