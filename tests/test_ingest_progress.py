"""rag/index/ingest.py's progress: the bar counts passages as they are embedded (issue #23: it
showed 26/26 at once, after the slow part)."""

from __future__ import annotations

from pathlib import Path

from rag.config import Settings
from rag.index.embedding import Embedder
from rag.index.ingest import ingest


def test_progress_starts_before_embedding_and_advances_passage_by_passage(
    tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=small_corpus)
    calls: list[tuple[int, int]] = []

    report = ingest([small_corpus], settings, embedder, progress=lambda *c: calls.append(c))

    total = report.embedded
    assert total >= 3
    assert calls[0] == (0, total)  # the bar appears before the first passage is embedded
    assert calls[-1] == (total, total)
    done = [d for d, _ in calls]
    assert done == sorted(set(done)) and len(done) >= 3, calls  # it moves in between
    assert {t for _, t in calls} == {total}


def test_an_ingest_with_nothing_to_embed_shows_no_bar(
    tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    settings = Settings(index_dir=tmp_path / "index", corpus_dir=small_corpus)
    ingest([small_corpus], settings, embedder)
    calls: list[tuple[int, int]] = []

    ingest([small_corpus], settings, embedder, progress=lambda *c: calls.append(c))

    assert calls == []
