"""The one place where the parts are wired together: model, index, retrieval, answers."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.chat import rewrite, rewrite_with
from rag.answer.corpus_scale import Calibration, calibrate, scale_of
from rag.answer.decision import Thresholds, provenance_warning
from rag.answer.extractive import Answer, compose, drain
from rag.answer.llm import LLM
from rag.answer.ranking import Evidence, gather
from rag.answer.reading import Reader, load_reader, mark_phrase, read
from rag.config import MAX_K, Settings
from rag.errors import ConfigError, InputError, NoIndex, RagError
from rag.index.embedding import Embedder
from rag.index.ingest import IngestReport, Progress, ingest
from rag.index.retrieval import Filters, Hit, retrieve
from rag.index.store import Store
from rag.index.watch import forget_embedded, published

MAX_QUESTION_CHARS = 2000
CHECK_SECONDS = 1.0  # embedded: how often to look for another process's ingest (a file read)
INGEST_NICENESS = 10  # added to the ingest thread's nice value: questions come first


@dataclass
class Pipeline:
    """A loaded model and index, shared read-only by every caller; load it once per process."""

    settings: Settings
    embedder: Embedder
    store: Store
    llm: LLM | None = None  # RAG_LLM's model, loaded on its first question
    reader: Reader | None = None  # RAG_READER=on: the trained reader, loaded with the model
    _write: threading.Lock = field(default_factory=threading.Lock)
    _refreshing: threading.Lock = field(default_factory=threading.Lock)
    _checked: float = field(default_factory=time.monotonic)
    _published: str = ""  # the snapshot and calibration this process last saw (rag/index/watch.py)

    def __post_init__(self) -> None:
        self._published = published(self.settings)

    @classmethod
    def load(
        cls,
        settings: Settings,
        build: bool = False,
        embedder: Embedder | None = None,
        progress: Progress | None = None,
        say: Callable[[str], None] | None = None,
    ) -> Pipeline:
        """The one start-up path of every face (CLI, chat, HTTP API, bench, evaluation).

        Opens the index, checks its model, loads the model once and warms it up so that the
        first question does not pay for it. With ``build``, a missing index is first built from
        settings.corpus_dir (``say`` hears what happens, ``progress`` the embedding). An
        already loaded ``embedder`` is reused.

        Example: Pipeline.load(Settings.from_env(), build=True).ask("Qui est Jake Sullivan ?")
        """
        try:
            store = Store.open(settings)
        except NoIndex:
            if not build:
                raise
            embedder = embedder or Embedder.load(settings.embed_model, settings.device)
            if say:
                say(f"No index in {settings.index_dir}/: ingesting {settings.corpus_dir}/ first")
            report = ingest([settings.corpus_dir], settings, embedder, progress=progress)
            if say:
                say(report.summary())
            store = Store.open(settings)
        store.check_model(settings.embed_model)  # before the slow part
        warning = provenance_warning(store.model, store.sentence_kind())
        if warning:
            _warn(warning)
        embedder = embedder or Embedder.load(settings.embed_model, settings.device)
        embedder.embed_queries(["warm-up"])  # the model's weights load lazily: load them now
        reader = load_reader(settings, say or _warn)
        return cls(settings, embedder, store, llm=LLM.from_settings(settings), reader=reader)

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        filters: Filters = Filters(),
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        """The top ``k`` passages; ``vector`` is the question's embedding, if already made."""
        return self._retrieve(self.current(), _check(question), k, filters, vector)

    def ask(
        self,
        question: str,
        history: list[str] | None = None,
        k: int | None = None,
        filters: Filters = Filters(),
        llm: bool = False,
    ) -> Answer:
        """Answer one question; ``history`` holds the previous user turns, oldest first.

        With ``llm``, the configured LLM writes the answer and its citations are checked.
        """
        return drain(self.stream(question, history, k, filters, llm))

    def stream(
        self,
        question: str,
        history: list[str] | None = None,
        k: int | None = None,
        filters: Filters = Filters(),
        llm: bool = False,
    ) -> Iterator[str | Answer]:
        """``ask``, streamed: pieces of the LLM's draft (with ``llm``), then the Answer."""
        if llm and self.llm is None:
            raise ConfigError("No LLM is configured: set RAG_LLM (see the README's LLM section)")
        question = _check(question)
        if llm and self.llm is not None:
            query = rewrite_with(self.llm, question, history or [])
        else:
            query = rewrite(question, history or [])
        store = self.current()  # one snapshot for the whole answer, even if an ingest swaps it
        vector = self.embedder.embed_queries([query])[0]  # once, for passages and sentences
        hits = self._retrieve(store, query, k, filters, vector)
        s = self.settings
        thresholds = Thresholds(s.abstain_threshold, s.sure_threshold)
        scale = scale_of(store)
        evidence = self._evidence(store, question, query, vector, hits)
        answer = compose(evidence, query, thresholds, scale)
        if self.reader is not None:
            answer = mark_phrase(answer, evidence, self.reader)
        if indexing := store.indexing():  # an ingest is storing vectors: say so
            answer = replace(answer, indexing=indexing)
        if not llm or self.llm is None:
            yield answer
            return
        from rag.answer.generate import generate

        yield from generate(answer, hits, self.llm, self.embedder)

    def refresh(self) -> None:
        """Pick up an ingest or a calibration made by another process (e.g. another machine on a
        Chroma server).

        The new index's keyword snapshot is brought up to date before readers switch to it.
        """
        with self._write:  # this process's own ingest is not news: wait until it is done
            self._checked = time.monotonic()
            now = published(self.settings)
            moved = now != self._published
            if moved:
                forget_embedded(self.settings)
            fresh = Store.open(self.settings)
            # its metadata names the last ingest, the model and the calibration (rag/answer/corpus_scale.py)
            if moved or fresh.collection.metadata != self.store.collection.metadata:
                fresh.check_model(self.embedder.name)
                fresh.keyword  # noqa: B018 (loaded or caught up now, not in a reader's question)
                self.store = fresh
            self._published = now

    def evidence(self, question: str) -> Evidence:
        """What the answer decision reads of ``question``'s retrieved sentences."""
        vector = self.embedder.embed_queries([question])[0]
        store = self.current()
        hits = self._retrieve(store, question, None, Filters(), vector)
        return self._evidence(store, question, question, vector, hits)

    def _evidence(
        self, store: Store, question: str, query: str, vector: np.ndarray, hits: list[Hit]
    ) -> Evidence:
        """The sentences of ``hits``, featured and ranked, then read by the reader if it is on:
        the one chain that answering and `rag calibrate` share."""
        evidence = gather(question, query, vector, hits, self.embedder, store)
        return read(evidence, self.reader) if self.reader else evidence

    def calibrate(self, questions: list[str]) -> Calibration:
        """`rag calibrate`: measure and keep this index's own answer-feature scale from
        ``questions`` its users would ask (no answers needed)."""
        rows = [row for q in questions if (row := self.evidence(_check(q)).features())]
        return calibrate(self.store, rows, self.settings.abstain_threshold)

    def current(self) -> Store:
        """The index to answer from, refreshed in the background after another process's ingest.

        Embedded: checked every CHECK_SECONDS (one small file read); with a Chroma server,
        where other machines' ingests leave no local trace, every RAG_REFRESH_SECONDS.
        """
        store = self.store
        since = time.monotonic() - self._checked
        if self.settings.chroma_url:
            due = since > self.settings.refresh_seconds
        else:
            due = since > CHECK_SECONDS and published(self.settings) != self._published
            self._checked = time.monotonic() if since > CHECK_SECONDS else self._checked
        if due and self._refreshing.acquire(blocking=False):
            self._checked = time.monotonic()
            threading.Thread(target=self._refresh_in_background, daemon=True).start()
        return store

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        except RagError as exc:  # e.g. the server is down: keep answering from what we have
            print(f"warning: index refresh failed, retrying later: {exc}", file=sys.stderr)
        finally:
            self._refreshing.release()

    def _retrieve(
        self,
        store: Store,
        query: str,
        k: int | None,
        filters: Filters,
        vector: np.ndarray | None = None,
    ) -> list[Hit]:
        if k is not None and not 1 <= k <= MAX_K:
            raise InputError(f"k={k}: ask for 1 to {MAX_K} passages")
        top_k, candidates = k or self.settings.top_k, self.settings.candidates
        return retrieve(query, store, self.embedder, top_k, filters, candidates, vector)

    def ingest(
        self, paths: list[Path], rebuild: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Ingest, switching readers to the new index as soon as its new articles are
        searchable by keyword, then again when their vectors are stored.

        The work runs in a thread of lower CPU priority, its encoder calls after questions'.
        """
        with self._write:
            if published(self.settings) != self._published:  # another process ingested
                forget_embedded(self.settings)

            def searchable() -> None:  # readers find the new articles by keyword meanwhile
                self.store = Store.open(self.settings)

            report = _niced(
                lambda: ingest(paths, self.settings, self.embedder, rebuild, progress, searchable)
            )
            self.store = Store.open(self.settings)
            self._published = published(self.settings)
        return report

    def articles(self) -> list[dict[str, Any]]:
        """One row per indexed article: file, date, title, passages, path."""
        rows: dict[str, dict[str, Any]] = {}
        for p in self.store.keyword.passages:
            row = rows.setdefault(
                p.path,
                {"file": p.file, "date": p.date, "title": p.title, "passages": 0, "path": p.path},
            )
            row["passages"] += 1
        return sorted(rows.values(), key=lambda r: (r["file"], r["path"]))


def _niced(work: Callable[[], IngestReport]) -> IngestReport:
    """``work()`` in a thread of lower CPU priority (Linux threads have their own nice value)."""
    result: list[IngestReport] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            me = threading.get_native_id()
            os.setpriority(
                os.PRIO_PROCESS, me, os.getpriority(os.PRIO_PROCESS, me) + INGEST_NICENESS
            )
        except (OSError, AttributeError):  # not permitted, or not Linux: run at normal priority
            pass
        try:
            result.append(work())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    # the caller's context goes along: a web UI's progress bar finds its request there
    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name="rag-ingest", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def _check(question: str) -> str:
    question = " ".join(question.split())
    if not question:
        raise InputError('The question is empty: type a question, e.g. "Qui est Jake Sullivan ?"')
    if len(question) > MAX_QUESTION_CHARS:
        raise InputError(f"The question is longer than {MAX_QUESTION_CHARS} characters: shorten it")
    return question
