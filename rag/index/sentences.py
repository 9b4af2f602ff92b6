"""Sentence vectors, stored at ingest so that answers only look them up, by passage.

Packed in int8 with a scale per vector ("q8", 388 bytes at e5-small's 384 dimensions; cosine
to the float32 vector above 0.9999): half the bytes of float16, which indexes made before
2026-12-07 keep (the collection's metadata says which, so a table never mixes the two).

Embedded, they live in a SQLite file beside Chroma (``sentences.sqlite3``, one table per
collection, named by its id, which a rebuild's swap keeps): Chroma indexes every string of its
metadata, so there they would be stored twice. With a Chroma server, the other machines need
them too: they live in their passage's metadata there.
"""

from __future__ import annotations

import base64
import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.index.chroma import SENTENCES, drop_collection, get_collection, pages
from rag.index.chunking import Passage
from rag.index.embedding import sentence_kind

if TYPE_CHECKING:
    from rag.index.store import Store

SentenceRows = tuple[list[int], Any]  # a passage's sentences: where each starts, their vectors
FILE = "sentences.sqlite3"
FORMAT = "sentence_format"  # in a collection's metadata: "q8" (int8 + scale), else float16


def sentence_id(passage_id: str, start: int) -> str:
    """The id of the sentence starting at ``start`` in the passage's text."""
    return f"{passage_id}@{start}"


class LocalSentences:
    """A table of ``FILE``: (passage id, sentence starts, packed vectors)."""

    kind = "local"

    def __init__(self, folder: Path, table: str, q8: bool = True) -> None:
        self.path = folder / FILE
        self.table = table
        self.q8 = q8

    def put(self, passages: list[Passage], sentences: list[SentenceRows]) -> None:
        rows = [(p.id, *_packed(*own, self.q8)) for p, own in zip(passages, sentences, strict=True)]
        with closing(self._connect()) as db, db:
            db.executemany(f'INSERT OR REPLACE INTO "{self.table}" VALUES (?, ?, ?)', rows)

    def get(self, passage_ids: list[str]) -> dict[str, np.ndarray]:
        """The vectors of the sentences of ``passage_ids``, by sentence id."""
        if not self.path.exists():
            return {}
        marks = ",".join("?" * len(passage_ids))
        query = f'SELECT passage, starts, vectors FROM "{self.table}" WHERE passage IN ({marks})'
        try:
            with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)) as db:
                rows = db.execute(query, passage_ids).fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing stored for this collection
            return {}
        return {
            k: v
            for pid, starts, packed in rows
            for k, v in _rows(pid, starts, packed, self.q8).items()
        }

    def delete(self, passage_ids: list[str]) -> None:
        with closing(self._connect()) as db, db:
            db.executemany(
                f'DELETE FROM "{self.table}" WHERE passage = ?', [(i,) for i in passage_ids]
            )

    def drop(self) -> None:
        with closing(self._connect()) as db, db:
            db.execute(f'DROP TABLE IF EXISTS "{self.table}"')

    def keep_only(self, tables: set[str]) -> None:
        """Drop the tables of this file not named in ``tables``."""
        if not self.path.exists():
            return
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for name in set(names) - tables:
                db.execute(f'DROP TABLE "{name}"')

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA page_size=16384")  # a new file's: rows of about 2 KB fill its pages
        db.execute("PRAGMA journal_mode=WAL")  # readers go on while an ingest writes
        # a rowid table: a WITHOUT ROWID one keeps about 1 KB of a row in its tree and spills the
        # rest to an overflow page of its own (half of the file was empty space)
        db.execute(
            f'CREATE TABLE IF NOT EXISTS "{self.table}" '
            "(passage TEXT PRIMARY KEY, starts TEXT, vectors BLOB)"
        )
        return db


