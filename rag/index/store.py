"""Chroma (embedded or server) plus the BM25 keyword snapshot, kept in step.

Chroma is the source of truth. The keyword snapshot is brought in line with it at the end of
every ingest and published by an atomic rename (rag/index/snapshot.py); retrieval only returns
passages the snapshot lists, so a reader never sees half an ingest.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
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
    guarded,
    new_collection,
    pages,
    widen_search,
)
from rag.index.chunking import Passage, answer_sentences
from rag.index.embedding import sentence_kind

if TYPE_CHECKING:
    from rag.index.embedding import Embedder


def sentence_id(passage_id: str, start: int) -> str:
    """The id of the sentence starting at ``start`` in the passage's text."""
    return f"{passage_id}@{start}"


class Store:
    """One index: a Chroma collection and its published keyword snapshot."""

    def __init__(self, settings: Settings, client: Any, collection: Any) -> None:
        self.settings = settings
        self.client = client
        self.collection = collection
        self._keyword: KeywordIndex | None = None
        self._folder: Path | None = None  # where the loaded keyword snapshot was read from
        self._sentences: Any = None

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
        old = (live.metadata if live is not None else None) or {}
        meta = {k: v for k, v in old.items() if k in KEPT} | (store.collection.metadata or {})
        store.collection.modify(metadata={**meta, "embed_model": model})
        if not reused:
            store.mark_sentences()  # empty: its sentence vectors will all be of today's kind
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

    def records(self, documents: bool = False) -> Iterator[tuple[str, dict[str, Any], str]]:
        """Every stored passage as (id, metadata, text)."""
        include = ["metadatas", "documents"] if documents else ["metadatas"]
        for got in pages(self.client, self.collection, include):
            for i, pid in enumerate(got["ids"]):
                yield pid, dict(got["metadatas"][i]), got["documents"][i] if documents else ""

    def upsert(self, passages: list[Passage], vectors: Any) -> None:
        page = self.client.get_max_batch_size()
        for i in range(0, len(passages), page):
            batch = passages[i : i + page]
            self.collection.upsert(
                ids=[p.id for p in batch],
                embeddings=vectors[i : i + page],
                documents=[p.text for p in batch],
                metadatas=[p.metadata() for p in batch],
            )

    def delete(self, ids: list[str]) -> None:
        page = self.client.get_max_batch_size()
        for i in range(0, len(ids), page):
            self.collection.delete(ids=ids[i : i + page])
            self.sentences.delete(where={"passage": {"$in": ids[i : i + page]}})

    @property
    def sentences(self) -> Any:
        """The collection of sentence vectors, computed at ingest so answers need not embed."""
        if self._sentences is None:
            self._sentences = new_collection(self.client, self.collection.name + SENTENCES)
        return self._sentences

    @property
    def has_sentences(self) -> bool:
        """Were sentence vectors stored for every passage, as ingest makes them today (indexes
        built before them, or before late chunking, were not)?"""
        return self.sentence_kind() == sentence_kind(self.model)

    def sentence_kind(self) -> object:
        """How this index's sentence vectors were made (2 late-chunked, 1 each on its own;
        None: none stored yet)."""
        return (self.collection.metadata or {}).get("sentence_vectors")

    def upsert_sentences(
        self, passages: list[Passage], spans: list[list[tuple[int, int]]], vectors: Any
    ) -> None:
        """Store the vectors of each passage's sentences (``spans`` index the passage's text)."""
        ids, metadatas = [], []
        for p, own, meta in zip(passages, spans, (p.metadata() for p in passages)):
            ids += [sentence_id(p.id, start) for start, _ in own]
            metadatas += [{"passage": p.id, "file": meta["file"], "ym": meta["ym"]}] * len(own)
        page = self.client.get_max_batch_size()
        for i in range(0, len(ids), page):
            self.sentences.upsert(
                ids=ids[i : i + page],
                embeddings=vectors[i : i + page],
                metadatas=metadatas[i : i + page],
            )

    def mark_sentences(self) -> None:
        self.annotate(sentence_vectors=sentence_kind(self.model))

    def annotate(self, **values: Any) -> None:
        """Add ``values`` to the collection's metadata (Chroma's modify replaces it whole)."""
        self.collection.modify(metadata={**(self.collection.metadata or {}), **values})

    def sentence_vectors(self, ids: list[str]) -> dict[str, Any]:
        """Stored vectors of the sentences ``ids`` (those the index lacks are left out)."""
        if not ids or not self.has_sentences:
            return {}
        got = guarded(lambda: self.sentences.get(ids=ids, include=["embeddings"]))
        return dict(zip(got["ids"], got["embeddings"]))

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

    def publish(self, exclude: set[str], stamp: str, new: list[Passage] | None = None) -> None:
        """Make a keyword snapshot of Chroma's passages (less ``exclude``) current: the last
        one updated (``new``: the passages just stored), else one rebuilt from all of Chroma."""
        keyword = None
        try:
            if not self.rebuilding:  # else everything is new: nothing to reuse
                keyword = self._updated(self.keyword, self._folder, exclude, new or [])
        except IndexCorrupt:
            pass
        self._save(keyword or self._from_chroma(exclude), stamp)
        self.annotate(last_ingest=stamp)

    def _updated(
        self, last: KeywordIndex, folder: Path | None, exclude: set[str], new: list[Passage]
    ) -> KeywordIndex | None:
        """``last`` (read from ``folder``) brought in line with Chroma, if its tokens are known."""
        tokens = last.tokens or (KeywordIndex.saved_tokens(folder) if folder else None)
        if tokens is None or len(tokens) != len(last.passages):
            return None
        return snapshot.updated(last, tokens, set(self.ids()) - exclude, new, self.passages)

    def caught_up(self) -> KeywordIndex | None:
        """The snapshot brought in line with Chroma from its saved tokens (None: none saved)."""
        return self._updated(self.keyword, self._folder, set(), [])

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

    def _save(self, keyword: KeywordIndex, stamp: str) -> None:
        """Write ``keyword`` as the local snapshot of the ingest ``stamp``; atomic for readers."""
        self._folder = snapshot.write(self.settings.index_dir / "keyword", keyword, stamp)
        keyword.tokens = None  # saved with it, for the next ingest; no reader needs them in memory
        self._keyword = keyword

    def _from_chroma(self, exclude: Container[str] = ()) -> KeywordIndex:
        passages = [
            passage_of(i, m, t) for i, m, t in self.records(documents=True) if i not in exclude
        ]
        return KeywordIndex.build(sorted(passages, key=lambda p: (p.path, p.start)))

    @property
    def rebuilding(self) -> bool:
        """Is this the collection a fresh rebuild fills beside the live one?"""
        return bool(self.collection.name.endswith(NEXT))

    def finish_fresh(self) -> None:
        """Replace the live collection by the one a fresh rebuild just filled."""
        if not self.rebuilding:
            return
        self.annotate(complete=1)
        drop_collection(self.client, self.settings.collection + SENTENCES)
        drop_collection(self.client, self.settings.collection)
        self.collection = finish_swap(self.client, self.settings.collection)
        self._sentences = None

    @property
    def keyword(self) -> KeywordIndex:
        """The published snapshot; rebuilt from Chroma when missing (e.g. a new server client).

        With a Chroma server, another machine may have ingested since this snapshot was
        written: a snapshot older than the collection's last ingest is updated in memory.
        """
        if self._keyword is None:
            root = self.settings.index_dir / "keyword"
            try:
                self._keyword, self._folder, stamp = snapshot.read(root)
                stale = stamp is not None and stamp != self.last_ingest
                if self.settings.chroma_url and stale:
                    last = self._updated(self._keyword, self._folder, set(), [])
                    self._keyword, self._folder = last or self._from_chroma(), None
                    self._keyword.tokens = None  # a reader does not need them: memory
            except FileNotFoundError:  # repaired here; the collection's metadata is left alone
                self._save(self._from_chroma(), self.last_ingest)
            except (OSError, ValueError, KeyError) as exc:
                raise IndexCorrupt(
                    f"Keyword index in {root} is unreadable ({exc}): run `rag ingest` to repair it"
                ) from exc
        assert self._keyword is not None
        return self._keyword

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


def passage_of(pid: str, meta: dict[str, Any], text: str) -> Passage:
    """A passage from what Chroma stores of it."""
    file, path, date, title, sha = (str(meta[k]) for k in ("file", "path", "date", "title", "sha"))
    start, end = int(meta["start"]), int(meta["end"])
    return Passage(pid, text, file, path, date, title, start, end, sha)
