"""The speed benchmark (`rag bench`): ingest cold and warm, then question latency, on seeds/."""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.embedding import Embedder
from rag.ingest import ingest
from rag.pipeline import Pipeline

QUESTIONS = [
    "Qui est le conseiller à la sécurité nationale de Joe Biden ?",
    "Who is the Kremlin spokesman?",
    "Où Antony Blinken se trouvait-il pour évoquer le dossier ukrainien ?",
    "Quand Joe Biden et Vladimir Poutine doivent-ils se parler en décembre 2021 ?",
    "Quelle est la recette de la blanquette de veau ?",
]


def run(settings: Settings, quiet: bool = False, rounds: int = 3) -> dict[str, Any]:
    """Timings in seconds, measured in this process on a temporary index of ``corpus_dir``."""
    started = time.perf_counter()
    embedder = Embedder.load(settings.embed_model)
    load = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as scratch:
        local = replace(settings, index_dir=Path(scratch), chroma_url="")
        first = ingest([settings.corpus_dir], local, embedder)
        again = ingest([settings.corpus_dir], local, embedder)
        pipeline = Pipeline.load(local, embedder=embedder)  # the model loaded once
        rounds_s = [[_timed(pipeline, q) for q in QUESTIONS] for _ in range(rounds)]
    return {
        "model": embedder.name,
        "model_load_s": round(load, 3),
        "ingest_first_s": round(first.seconds, 3),
        "ingest_first_passages": first.embedded,
        "ingest_again_s": round(again.seconds, 3),
        "ingest_again_embedded": again.embedded,
        "ingest_again_ratio": round(again.seconds / first.seconds, 3),
        # first round: new sentences get embedded; later rounds reuse the sentence cache
        "ask_first_round_median_s": round(statistics.median(rounds_s[0]), 3),
        "ask_repeat_median_s": round(statistics.median(sum(rounds_s[1:], [])), 3),
        "ask_max_s": round(max(sum(rounds_s, [])), 3),
        "questions_timed": len(sum(rounds_s, [])),
    }


def _timed(pipeline: Pipeline, question: str) -> float:
    started = time.perf_counter()
    pipeline.ask(question)
    return time.perf_counter() - started