class InlineSentences:
    """In each passage's Chroma metadata (with a Chroma server, so that every machine has them)."""

    kind = "inline"

    def __init__(self, collection: Any, page: int, q8: bool = True) -> None:
        self.collection = collection
        self.page = page
        self.q8 = q8
        self.key = "sentence_q8" if q8 else "sentence_f16"

    def put(self, passages: list[Passage], sentences: list[SentenceRows]) -> None:
        metadatas = [
            p.metadata() | self._inline(*own) for p, own in zip(passages, sentences, strict=True)
        ]
        for i in range(0, len(passages), self.page):
            ids = [p.id for p in passages[i : i + self.page]]
            self.collection.update(ids=ids, metadatas=metadatas[i : i + self.page])

    def get(self, passage_ids: list[str]) -> dict[str, np.ndarray]:
        got = self.collection.get(ids=passage_ids, include=["metadatas"])
        found: dict[str, np.ndarray] = {}
        for pid, meta in zip(got["ids"], got["metadatas"]):
            if (meta or {}).get("sentence_starts"):
                packed = base64.b64decode(str(meta[self.key]))
                found |= _rows(pid, str(meta["sentence_starts"]), packed, self.q8)
        return found

    def delete(self, passage_ids: list[str]) -> None:
        """Nothing to do: they go with their passages."""

    def drop(self) -> None:
        """Nothing to do: they go with their collection."""

    def _inline(self, starts: list[int], vectors: Any) -> dict[str, str | int]:
        """Example: ([0, 52], two vectors) -> {"sentence_starts": "0,52", "sentence_q8": "AAA8..."}"""
        where, packed = _packed(starts, vectors, self.q8)
        return {"sentence_starts": where, self.key: base64.b64encode(packed).decode("ascii")}


def _packed(starts: list[int], vectors: Any, q8: bool) -> tuple[str, bytes]:
    """Example: ([0, 52], two vectors) -> ("0,52", their 2 float32 scales then 2 x 384 int8)"""
    where = ",".join(map(str, starts))
    if not q8:
        return where, np.asarray(vectors, dtype=np.float16).tobytes()
    rows = np.asarray(vectors, dtype=np.float32)
    scales = np.maximum(np.abs(rows).max(axis=1), 1e-12) / 127
    codes = np.rint(rows / scales[:, None]).astype(np.int8)
    return where, scales.astype(np.float32).tobytes() + codes.tobytes()


def _rows(pid: str, starts: str, packed: bytes, q8: bool) -> dict[str, np.ndarray]:
    """A passage's stored sentence vectors, by sentence id."""
    where = starts.split(",") if starts else []
    if q8:
        scales = np.frombuffer(packed, dtype=np.float32, count=len(where))
        codes = np.frombuffer(packed, dtype=np.int8, offset=4 * len(where))
        rows = codes.reshape(len(where), -1) * scales[:, None]
    else:
        rows = np.frombuffer(packed, dtype=np.float16).reshape(len(where), -1).astype(np.float32)
    return {sentence_id(pid, int(start)): row for start, row in zip(where, rows)}


def move_out_of_chroma(store: Store) -> None:
    """Move the sentence vectors of an index made when they had a Chroma collection of their own
    to where they are kept now, once, embedding nothing again; then drop that collection."""
    legacy = get_collection(store.client, store.collection.name + SENTENCES)
    if legacy is None:
        return
    if store.sentence_kind() == sentence_kind(store.model) and not store.has_sentences:
        rows: dict[str, list[tuple[int, Any]]] = defaultdict(list)
        for got in pages(store.client, legacy, ["embeddings"]):
            for sid, vector in zip(got["ids"], got["embeddings"]):
                pid, start = sid.rsplit("@", 1)
                rows[pid].append((int(start), vector))
        passages = store.passages(sorted(rows))
        own = [sorted(rows[p.id], key=lambda row: row[0]) for p in passages]
        store.sentences.put(passages, [([s for s, _ in r], [v for _, v in r]) for r in own])
        store.mark_sentences()
    drop_collection(store.client, legacy.name)
