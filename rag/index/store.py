"""Chroma (embedded or server) plus the BM25 keyword snapshot, kept in step.

The keyword snapshot is the list of published passages: an ingest publishes its passages there
first (searchable by keyword at once), then stores their vectors in Chroma; the snapshot says
which are still pending (rag/index/snapshot.py). Retrieval only returns passages the snapshot
lists, so a reader never sees half an ingest. Without a snapshot (a new machine on a Chroma
server, a lost folder) it is rebuilt from Chroma: from the text a Chroma server keeps, or, embedded
(where Chroma keeps no text), cut again from the articles.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.config import Settings
from rag.errors import IndexCorrupt, ModelMismatch, NoIndex
from rag.index import snapshot
from rag.index.bm25 import KeywordIndex
from rag.index.chroma import (
    KEPT,
    NEXT,
    SENTENCES,
    connect,
    drop_collection,
    finish_swap,
    get_collection,
    guarded,
    new_collection,
    pages,
    widen_search,
)
from rag.index.chunking import Passage, answer_sentences
from rag.index.corpus import Article, read_article
from rag.index.embedding import sentence_kind
from rag.index.sentences import (
    FORMAT,
    InlineSentences,
    LocalSentences,
    SentenceRows,
    sentence_id,
)
from rag.index.snapshot import Published

if TYPE_CHECKING:
    from rag.index.embedding import Embedder

SENTENCE_STORE = "sentence_store"  # in a collection's metadata: where its sentence vectors are


class Store:
    """One index: a Chroma collection and its published keyword snapshot."""

    def __init__(self, settings: Settings, client: Any, collection: Any) -> None:
        self.settings = settings
        self.client = client
        self.collection = collection
        self._current: Published | None = None
        self._log_seen = (-1, 0)  # (size, passages left) of the snapshot's log when last read
        self.created = False  # made by this Store.create: an earlier snapshot is not its own

    @classmethod
    def open(cls, settings: Settings) -> Store:
        """Open an existing index, or raise NoIndex."""
        if not settings.chroma_url and not (settings.index_dir / "chroma").is_dir():
            raise NoIndex(f"No index in {settings.index_dir}/: run `rag ingest` first")
        client = connect(settings)
        collection = finish_swap(client, settings.collection)
        if collection is None:
            raise NoIndex(f"No index in {settings.index_dir}/: run `rag ingest` first")
        return cls(settings, client, collection)

    @classmethod
    def create(cls, settings: Settings, model: str, fresh: bool = False) -> Store:
        """Open the index for writing; ``fresh`` starts an empty collection beside the old one."""
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        client = connect(settings)
        live = finish_swap(client, settings.collection)
        for leftover in (NEXT, NEXT + SENTENCES):  # left by an interrupted rebuild
            drop_collection(client, settings.collection + leftover)
        reused = live is not None and not fresh
        if reused:
            store = cls(settings, client, live)
            store.check_model(model)
            widen_search(live)
        else:
            name = settings.collection + (NEXT if live is not None else "")
            drop_collection(client, name + SENTENCES)  # orphaned vectors of a collection gone
            store = cls(settings, client, new_collection(client, name))
            store.created = True
        old = (live.metadata if live is not None else None) or {}
        meta = {k: v for k, v in old.items() if k in KEPT} | (store.collection.metadata or {})
        meta["embed_model"] = model
        if not reused:  # empty: its sentence vectors will all be of today's kind and packing
            meta |= {FORMAT: "q8", **store.sentence_marks(model)}
        store.collection.modify(metadata=meta)  # one write
        if not settings.chroma_url:  # drop the sentence vectors of collections gone (a rebuild's)
            collections = {str(c.id) for c in guarded(client.list_collections)}
            LocalSentences(settings.index_dir, "").keep_only(collections)
        return store

    @property
    def model(self) -> str:
        return str((self.collection.metadata or {}).get("embed_model", ""))

    @property
    def last_ingest(self) -> str:
        return str((self.collection.metadata or {}).get("last_ingest", ""))

    def check_model(self, name: str) -> None:
        if self.model and self.model != name:
            raise ModelMismatch(
                f"The index in {self.settings.index_dir}/ was built with {self.model!r}, not "
                f"{name!r}: run `rag ingest --rebuild` or set RAG_EMBED_MODEL={self.model}"
            )

    def records(self, documents: bool = False) -> Iterator[tuple[str, dict[str, Any], str | None]]:
        """Every stored passage as (id, metadata, text: None where Chroma has none, "" unasked)."""
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        for got in pages(self.client, self.collection, include):
            for i, pid in enumerate(got["ids"]):
                yield pid, dict(got["metadatas"][i]), got["documents"][i] if documents else ""

    def upsert(
        self, passages: list[Passage], vectors: Any, sentences: list[SentenceRows] | None = None
    ) -> None:
        """Store ``passages`` with their ``vectors`` and, when given, their sentences' vectors.

        Their text goes to a Chroma server, where other machines read it; embedded, the keyword
        snapshot beside Chroma holds it, and Chroma would store it twice more (as a document and
        in a full-text index it cannot be told to skip): a third of the index's size.
        """
        page = self.client.get_max_batch_size()
        for i in range(0, len(passages), page):
            batch = passages[i : i + page]
            self.collection.upsert(
                ids=[p.id for p in batch],
                embeddings=vectors[i : i + page],
                documents=[p.text for p in batch] if self.settings.chroma_url else None,
                metadatas=[p.metadata() for p in batch],
            )
        if sentences is not None:
            self.sentences.put(passages, sentences)

    def delete(self, ids: list[str]) -> None:
        page = self.client.get_max_batch_size()
        for i in range(0, len(ids), page):
            self.collection.delete(ids=ids[i : i + page])
        self.sentences.delete(ids)

    @property
    def sentences(self) -> LocalSentences | InlineSentences:
        """Where this index keeps its sentence vectors (rag/index/sentences.py)."""
        q8 = (self.collection.metadata or {}).get(FORMAT) == "q8"
        if self.settings.chroma_url:
            return InlineSentences(self.collection, self.client.get_max_batch_size(), q8)
        return LocalSentences(self.settings.index_dir, str(self.collection.id), q8)

    @property
    def has_sentences(self) -> bool:
        """Were sentence vectors stored for every passage, as ingest makes them today (indexes
        built before them, before late chunking or before they moved out of Chroma, were not)?"""
        meta = self.collection.metadata or {}
        kind = self.sentence_kind() == sentence_kind(self.model)
        return kind and meta.get(SENTENCE_STORE) == self.sentences.kind

    def sentence_kind(self) -> object:
        """How this index's sentence vectors were made (2 late-chunked, 1 each on its own;
        None: none stored yet)."""
        return (self.collection.metadata or {}).get("sentence_vectors")

    def sentence_marks(self, model: str) -> dict[str, Any]:
        """The metadata saying how ``model`` makes this index's sentence vectors, and where
        they are kept."""
        return {"sentence_vectors": sentence_kind(model), SENTENCE_STORE: self.sentences.kind}

    def mark_sentences(self) -> None:
        self.annotate(**self.sentence_marks(self.model))

    def annotate(self, **values: Any) -> None:
        """Add ``values`` to the collection's metadata (Chroma's modify replaces it whole)."""
        self.collection.modify(metadata={**(self.collection.metadata or {}), **values})

    def sentence_vectors(self, ids: list[str]) -> dict[str, Any]:
        """Stored vectors of the sentences ``ids`` (those the index lacks are left out)."""
        if not ids or not self.has_sentences:
            return {}
        owners = sorted({i.rsplit("@", 1)[0] for i in ids})
        found = guarded(lambda: self.sentences.get(owners))
        return {i: found[i] for i in ids if i in found}

    def sentence_matrix(
        self, ids: list[str], passages: list[Passage], embedder: Embedder
    ) -> np.ndarray:
        """The vectors of the answer sentences ``ids`` (of ``passages``, one each), one row each:
        stored at ingest, or made now as ingest makes them for an index without them."""
        known = self.sentence_vectors(ids)
        missing = list({p.id: p for i, p in zip(ids, passages) if i not in known}.values())
        spans = [answer_sentences(p.text) for p in missing]
        made = embedder.embed_with_sentences([p.text for p in missing], spans) if missing else []
        for p, own, rows in zip(missing, spans, made):
            known.update((sentence_id(p.id, start), row) for (start, _), row in zip(own, rows[1:]))
        return np.array([known[i] for i in ids], dtype=np.float32)

    def publish(
        self,
        keyword: KeywordIndex,
        stamp: str,
        pending: set[str] | frozenset[str] = frozenset(),
        orphans: set[str] | frozenset[str] = frozenset(),
    ) -> Published:
        """Make ``keyword`` the current snapshot, atomically for readers (see rag/index/snapshot.py)."""
        self._current = snapshot.write(self.root, keyword, stamp, pending, orphans)
        if self.last_ingest != stamp:
            self.annotate(last_ingest=stamp)
        return self._current

    def unembedded(self) -> int:
        """How many published passages still wait for their vectors (0: the index is complete).

        Read from the snapshot's log, which the ingest appends to as it goes (another process's
        ingest included): re-read only when it grew.
        """
        current = self.current
        if not current.pending:
            return 0
        log = snapshot.log_path(self.root, current.name)
        size = log.stat().st_size if log.exists() else 0
        if self._log_seen[0] != size:
            self._log_seen = (
                size,
                len(current.pending - snapshot.stored_since(self.root, current.name)),
            )
        return self._log_seen[1]

    def indexing(self) -> str:
        """How many published passages have their vectors ("12,400 / 50,000"; "" when all)."""
        left = self.unembedded()
        total = len(self.keyword.passages)
        return f"{total - left:,} / {total:,}" if left else ""

    def note_stored(self, ids: list[str]) -> None:
        """The vectors of the pending passages ``ids`` are in Chroma now."""
        snapshot.note_stored(self.root, self.current, ids)

    @property
    def root(self) -> Path:
        return self.settings.index_dir / "keyword"

    def ids(self) -> list[str]:
        """Every passage id Chroma holds (ids only: a third of the time of ``records``)."""
        return [pid for got in pages(self.client, self.collection, []) for pid in got["ids"]]

    def passages(self, ids: list[str]) -> list[Passage]:
        """The stored passages ``ids`` (those Chroma lacks are left out)."""
        page, include = self.client.get_max_batch_size(), ["metadatas", "documents"]
        got = [
            guarded(partial(self.collection.get, ids=ids[i : i + page], include=include))
            for i in range(0, len(ids), page)
        ]
        return [passage_of(*r) for g in got for r in zip(g["ids"], g["metadatas"], g["documents"])]

    def _rebuilt(self) -> Published:
        """A snapshot of every passage Chroma holds, written and made current.

        A passage stored without its text (embedded) is cut again from its article; those whose
        article changed or went since are left out, as orphans the next ingest deletes (and
        that ingest indexes the article as it is now).
        """
        passages, orphans = [], set()
        articles: dict[str, Article | None] = {}
        for pid, meta, text in self.records(documents=True):
            text = _recut(meta, articles) if text is None else text
            if text is None:
                orphans.add(pid)
            else:
                passages.append(passage_of(pid, meta, text))
        keyword = KeywordIndex.build(passages)
        return snapshot.write(self.root, keyword, self.last_ingest, orphans=orphans)

    def _reconciled(self, last: Published) -> Published:
        """``last`` with the passages other machines added to (or removed from) the Chroma server
        since: in memory, this machine's snapshot stays its own ingests' record."""
        ids = set(self.ids())
        known = set(last.keyword.position)
        added = self.passages(sorted(ids - known - last.orphans))
        keyword = last.keyword.changed(added, known - ids - last.pending)
        return Published(keyword, last.name, last.stamp, last.pending, last.orphans)

    @property
    def rebuilding(self) -> bool:
        """Is this the collection a fresh rebuild fills beside the live one?"""
        return bool(self.collection.name.endswith(NEXT))

    def finish_fresh(self) -> None:
        """Replace the live collection by the one a fresh rebuild just filled."""
        if not self.rebuilding:
            return
        self.annotate(complete=1)
        live = get_collection(self.client, self.settings.collection)
        drop_collection(self.client, self.settings.collection + SENTENCES)
        drop_collection(self.client, self.settings.collection)
        self.collection = finish_swap(self.client, self.settings.collection)
        if live is not None and not self.settings.chroma_url:  # its sentence vectors' table
            LocalSentences(self.settings.index_dir, str(live.id)).drop()

    @property
    def keyword(self) -> KeywordIndex:
        return self.current.keyword

    @property
    def current(self) -> Published:
        """The published snapshot; rebuilt when missing (``_rebuilt``; e.g. a new server client).

        With a Chroma server, another machine may have ingested since this snapshot was
        written: a snapshot older than the collection's last ingest is brought up to date.
        """
        if self._current is None:
            try:
                self._current = snapshot.read(self.root)
                stale = self._current.stamp not in (None, self.last_ingest)
                if self.settings.chroma_url and stale:
                    self._current = self._reconciled(self._current)
            except FileNotFoundError:  # repaired here; the collection's metadata is left alone
                self._current = self._rebuilt()
            except (OSError, ValueError, KeyError) as exc:
                raise IndexCorrupt(
                    f"Keyword index in {self.root} is unreadable ({exc}): run `rag ingest` to "
                    "repair it"
                ) from exc
        return self._current

    def repaired(self) -> Published:
        """The published snapshot, rebuilt (``_rebuilt``) if it is unreadable (what ingest does)."""
        try:
            return self.current
        except IndexCorrupt:
            self._current = self._rebuilt()
            return self._current

    def dense(self, vector: Any, n: int, where: dict[str, Any] | None) -> list[tuple[str, float]]:
        """Nearest passages as (id, cosine similarity).

        Chroma (>= 1.5) returns what it has when asked for more: no count first (a count is a
        scan of the collection, a few ms per question at 10k passages).
        """
        got = guarded(
            lambda: self.collection.query(
                query_embeddings=[vector], n_results=n, where=where, include=["distances"]
            )
        )
        return [(pid, 1.0 - float(d)) for pid, d in zip(got["ids"][0], got["distances"][0])]


def _recut(meta: dict[str, Any], articles: dict[str, Article | None]) -> str | None:
    """A passage's text cut again from its article (read once into ``articles``), or None when
    the article is not as it was."""
    path = str(meta["path"])
    if path not in articles:
        got = read_article(Path(path))
        articles[path] = got if isinstance(got, Article) else None
    article = articles[path]
    if article is None or article.sha != meta["sha"]:
        return None
    return article.text[int(meta["start"]) : int(meta["end"])]


def passage_of(pid: str, meta: dict[str, Any], text: str) -> Passage:
    """A passage from what Chroma stores of it."""
    file, path, date, title, sha = (str(meta[k]) for k in ("file", "path", "date", "title", "sha"))
    start, end = int(meta["start"]), int(meta["end"])
    return Passage(pid, text, file, path, date, title, start, end, sha)
