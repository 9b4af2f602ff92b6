"""rag/index/chunking.py: French sentences, passages with exact offsets that fit the embedding models."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.config import PACKAGED_MINILM
from rag.index.chunking import (
    CAPTION,
    MAX_TOKENS,
    Passage,
    chunk_article,
    crosses_paragraphs,
    estimate_tokens,
    split_sentences,
)
from rag.index.corpus import Article, parse_article, read_article
from rag.index.embedding import Embedder

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


@pytest.mark.parametrize(
    ("sentence", "caption"),
    [
        ("Joe Biden et Vladimir Poutine (illustration).", True),
        ("— Photos Sipa / Montage 20 Minutes", True),
        ("Le Kremlin, à Moscou. © AFP", True),
        ("Crédit photo : Reuters", True),
        ("Photo : Ludovic Marin / AFP", True),
        ("Photos et vidéos de la rencontre ont circulé sur les réseaux sociaux.", False),
        ("Le Kremlin a publié une photo de la rencontre.", False),
    ],
)
def test_photo_captions_and_credits_are_recognised(sentence: str, caption: bool) -> None:
    assert bool(CAPTION.search(sentence)) is caption


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


# --- properties and cost: any text, any size ------------------------------------------------

PIECES = [
    "Le",
    "président",
    "M.",
    "Mme",
    "J.",
    "3.5",
    "Genève",
    "a",
    "dit",
    "«",
    "»",
    '"',
    "(",
    ")",
    ".",
    "!",
    "?",
    "…",
    ",",
    " ",
    " ",
    " ",
    "\u00a0",
    "\n",
    "\n\n",
    "x" * 700,
    "é" * 40,
]
texts = st.lists(st.sampled_from(PIECES), max_size=300).map("".join)


@given(texts)
@settings(max_examples=300, deadline=None)
def test_sentence_spans_are_ordered_trimmed_and_cover_every_character(text: str) -> None:
    spans = split_sentences(text)

    assert all(a < b <= c for (a, b), (c, _) in zip(spans, spans[1:]))
    assert all(text[a:b] == text[a:b].strip() != "" for a, b in spans)
    covered = {i for a, b in spans for i in range(a, b)}
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())


@given(texts)
@settings(max_examples=300, deadline=None)
def test_a_paragraph_break_always_ends_a_sentence(text: str) -> None:
    spans = split_sentences(text)

    assert not [text[a:b] for a, b in spans if crosses_paragraphs(text, a, b)]
    assert not [text[a:b] for a, b in spans if "\n\n" in text[a:b]]


def test_the_summit_hosts_and_the_next_paragraph_are_two_sentences() -> None:
    """Issue #23's example: "…la semaine dernière.\\n\\nLe conseiller…" was quoted as one."""
    text = seed(SEEDS / "002_c1d3609a954ad6a6.txt").text
    start = text.index("Moscou a manifesté")
    end = text.index("Nikolaï Patrouchev.") + len("Nikolaï Patrouchev.")

    assert sentences(text[start:end]) == [
        "Moscou a manifesté son intérêt pour cette offre, qui a toutefois été parasitée par des "
        "sanctions et contre-sanctions échangées par les deux pays, également la semaine dernière.",
        "Le conseiller de Joe Biden pour la sécurité nationale, Jake Sullivan, s’est entretenu "
        "lundi par téléphone avec le secrétaire général du Conseil de sécurité russe, Nikolaï "
        "Patrouchev.",
    ]
    assert crosses_paragraphs(text, start, end)
    assert not crosses_paragraphs(text, start, text.index("\n\nLe conseiller"))


@pytest.mark.parametrize(
    ("text", "crosses"),
    [
        ("Il part.\n\nElle reste.", True),
        ("Il part.\n \t\nElle reste.", True),
        ("Il part.\nElle reste.", False),
        ("Il part. Elle reste.", False),
    ],
)
def test_crosses_paragraphs_sees_blank_lines_only(text: str, crosses: bool) -> None:
    assert crosses_paragraphs(text, 0, len(text)) is crosses


