"""Incremental, crash-safe ingest: files -> passages -> keyword index -> embeddings -> Chroma.

Passage ids are derived from the file's path, its content hash and the passage number, so the
work left is a set difference: ids wanted but not published are added, ids published but no
longer wanted are removed. New passages are published in the keyword snapshot first, so they
are searchable by keyword within seconds; their vectors follow, and the snapshot records which
are still pending. An interrupted run therefore leaves a state the next run simply finishes.
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
from rag.index.bm25 import KeywordIndex
from rag.index.chunking import Passage, answer_sentences, chunk_article
from rag.index.corpus import Article, Skipped, find_files, printable, read_article
from rag.index.embedding import Embedder
from rag.index.sentences import move_out_of_chroma
from rag.index.snapshot import Published
from rag.index.store import Store

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
    searchable: Callable[[], None] | None = None,
) -> IngestReport:
    """Bring the index in line with the files under ``paths``.

    ``searchable`` is called once the new articles are published for keyword search, before
    their vectors are made (a server switches its readers there).

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
        # a new collection (a rebuild's, or one whose folder was lost) owes nothing to the snapshot
        last = Published(KeywordIndex([])) if store.created else store.repaired()
        stored: dict[str, set[str]] = defaultdict(set)
        for passage in last.keyword.passages:
            stored[passage.path].add(passage.id)
        in_scope = {path for path in stored if _under(Path(path), roots)}
        stale = {pid for path in in_scope for pid in stored[path] if pid not in wanted}
        new = [p for pid, p in wanted.items() if pid not in last.keyword.position]
        _classify(articles, stored, in_scope, wanted, report)
        stamp = datetime.now(UTC).isoformat()
        keyword = last.keyword.changed(new, stale)
        if store.rebuilding:  # the live index stays in use until the new one is complete
            report.embedded = _embed(keyword.passages, store, settings, embedder, progress)
            store.publish(keyword, stamp)
            store.finish_fresh()
        elif new or stale or last.pending or last.orphans or not store.has_sentences:
            published = store.publish(keyword, stamp, *_left(last, keyword))
            if searchable:
                searchable()
            report.embedded = _complete(store, published, settings, embedder, progress)
    report.passages = len(keyword.passages)
    report.seconds = time.perf_counter() - started
    return report


def _left(last: Published, keyword: KeywordIndex) -> tuple[set[str], set[str]]:
    """What publishing ``keyword`` after ``last`` leaves to do in Chroma: the passages whose
    vectors are to store, and those whose vectors are to delete."""
    now, before = set(keyword.position), set(last.keyword.position)
    return (last.pending & now) | (now - before), last.orphans | (before - now)


def _complete(
    store: Store,
    published: Published,
    settings: Settings,
    embedder: Embedder | None,
    progress: Progress | None,
) -> int:
    """Do what ``published`` left to do in Chroma, recording progress, then publish it
    complete. Returns how many passages were embedded."""
    store.delete(sorted(published.orphans))
    keyword = published.keyword
    todo = [p for p in keyword.passages if p.id in published.pending]
    move_out_of_chroma(store)
    # an index built before sentence vectors existed gets them for all its passages, once
    backfill = (
        []
        if store.has_sentences
        else [p for p in keyword.passages if p.id not in published.pending]
    )
    _embed(todo, store, settings, embedder, progress, note=store.note_stored)
    if backfill:
        _embed(backfill, store, settings, embedder, None, passages=False)
    store.mark_sentences()
    store.publish(keyword, str(published.stamp))
    return len(todo)


def _embed(
    todo: list[Passage],
    store: Store,
    settings: Settings,
    embedder: Embedder | None,
    progress: Progress | None,
    passages: bool = True,
    note: Callable[[list[str]], None] | None = None,
) -> int:
    """Embed and store ``todo``, loading the model only if there is something to embed."""
    if progress:
        progress(0, len(todo))
    if todo:
        embedder = embedder or Embedder.load(settings.embed_model, settings.device)
        batch = settings.batch_size or embedder.batch_size
        _embed_and_store(todo, store, embedder, batch, progress, passages, note)
    return len(todo)


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


def _indexed_files(settings: Settings) -> list[Path]:
    try:
        store = Store.open(settings)
    except NoIndex:
        return []
    try:
        paths = {p.path for p in store.keyword.passages}
    except IndexCorrupt:
        paths = {str(meta["path"]) for _, meta, _ in store.records()}
    return [p for p in map(Path, paths) if p.is_file()]


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
    note: Callable[[list[str]], None] | None = None,
) -> None:
    """Embed ``todo`` and their sentences (so that answers only look their vectors up), and
    store them; ``passages=False``: the passages are stored already, only their sentences.
    ``note`` hears the ids of each batch once it is stored.

    ``progress`` hears (0, total) before the first passage is embedded, then every
    PROGRESS_SECONDS or so: the first call (which loads the model) takes one passage, the next
    ones as many as fit in that time, up to ``batch``.
    """
    done, step = 0, 1 if progress else batch
    while done < len(todo):
        started = time.perf_counter()
        chunk = todo[done : done + step]
        spans = [answer_sentences(p.text) for p in chunk]
        rows = embedder.embed_with_sentences([p.text for p in chunk], spans, batch, background=True)
        sentences = [([start for start, _ in own], r[1:]) for own, r in zip(spans, rows)]
        if passages:
            store.upsert(chunk, [r[0].tolist() for r in rows], sentences)
        else:
            store.sentences.put(chunk, sentences)
        if note:
            note([p.id for p in chunk])
        done += len(chunk)
        if progress:
            progress(done, len(todo))
            each = (time.perf_counter() - started) / len(chunk)
            step = max(1, min(batch, int(PROGRESS_SECONDS / max(each, 1e-6))))


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
