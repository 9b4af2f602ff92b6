"""rag/index/retrieval.py: hybrid dense + BM25 retrieval over the seeds, with filters."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import InputError
from rag.index.retrieval import Filters
from rag.pipeline import Pipeline

SULLIVAN = "002_c1d3609a954ad6a6.txt"
DIPLOMATIE = "003_b5fe129bdbb88210.txt"
TAIGA = "004_914667f3d7e9b219.txt"


def files(
    pipeline: Pipeline, question: str, k: int | None = None, filters: Filters = Filters()
) -> list[str]:
    return [h.passage.file for h in pipeline.retrieve(question, k, filters)]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Qui est le conseiller à la sécurité nationale de Joe Biden ?", SULLIVAN),
        ("Delaware", DIPLOMATIE),
        ("Crise en Ukraine voie diplomatique", DIPLOMATIE),
        ("taïga", TAIGA),
        ("Pourquoi Poutine était-il indisponible pendant le weekend ?", TAIGA),
    ],
)
def test_right_article_comes_first(seeds_pipeline: Pipeline, question: str, expected: str) -> None:
    assert files(seeds_pipeline, question)[0] == expected


def test_english_question_finds_the_french_article(seeds_pipeline: Pipeline) -> None:
    assert SULLIVAN in files(seeds_pipeline, "Who is Joe Biden's national security adviser?")[:3]


def test_typo_and_missing_accents_still_find_the_article(seeds_pipeline: Pipeline) -> None:
    assert files(seeds_pipeline, "taiga")[0] == TAIGA
    assert files(seeds_pipeline, "conseiler securite nationale Biden")[0] == SULLIVAN


def test_hits_carry_scores_and_offsets_into_the_file(seeds_pipeline: Pipeline) -> None:
    hits = seeds_pipeline.retrieve("sommet Biden Poutine dans un pays tiers", k=4)

    assert len(hits) == 4
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    for hit in hits:
        p = hit.passage
        assert p.date and p.file.endswith(".txt")
        assert Path(p.path).read_text(encoding="utf-8")[p.start : p.end] == p.text
        assert -1.0 <= hit.dense <= 1.0 and hit.keyword >= 0
        assert hit.dense > 0 or hit.keyword > 0


def test_k_limits_the_number_of_hits(seeds_pipeline: Pipeline) -> None:
    assert len(seeds_pipeline.retrieve("Biden", k=2)) == 2
    assert len(seeds_pipeline.retrieve("Biden")) == seeds_pipeline.settings.top_k


def test_date_from_keeps_later_articles_only(seeds_pipeline: Pipeline) -> None:
    found = files(seeds_pipeline, "Biden et Poutine au téléphone", k=10, filters=Filters("2021-12"))

    assert found and set(found) == {DIPLOMATIE}


def test_date_range_is_inclusive(seeds_pipeline: Pipeline) -> None:
    march = Filters(date_from="2021-03", date_to="2021-03")
    april = Filters(date_from="2021-04", date_to="2021-04")

    assert set(files(seeds_pipeline, "Biden Poutine", k=10, filters=march)) == {TAIGA}
    assert set(files(seeds_pipeline, "Biden Poutine", k=20, filters=april)) == {
        "000_10bf3600e7f0d36b.txt",
        "001_3640c89e8547a8b9.txt",
        SULLIVAN,
    }


def test_files_filter_restricts_the_search(seeds_pipeline: Pipeline) -> None:
    only = Filters(files=(TAIGA, DIPLOMATIE))

    found = files(seeds_pipeline, "Qui est le conseiller de Joe Biden ?", k=10, filters=only)

    assert found and set(found) <= {TAIGA, DIPLOMATIE}


def test_filter_that_matches_nothing_returns_nothing(seeds_pipeline: Pipeline) -> None:
    assert seeds_pipeline.retrieve("Biden", filters=Filters(date_from="2030-01")) == []


@pytest.mark.parametrize("date", ["2021-13", "2021-4", "12/2021", "2021"])
def test_bad_date_is_an_input_error_that_shows_the_format(date: str) -> None:
    with pytest.raises(InputError, match="YYYY-MM"):
        Filters(date_from=date)
    with pytest.raises(InputError, match="2021-04"):
        Filters(date_to=date)


def test_empty_question_is_refused(seeds_pipeline: Pipeline) -> None:
    with pytest.raises(InputError, match="empty"):
        seeds_pipeline.retrieve(" \n\t ")
