"""The speed benchmark (`rag bench`): on seeds/, or on archives of N passages (``scale``).

``scale`` builds each archive with rag/measure/recombine.py, then measures through the code a user
runs: ``ingest`` on the archive's real files, and ``Pipeline`` in a fresh process for load time,
memory and latency. Latencies are in milliseconds, sizes in MB.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.errors import InputError
from rag.index.embedding import Embedder
from rag.index.info import disk_size
from rag.index.ingest import ingest
from rag.index.store import Store
from rag.measure.recombine import Archive, ReusedVectors, sentence_pool
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
    embedder = Embedder.load(settings.embed_model, settings.device)
    load = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as scratch:
        local = replace(settings, index_dir=Path(scratch), chroma_url="")
        first = ingest([settings.corpus_dir], local, embedder)
        again = ingest([settings.corpus_dir], local, embedder)
        pipeline = Pipeline.load(local, embedder=embedder)  # the model loaded once
        rounds_s = [[_timed(pipeline, q) for q in QUESTIONS] for _ in range(rounds)]
        reader = _reader_cost(pipeline, rounds)
    return {
        "model": embedder.name,
        "model_load_s": round(load, 3),
        "ingest_first_s": round(first.seconds, 3),
        "ingest_first_passages": first.embedded,
        "ingest_again_s": round(again.seconds, 3),
        "ingest_again_embedded": again.embedded,
        "ingest_again_ratio": round(again.seconds / first.seconds, 3),
        # first round: questions never asked before; later rounds: the same questions again
        "ask_first_round_median_s": round(statistics.median(rounds_s[0]), 3),
        "ask_repeat_median_s": round(statistics.median(sum(rounds_s[1:], [])), 3),
        "ask_max_s": round(max(sum(rounds_s, [])), 3),
        "questions_timed": len(sum(rounds_s, [])),
        **reader,
    }


def _reader_cost(pipeline: Pipeline, rounds: int) -> dict[str, Any]:
    """What the reader (RAG_READER, on by default) adds to a question: the same questions
    without and with it, one after the other, in this one run."""
    from rag.answer.reading import reader_unavailable

    why = reader_unavailable()
    if why:
        return {"reader": f"not measured: {why}"}
    from rag.reader.model import shipped

    started = time.perf_counter()
    reading, unread = replace(pipeline, reader=shipped()), replace(pipeline, reader=None)
    load = time.perf_counter() - started
    off, on = [], []
    for question in QUESTIONS * rounds:
        off.append(_timed(unread, question))
        on.append(_timed(reading, question))
    added = statistics.median(b - a for a, b in zip(off, on))
    return {
        "reader_load_s": round(load, 3),
        "ask_without_reader_median_s": round(statistics.median(off), 3),
        "ask_with_reader_median_s": round(statistics.median(on), 3),
        "reader_added_median_ms": round(1000 * added, 1),
    }


def _timed(pipeline: Pipeline, question: str) -> float:
    return _took(pipeline.ask, question)


METHOD = (
    "articles of {corpus}/ cut into {sentences} sentences, recombined into new articles "
    "(8-20 one-sentence paragraphs, random order and date); each sentence embedded once for real, a bulk "
    "passage's vector = normalised mean of its sentences' vectors (cosine to its real vector: "
    "{fidelity} on the {sample} passages embedded for real), its sentences' vectors those "
    "sentences embedded alone (not in context: a lookup costs the same); the vocabulary stays that of "
    "{corpus}/, so BM25 posting lists are longer and the vocabulary smaller than a real archive's"
)
BULK_BATCH = 1024  # vectors are free in the bulk build: fewer, larger Chroma writes


@dataclass(frozen=True)
class Plan:
    """Questions per measurement; each question of the gold file is asked once (cold)."""

    retrieve: int = 40
    cold: int = 60
    warm: int = 20  # cold questions asked again: their sentences are cached by then
    askers: int = 8
    per_asker: int = 5

    @property
    def questions(self) -> int:
        return 1 + self.retrieve + self.cold + self.askers * self.per_asker


def scale(
    settings: Settings,
    sizes: list[int],
    questions: list[str],
    plan: Plan = Plan(),
    sample: int = 96,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Build archives of ``sizes`` passages one after the other (each grows the last), measure each."""
    if len(set(questions)) < plan.questions:
        raise InputError(f"The benchmark asks {plan.questions} distinct questions: give more")
    real = Embedder.load(settings.embed_model, settings.device)
    pool = sentence_pool([settings.corpus_dir])
    with tempfile.TemporaryDirectory() as scratch:
        local = replace(settings, index_dir=Path(scratch) / "index", chroma_url="")
        archive = Archive(Path(scratch) / "articles", pool)
        say(f"ingest of {sample} passages embedded for real, then the raw encoder on them")
        throughput, texts, vectors = ingest_vs_raw(archive.write(sample, "sample"), local, real)
        started = time.perf_counter()
        reused = ReusedVectors(real).learn(pool)
        throughput["pool_sentences_embed_s"] = round(time.perf_counter() - started, 2)
        fidelity = float(np.mean(np.sum(reused.embed_passages(texts) * vectors, axis=1)))
        rows = []
        for size in sorted(sizes):
            say(f"growing the archive to {size} passages")
            rows.append(_grow(size, archive, local, reused, list(dict.fromkeys(questions)), plan))
    method = METHOD.format(
        corpus=settings.corpus_dir, sentences=len(pool), fidelity=f"{fidelity:.3f}", sample=sample
    )
    return {
        "model": real.name,
        "device": real.device,
        "method": method,
        **throughput,
        "sentences_embedded": reused.embedded,  # the pool, and any sentence the chunker cut
        "load_average_1min_at_end": round(os.getloadavg()[0], 1),  # the machine was not ours alone
        "sizes": rows,
    }


