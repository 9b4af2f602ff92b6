"""rag/index/retrieval.py: hybrid dense + BM25 retrieval over the seeds, with filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import Settings
from rag.errors import InputError
from rag.index.bm25 import KeywordIndex
from rag.index.chunking import Passage
from rag.index.retrieval import RRF_K, Filters, Hit, retrieve
from rag.index.store import Store
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


# --- reciprocal rank fusion, on a real Chroma of three hand-made vectors (no model) -----------

TEXTS = (
    "Les ours bruns vivent dans la taïga sibérienne.",
    "Le zèbre court dans la savane africaine.",
    "Le festival de jazz accueille des musiciens.",
)
# cosine with QUERY: 1.0, 0.8, 0.0, so the dense ranking is ours, zebre, jazz
VECTORS = ([1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.0, 0.0, 1.0])
QUERY = np.array([1.0, 0.0, 0.0])


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Store:
    passages = [
        Passage(f"p{i}", text, f"f{i}.txt", f"/x/f{i}.txt", "2021-06", "t", 0, len(text), "0")
        for i, text in enumerate(TEXTS)
    ]
    store = Store.create(Settings(index_dir=tmp_path_factory.mktemp("rrf") / "index"), "hand")
    store.upsert(passages, [list(v) for v in VECTORS])
    store.publish(KeywordIndex.build(passages), "hand-made")
    return store


def fused(question: str, store: Store, **options: Any) -> list[Hit]:
    """``retrieve`` with the query's vector given: the embedder is never asked."""
    return retrieve(question, store, None, vector=QUERY, **options)  # type: ignore[arg-type]


def test_a_passage_in_both_rankings_beats_the_first_of_one_ranking_only(three: Store) -> None:
    hits = fused("zèbre", three, k=3)  # "zèbre": second by cosine, the only BM25 match

    assert [h.passage.id for h in hits] == ["p1", "p0", "p2"]


def test_fused_score_sums_one_over_k_plus_rank_in_each_ranking(three: Store) -> None:
    hits = fused("zèbre", three, k=3)

    assert [h.score for h in hits] == pytest.approx(
        [1 / (RRF_K + 2) + 1 / (RRF_K + 1), 1 / (RRF_K + 1), 1 / (RRF_K + 3)]
    )


def test_hits_keep_the_cosine_and_bm25_scores_they_came_from(three: Store) -> None:
    by_id = {h.passage.id: h for h in fused("zèbre", three, k=3)}

    assert by_id["p0"].dense == pytest.approx(1.0) and by_id["p0"].keyword == 0.0
    assert by_id["p1"].dense == pytest.approx(0.8) and by_id["p1"].keyword > 0
    assert by_id["p2"].dense == pytest.approx(0.0, abs=1e-6)


def test_without_keyword_matches_the_dense_ranking_stands(three: Store) -> None:
    assert [h.passage.id for h in fused("hippopotame", three, k=3)] == ["p0", "p1", "p2"]


def test_k_keeps_the_best_fused_hits(three: Store) -> None:
    assert [h.passage.id for h in fused("zèbre", three, k=1)] == ["p1"]


def test_filters_restrict_both_rankings(three: Store) -> None:
    hits = fused("zèbre", three, k=3, filters=Filters(files=("f0.txt", "f2.txt")))

    assert [h.passage.id for h in hits] == ["p0", "p2"]
    assert all(h.keyword == 0.0 for h in hits)
