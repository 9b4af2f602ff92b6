"""The archive benchmark (`rag bench --archive N`): how soon a newsroom archive answers.

The archive holds the articles of a corpus with gold questions (cnil-faq: 446 real articles)
and new articles recombined from the sentences of that corpus and of ``corpus_dir`` (seeds/),
up to N articles; sentences of the gold test questions' articles are left out of the new ones,
so that each answer stays in the article the gold names. The
real ``ingest`` reads it keyword-first. The benchmark notes when the archive became searchable,
asks the gold test questions there (keyword only), again halfway through the vectors and at the
end; the first of them answered with the gold file cited first gives the time to first answer.

Vectors: the gold corpus's passages are embedded for real; the recombined ones reuse their
sentences' vectors (recombine.ReusedVectors), so the time to full vectors is extrapolated from
ingest's rate on real passages, measured in the same run against the bare encoder's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.config import Settings
from rag.index.chunking import chunk_article
from rag.index.corpus import Article, find_files, read_article
from rag.index.embedding import Embedder
from rag.index.info import disk_size
from rag.index.ingest import ingest
from rag.measure.bench import ingest_vs_raw
from rag.measure.evaluation import load_gold
from rag.measure.recombine import Archive, ReusedVectors, sentence_pool
from rag.pipeline import Pipeline

SAMPLE_ARTICLES = 40  # real articles ingested for real to measure ingest against the encoder
FIRST_ANSWER_TRIES = 30  # gold questions asked in turn until one is answered right


class Mixed(ReusedVectors):
    """Real vectors for the ``genuine`` passages (each embedded once: recombined articles repeat
    some of them word for word), reused sentence vectors for the others."""

    def __init__(self, real: Embedder, genuine: set[str]) -> None:
        super().__init__(real)
        self.genuine = genuine
        self.made: dict[str, np.ndarray] = {}  # of the genuine passages embedded so far

    def embed_with_sentences(
        self,
        texts: list[str],
        spans: list[list[tuple[int, int]]],
        batch_size: int = 0,
        background: bool = False,
    ) -> list[np.ndarray]:
        real = {t: own for t, own in zip(texts, spans) if t in self.genuine and t not in self.made}
        other = {t: own for t, own in zip(texts, spans) if t not in self.genuine}
        found = dict(self.made)
        if real:
            made = self.real.embed_with_sentences(list(real), list(real.values()), batch_size)
            self.made |= zip(real, made)
            found |= self.made
        if other:
            reused = super().embed_with_sentences(list(other), list(other.values()), batch_size)
            found |= zip(other, reused)
        return [found[t] for t in texts]


def run(
    settings: Settings,
    articles: int,
    gold_file: Path,
    say: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Ingest an archive of ``articles`` articles around the corpus beside ``gold_file``."""
    corpus = gold_file.parent / "corpus"
    gold = [g for g in load_gold(gold_file, "test") if g["answerable"]]
    real = Embedder.load(settings.embed_model, settings.device)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        local = replace(settings, index_dir=root / "index", chroma_url="")
        say(f"ingest of {SAMPLE_ARTICLES} real articles, then the bare encoder on them")
        sample = root / "sample"
        sample.mkdir()
        for path in find_files([corpus])[:SAMPLE_ARTICLES]:
            shutil.copy(path, sample)
        rate, _, _ = ingest_vs_raw(sample, replace(local, index_dir=root / "sample-index"), real)
        say(f"writing an archive of {articles} articles")
        shutil.copytree(corpus, root / "articles" / "real")
        # the answers stay where the gold says: no recombined article repeats a sentence of them
        answers = frozenset(s for g in gold for s in g["sources"])
        book = Archive(root / "articles", sentence_pool([corpus, settings.corpus_dir], answers))
        book.add_articles(articles - len(find_files([corpus])), "recombined")
        mixed = Mixed(real, _passage_texts(corpus))
        started = time.perf_counter()
        mixed.learn(book.pool)
        learn = time.perf_counter() - started
        stages = _ingest_in_stages(root / "articles", local, mixed, real, gold, say)
        size = disk_size(local.index_dir)
    passages = stages.pop("passages")
    return {
        "model": real.name,
        "device": real.device,
        "articles": articles,
        "passages": passages,
        "gold_questions": len(gold),
        **rate,
        "pool_sentences_embed_s": round(learn, 1),
        **stages,
        "full_vectors_estimate_s": round(passages / rate["ingest_passages_per_s"], 0),
        "index_mb": round(size / 2**20, 1),
        "index_kb_per_passage": round(size / 1024 / passages, 2),
    }


def _ingest_in_stages(
    folder: Path,
    settings: Settings,
    mixed: Embedder,
    real: Embedder,
    gold: list[dict[str, Any]],
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Ingest ``folder`` keyword-first; measure the gold questions when it becomes searchable,
    halfway through its vectors and once complete."""
    figures: dict[str, Any] = {}
    started = time.perf_counter()

    def stage(name: str) -> None:
        figures[f"{name}_s"] = round(time.perf_counter() - started, 1)
        say(f"{name} after {figures[f'{name}_s']} s: asking {len(gold)} questions")
        figures.update(_asked(name, Pipeline.load(settings, embedder=real), gold, started))
        say(f"{name}: hit@5 {figures[f'{name}_hit5']}")

    def halfway(done: int, total: int) -> None:
        if total and done >= total // 2 and "vectors_half_s" not in figures:
            stage("vectors_half")

    report = ingest(
        [folder], settings, mixed, progress=halfway, searchable=lambda: stage("searchable")
    )
    stage("complete")
    return {"passages": report.passages, **figures}


def _asked(
    name: str, pipeline: Pipeline, gold: list[dict[str, Any]], started: float
) -> dict[str, Any]:
    """hit@5 of ``gold`` now; at the first stage, first, when the first right answer came."""
    figures: dict[str, Any] = {}
    if name == "searchable":
        for g in gold[:FIRST_ANSWER_TRIES]:
            answer = pipeline.ask(g["question"])
            if not answer.abstained and answer.sources[0].file in g["sources"]:
                figures["first_right_answer_s"] = round(time.perf_counter() - started, 1)
                figures["first_right_question"] = g["question"]
                break
    hits = [
        any(h.passage.file in g["sources"] for h in pipeline.retrieve(g["question"], k=5))
        for g in gold
    ]
    figures[f"{name}_hit5"] = round(float(np.mean(hits)), 3)
    return figures


def _passage_texts(corpus: Path) -> set[str]:
    articles = [read_article(path) for path in find_files([corpus])]
    return {p.text for a in articles if isinstance(a, Article) for p in chunk_article(a)}
