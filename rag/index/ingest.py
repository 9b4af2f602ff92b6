"""Incremental, crash-safe ingest: files -> passages -> embeddings -> Chroma + keyword index.

Passage ids are derived from the file's path, its content hash and the passage number, so the
work left is a set difference: ids wanted but not stored are embedded, ids stored but no longer
wanted are deleted. An interrupted run therefore leaves a state the next run simply finishes.
"""

from __future__ import annotations

import fcntl
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from rag.config import Settings
from rag.errors import IndexCorrupt, IndexReadOnly, InputError, NoIndex
from rag.index.chunking import Passage, answer_sentences, chunk_article
from rag.index.corpus import Article, Skipped, find_files, printable, read_article
from rag.index.embedding import Embedder
from rag.index.store import Store, passage_of

Progress = Callable[[int, int], None]
PROGRESS_SECONDS = 1.0  # about how often a progress bar moves while passages are embedded


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_dates: list[str] = field(default_factory=list)  # indexed without their malformed date
    passages: int = 0
    embedded: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        """One line. Example: "added 5, updated 0, removed 0, unchanged 0, skipped 0; 24 passages..."."""
        skipped = "; ".join(f"{printable(s.path.name)}: {s.reason}" for s in self.skipped)
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {len(self.unchanged)}, skipped {len(self.skipped)}"
            + (f" ({skipped})" if skipped else "")
            + (f", skipped-date {len(self.bad_dates)}" if self.bad_dates else "")
            + f"; {self.passages} passages in the index, {self.embedded} embedded, {self.seconds:.1f} s"
        )