def ingest_vs_raw(
    folder: Path, settings: Settings, real: Embedder
) -> tuple[dict[str, Any], list[str], np.ndarray]:
    """Ingest ``folder`` for real, then time the bare encoder on the same passages.

    Chroma is imported and the model's late chunker loaded first: once per process, not per
    passage (the import alone, about 1 s, was 13 % of a 96-passage ingest).
    """
    import chromadb  # noqa: F401

    real.embed_with_sentences(["Une phrase."], [[(0, 11)]])

    report = ingest([folder], settings, real)
    texts = [p.text for p in Store.open(settings).keyword.passages]
    started = time.perf_counter()
    vectors = real.embed_passages(texts)
    raw = len(texts) / (time.perf_counter() - started)
    rate = report.embedded / report.seconds
    figures = {
        "ingest_passages_per_s": round(rate, 2),
        "encoder_passages_per_s": round(raw, 2),
        "ingest_to_encoder_ratio": round(rate / raw, 3),
    }
    return figures, texts, vectors


def _grow(
    size: int,
    archive: Archive,
    settings: Settings,
    reused: ReusedVectors,
    questions: list[str],
    plan: Plan,
) -> dict[str, Any]:
    started = time.perf_counter()
    if archive.passages < size:
        bulk = archive.write(size - archive.passages, f"to-{size}")
        ingest([bulk], replace(settings, batch_size=BULK_BATCH), reused)
    build = time.perf_counter() - started
    top = archive.write(1, f"one-{size}")
    one = ingest([top], settings, reused.real)
    for article in top.rglob("*.txt"):  # then the same article deleted
        article.unlink()
    gone = ingest([top], settings, reused.real)
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as fresh:  # a process that never saw it
        figures = fresh.submit(probe, settings, questions, plan).result()
    return {
        "passages": one.passages,
        "build_s": round(build, 1),
        "ingest_one_article_s": round(one.seconds, 2),
        "delete_one_article_s": round(gone.seconds, 2),
        **figures,
    }


def probe(settings: Settings, questions: list[str], plan: Plan) -> dict[str, Any]:
    """Load the pipeline of ``settings`` and time it; run in a fresh process (see ``_grow``)."""
    started = time.perf_counter()
    pipeline = Pipeline.load(settings)
    figures: dict[str, Any] = {"pipeline_load_s": round(time.perf_counter() - started, 3)}
    started = time.perf_counter()
    keyword = pipeline.store.keyword
    figures["bm25_load_s"] = round(time.perf_counter() - started, 3)
    figures["first_ask_ms"] = _ms(_timed(pipeline, questions[0]))
    rest = iter(questions[1:])
    asked = [next(rest) for _ in range(plan.retrieve + plan.cold)]
    figures |= _stats("retrieve", [_took(pipeline.retrieve, q) for q in asked[: plan.retrieve]])
    cold = asked[plan.retrieve :]
    figures |= _stats("ask_cold", [_cold(pipeline, q) for q in cold])
    figures |= _stats("ask_warm", [_timed(pipeline, q) for q in cold[: plan.warm]])
    together = [next(rest) for _ in range(plan.askers * plan.per_asker)]
    figures |= _stats("ask_concurrent", _concurrent(pipeline, together, plan.askers))
    # what a Chroma-server instance without a snapshot does (and every ingest did before
    # segments): read every passage back, then tokenize and index them all
    started = time.perf_counter()
    sum(1 for _ in pipeline.store.records(documents=True))
    figures["chroma_read_all_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    type(keyword).build(keyword.passages)
    figures["bm25_build_s"] = round(time.perf_counter() - started, 3)
    figures |= _memory(pipeline)
    figures["plan"] = asdict(plan)
    return figures


def _concurrent(pipeline: Pipeline, questions: list[str], askers: int) -> list[float]:
    """Latencies of ``askers`` users asking at once, each its share of ``questions`` in turn."""
    shares = [questions[i::askers] for i in range(askers)]
    with ThreadPoolExecutor(askers) as pool:
        timings = pool.map(lambda share: [_cold(pipeline, q) for q in share], shares)
        return [t for share in timings for t in share]


def _cold(pipeline: Pipeline, question: str) -> float:
    pipeline.embedder.forget()
    return _timed(pipeline, question)


def _took(call: Callable[[str], object], question: str) -> float:
    started = time.perf_counter()
    call(question)
    return time.perf_counter() - started


def _stats(name: str, seconds: list[float]) -> dict[str, float]:
    return {
        f"{name}_p50_ms": _ms(float(np.percentile(seconds, 50))),
        f"{name}_p95_ms": _ms(float(np.percentile(seconds, 95))),
    }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _memory(pipeline: Pipeline) -> dict[str, float]:
    index = pipeline.settings.index_dir
    snapshot = sum(f.stat().st_size for f in (index / "keyword").rglob("*") if f.is_file())
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {
        "rss_mb": round(rss / 1024, 1),
        "rss_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "index_mb": round(disk_size(pipeline.settings.index_dir) / 2**20, 1),
        "bm25_snapshot_mb": round(snapshot / 2**20, 1),
    }
