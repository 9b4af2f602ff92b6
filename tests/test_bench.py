"""The speed benchmark: on seeds/, and on small recombined archives measured end to end."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.measure.bench import QUESTIONS, Plan, run, scale
from rag.measure.benchreport import plot, table
from rag.measure.evaluation import load_gold

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = ROOT / "evals" / "gold.jsonl"


def test_reingest_without_change_is_free(tmp_path: Path) -> None:
    result = run(Settings(index_dir=tmp_path / "unused", corpus_dir=SEEDS), rounds=2)
    assert result["ingest_first_passages"] > 0
    assert result["ingest_again_embedded"] == 0  # nothing changed: nothing embedded again
    print(f"re-ingest took {result['ingest_again_ratio']:.1%} of the first ingest's time")
    assert result["questions_timed"] == 2 * len(QUESTIONS)
    assert 0 < result["ask_first_round_median_s"] <= result["ask_max_s"]


@pytest.mark.slow
def test_scale_builds_and_measures_small_archives(tmp_path: Path) -> None:
    settings = Settings(index_dir=tmp_path / "unused", corpus_dir=SEEDS)
    questions = [item["question"] for item in load_gold(GOLD)]
    plan = Plan(retrieve=3, cold=3, warm=2, askers=2, per_asker=2)

    result = scale(settings, [60, 150], questions, plan, sample=4)

    small, large = result["sizes"]
    assert 60 <= small["passages"] < 150 <= large["passages"] < 170, result
    assert result["ingest_to_encoder_ratio"] > 0
    print(f"ingest ran at {result['ingest_to_encoder_ratio']:.2f} x the bare encoder's rate")
    assert "normalised mean of its sentences' vectors" in result["method"]
    for row in (small, large):
        assert row["plan"]["askers"] == 2
        for name in ("retrieve", "ask_cold", "ask_warm", "ask_concurrent"):
            assert 0 < row[f"{name}_p50_ms"] <= row[f"{name}_p95_ms"], (name, row)
        assert row["pipeline_load_s"] > 0 and row["bm25_load_s"] > 0 and row["bm25_build_s"] > 0
        assert row["delete_one_article_s"] > 0
        assert row["rss_mb"] > 50 and row["index_mb"] > 0
    assert large["index_mb"] > small["index_mb"]
    lines = table(result).splitlines()
    assert lines[2].startswith("| 6") and lines[3].startswith("| 15")
    plot(result, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_archive_is_searchable_by_keyword_first_and_measured_at_each_stage(
    tmp_path: Path,
) -> None:
    from rag.measure.archive import run as archive

    shutil.copytree(SEEDS, tmp_path / "gold" / "corpus")
    shutil.copy(GOLD, tmp_path / "gold" / "questions.jsonl")
    other = tmp_path / "other"  # the sentences of the recombined articles: not the gold's
    other.mkdir()
    for path in sorted((ROOT / "evals" / "cnil-faq" / "corpus").glob("cnil_00[0-2]*.txt")):
        shutil.copy(path, other)
    settings = Settings(index_dir=tmp_path / "unused", corpus_dir=other)

    result = archive(settings, 40, tmp_path / "gold" / "questions.jsonl")

    assert result["articles"] == 40 and result["passages"] > 40
    assert 0 < result["searchable_s"] <= result["first_right_answer_s"] <= result["complete_s"]
    assert result["searchable_s"] <= result["vectors_half_s"] <= result["complete_s"]
    for stage in ("searchable", "vectors_half", "complete"):
        assert 0 < result[f"{stage}_hit5"] <= 1
    assert result["ingest_to_encoder_ratio"] > 0 and result["full_vectors_estimate_s"] > 0
    print(
        f"searchable after {result['searchable_s']} s, complete after {result['complete_s']} s; "
        f"hit@5 {result['searchable_hit5']} -> {result['complete_hit5']}"
    )