def ingest(
    paths: list[Path],
    settings: Settings,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> IngestReport:
    """Bring the index in line with the files under ``paths``.

    Files that disappeared from under ``paths`` are removed; articles from other folders stay.
    The model (``settings.embed_model`` unless given) is only loaded if something needs embedding.
    """
    started = time.perf_counter()
    report = IngestReport()
    if rebuild:  # re-embed every article of the index, not only those under ``paths``
        paths = [*paths, *_indexed_files(settings)]
    files = find_files(paths, report.skipped)
    articles = _read_all(files, report)
    wanted = {p.id: p for a in articles for p in chunk_article(a)}
    roots = [p.resolve() for p in paths]
    with _lock(settings.index_dir):
        store = Store.create(settings, settings.embed_model, fresh=rebuild)
        stored = _stored_ids(store)
        in_scope = {path for path in stored if _under(Path(path), roots)}
        stale = {pid for path in in_scope for pid in stored[path] if pid not in wanted}
        all_stored = {pid for ids in stored.values() for pid in ids}
        new = [p for pid, p in wanted.items() if pid not in all_stored]
        _classify(articles, stored, in_scope, wanted, report)
        # an index built before sentence vectors existed gets them for all its passages, once
        backfill = [] if store.has_sentences else _stored_passages(store, stale)
        if new or backfill:
            embedder = embedder or Embedder.load(settings.embed_model, settings.device)
            batch = settings.batch_size or embedder.batch_size
            _embed_and_store(new, store, embedder, batch, progress)
            _embed_and_store(backfill, store, embedder, batch, passages=False)
            store.mark_sentences()
        final = (all_stored - stale) | {p.id for p in new}
        if new or stale or not _snapshot_holds(store, final):
            store.publish(exclude=stale, stamp=datetime.now(UTC).isoformat(), new=new)
            store.delete(sorted(stale))
            if rebuild:
                store.finish_fresh()
    report.passages = len(final)
    report.embedded = len(new)
    report.seconds = time.perf_counter() - started
    return report


def _read_all(files: list[Path], report: IngestReport) -> list[Article]:
    articles = []
    for path in files:
        result = read_article(path)
        if isinstance(result, Skipped):
            report.skipped.append(result)
            continue
        if result.encoding != "utf-8":
            report.warnings.append(f"{path.name}: not valid UTF-8, read as Latin-1")
        if result.bad_date:
            report.bad_dates.append(result.file)
            report.warnings.append(
                f"{path.name}: date {result.bad_date} is not a month (use YYYY-MM): "
                "indexed without a date"
            )
        articles.append(result)
    return articles


def _snapshot_holds(store: Store, ids: set[str]) -> bool:
    """Is the published keyword snapshot readable and exactly ``ids``? If not, we republish."""
    try:
        return set(store.keyword.position) == ids
    except IndexCorrupt:
        return False


def _indexed_files(settings: Settings) -> list[Path]:
    try:
        store = Store.open(settings)
    except NoIndex:
        return []
    return [p for p in {Path(str(meta["path"])) for _, meta, _ in store.records()} if p.is_file()]


def _stored_ids(store: Store) -> dict[str, set[str]]:
    """Chroma's passage ids by file path; the paths of published passages come from the
    keyword snapshot, so only the others (e.g. an interrupted ingest's) are read back."""
    published: dict[str, str] = {}
    try:
        if not store.rebuilding:  # the snapshot is the live collection's
            published = {p.id: p.path for p in store.keyword.passages}
    except IndexCorrupt:
        pass
    ids = store.ids()
    by_path: dict[str, set[str]] = defaultdict(set)
    for pid in ids:
        if pid in published:
            by_path[published[pid]].add(pid)
    for passage in store.passages([pid for pid in ids if pid not in published]):
        by_path[passage.path].add(passage.id)
    return by_path


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def _classify(
    articles: list[Article],
    stored: dict[str, set[str]],
    in_scope: set[str],
    wanted: dict[str, Passage],
    report: IngestReport,
) -> None:
    current: dict[str, set[str]] = defaultdict(set)
    for pid, passage in wanted.items():
        current[passage.path].add(pid)
    for article in articles:
        path = str(article.path)
        if path not in stored:
            report.added.append(article.file)
        elif stored[path] == current[path]:
            report.unchanged.append(article.file)
        else:
            report.updated.append(article.file)
    report.removed = sorted(Path(path).name for path in in_scope if path not in current)


def _embed_and_store(
    todo: list[Passage],
    store: Store,
    embedder: Embedder,
    batch: int,
    progress: Progress | None = None,
    passages: bool = True,
) -> None:
    """Embed ``todo`` and their sentences (so that answers only look their vectors up), and
    store them; ``passages=False``: the passages are stored already, only their sentences.

    ``progress`` hears (0, total) before the first passage is embedded, then every
    PROGRESS_SECONDS or so: the first call (which loads the model) takes one passage, the next
    ones as many as fit in that time, up to ``batch``.
    """
    if progress:
        progress(0, len(todo))
    done, step = 0, 1 if progress else batch
    while done < len(todo):
        started = time.perf_counter()
        chunk = todo[done : done + step]
        spans = [answer_sentences(p.text) for p in chunk]
        rows = embedder.embed_with_sentences([p.text for p in chunk], spans, batch, background=True)
        if passages:
            store.upsert(chunk, [r[0].tolist() for r in rows])
        store.upsert_sentences(chunk, spans, [v.tolist() for r in rows for v in r[1:]])
        done += len(chunk)
        if progress:
            progress(done, len(todo))
            each = (time.perf_counter() - started) / len(chunk)
            step = max(1, min(batch, int(PROGRESS_SECONDS / max(each, 1e-6))))


def _stored_passages(store: Store, exclude: set[str]) -> list[Passage]:
    return [
        passage_of(pid, meta, text)
        for pid, meta, text in store.records(documents=True)
        if pid not in exclude
    ]


@contextmanager
def _lock(index_dir: Path) -> Iterator[None]:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / ".ingest.lock", "w")  # closed by the with below
    except PermissionError as exc:
        raise IndexReadOnly.because(exc) from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError(
                f"Another ingest is writing {index_dir}/: wait for it to finish"
            ) from None
        yield