@given(texts)
@settings(max_examples=300, deadline=None)
def test_passage_offsets_always_point_at_their_text(text: str) -> None:
    article = parse_article(Path("x.txt"), " date 2021-04 Titre\n" + text, "0" * 16)

    passages = chunk_article(article)

    assert all(article.text[p.start : p.end] == p.text == p.text.strip() != "" for p in passages)
    assert all(p.start >= article.body_start for p in passages)
    covered = {i for p in passages for i in range(p.start, p.end)}
    body = range(article.body_start, len(article.text))
    assert all(i in covered for i in body if not article.text[i].isspace())


@given(texts)
@settings(max_examples=200, deadline=None)
def test_passages_never_exceed_the_token_limit(text: str) -> None:
    def words(piece: str) -> int:  # additive over whitespace, so a group's count is exact
        return len(piece.split())

    article = parse_article(Path("x.txt"), text or "x", "0" * 16)

    assert all(words(p.text) <= MAX_TOKENS for p in chunk_article(article, words))


def _seconds_to_chunk(text: str) -> float:
    article = parse_article(Path("big.txt"), text, "0" * 16)
    started = time.perf_counter()
    passages = chunk_article(article)
    seconds = time.perf_counter() - started
    assert passages[-1].text == article.text[passages[-1].start : passages[-1].end]
    return seconds


def _growth(make: Callable[[int], str], sizes_mb: list[float]) -> float:
    """The exponent b of time ~ size^b, fitted over the doubling sizes (1 linear, 2 quadratic).

    Printed, not asserted: it depends on the machine's load (quadratic splitting measured 1.94,
    linear about 1.1); ``_counted_per_char`` is the deterministic check.
    """

    def seconds(mb: float) -> float:  # the best of two below 1 MB, where noise weighs most
        text = make(int(mb * 1e6))
        return min(_seconds_to_chunk(text) for _ in range(2 if mb < 1 else 1))

    points = [(math.log(mb), math.log(seconds(mb))) for mb in sizes_mb]
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    num = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return num / sum((x - mean_x) ** 2 for x, _ in points)


def _counted_per_char(text: str) -> float:
    """Characters the token counter reads per character of ``text``: constant when splitting is
    linear, growing with the size when a sentence's tokens are counted again and again."""
    counted = 0

    def count(piece: str) -> int:
        nonlocal counted
        counted += len(piece)
        return estimate_tokens(piece)

    passages = chunk_article(parse_article(Path("big.txt"), text, "0" * 16), count)
    assert passages[-1].end == len(text.rstrip())  # the whole text was split
    return counted / len(text)


PROSE = (
    "Le conseiller de Joe Biden, Jake Sullivan, s'est entretenu lundi avec M. Patrouchev. "
    "« Nous sommes prêts », a-t-il dit à 3.5 % près ! Les délégations arrivent la veille.\n\n"
)
# SPLIT_MAX_MB=64 (make reliability) measures up to 64 MB of prose; CI stops at 8
MAX_MB = int(os.environ.get("SPLIT_MAX_MB", "8"))
SMALL = 125_000  # characters: the smaller text whose splitting work is compared to 4 times it


@pytest.mark.slow
def test_splitting_prose_does_work_linear_in_its_size() -> None:
    sizes = [2.0**n for n in range(int(math.log2(MAX_MB)) + 1)]  # 1, 2, 4, ... MAX_MB

    growth = _growth(lambda n: (PROSE * (n // len(PROSE) + 1))[:n], sizes)

    print(f"prose {sizes[0]:g} to {sizes[-1]:g} MB: time grows as size^{growth:.2f}")
    work = [_counted_per_char((PROSE * (n // len(PROSE) + 1))[:n]) for n in (SMALL, 4 * SMALL)]
    assert work[1] <= 1.05 * work[0], f"characters counted per character: {work}"


@pytest.mark.slow
def test_splitting_one_endless_line_does_work_linear_in_its_size() -> None:
    line = PROSE.replace("\n", " ").replace(".", "").replace("!", "")
    sizes = [MAX_MB / 32 * 2.0**n for n in range(4)]  # 0.25 ... 2 MB in CI

    growth = _growth(lambda n: (line * (n // len(line) + 1))[:n], sizes)

    print(f"one line {sizes[0]:g} to {sizes[-1]:g} MB: time grows as size^{growth:.2f}")
    work = [_counted_per_char((line * (n // len(line) + 1))[:n]) for n in (SMALL, 4 * SMALL)]
    assert work[1] <= 1.05 * work[0], f"characters counted per character: {work}"
