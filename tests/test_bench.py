"""The speed benchmark: an unchanged corpus re-ingests in under 10% of the first ingest."""

from __future__ import annotations

from pathlib import Path

from rag.bench import run
from rag.config import Settings

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_reingest_without_change_is_free(tmp_path: Path) -> None:
    result = run(Settings(index_dir=tmp_path / "unused", corpus_dir=SEEDS), rounds=2)
    assert result["ingest_first_passages"] > 0
    assert result["ingest_again_embedded"] == 0
    assert result["ingest_again_ratio"] < 0.10, result
    assert result["ask_repeat_median_s"] <= result["ask_first_round_median_s"], result
