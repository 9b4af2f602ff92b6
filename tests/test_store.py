"""rag/index/store.py: Chroma plus the keyword snapshot, opened, repaired, embedded or on a server."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import httpx
import numpy as np
import pytest

from rag.config import Settings
from rag.errors import ConfigError, IndexCorrupt, NoIndex
from rag.index.chroma import EF_SEARCH, NEXT
from rag.index.chunking import answer_sentences
from rag.index.embedding import Embedder
from rag.index.ingest import ingest
from rag.index.sentences import FILE, sentence_id
from rag.index.store import Store
from rag.pipeline import Pipeline

CHROMA = Path(sys.executable).parent / "chroma"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


@pytest.fixture
def indexed(settings: Settings, small_corpus: Path, embedder: Embedder) -> Settings:
    ingest([small_corpus], settings, embedder)
    return settings


def segment(settings: Settings) -> Path:
    """The folder of the current keyword snapshot's first segment."""
    keyword = settings.index_dir / "keyword"
    manifest = keyword / (keyword / "CURRENT").read_text(encoding="utf-8").strip()
    return keyword / json.loads(manifest.read_text(encoding="utf-8"))["segments"][0]["name"]


def in_step(settings: Settings) -> bool:
    store = Store.open(settings)
    return set(store.collection.get(include=[])["ids"]) == {p.id for p in store.keyword.passages}


def test_open_missing_folder_is_no_index(tmp_path: Path) -> None:
    missing = tmp_path / "absent"

    with pytest.raises(NoIndex, match="run `rag ingest` first") as caught:
        Store.open(Settings(index_dir=missing))

    assert caught.value.exit_code == 2
    assert str(missing) in str(caught.value)
    assert not missing.exists()


def test_open_folder_without_collection_is_no_index(tmp_path: Path) -> None:
    (tmp_path / "index" / "chroma").mkdir(parents=True)

    with pytest.raises(NoIndex):
        Store.open(Settings(index_dir=tmp_path / "index"))


def test_pipeline_on_missing_index_is_no_index(tmp_path: Path) -> None:
    with pytest.raises(NoIndex):
        Pipeline.load(Settings(index_dir=tmp_path / "index"))


def test_bad_server_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="http://HOST:PORT"):
        Store.open(Settings(index_dir=tmp_path, chroma_url="localhost:8000"))


def test_missing_file_in_keyword_snapshot_is_rebuilt_from_chroma(indexed: Settings) -> None:
    ids = {p.id for p in Store.open(indexed).keyword.passages}
    victim = segment(indexed) / "postings.npz"
    victim.unlink()

    store = Store.open(indexed)

    assert {p.id for p in store.keyword.passages} == ids
    assert store.keyword.scores("taïga").max() > 0
    assert in_step(indexed)
    rebuilt = segment(indexed)
    assert rebuilt != victim.parent and (rebuilt / "postings.npz").is_file()


def test_missing_snapshot_pointer_is_rebuilt_from_chroma(indexed: Settings) -> None:
    ids = {p.id for p in Store.open(indexed).keyword.passages}
    shutil.rmtree(indexed.index_dir / "keyword")

    assert {p.id for p in Store.open(indexed).keyword.passages} == ids
    assert (indexed.index_dir / "keyword" / "CURRENT").is_file()


def test_embedded_chroma_keeps_no_text_and_a_lost_snapshot_is_cut_again_from_the_articles(
    indexed: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    store = Store.open(indexed)
    published = store.keyword.passages
    assert all(text is None for _, _, text in store.records(documents=True))
    (small_corpus / "taiga.txt").write_text("Un autre texte sur la taïga.\n", encoding="utf-8")
    shutil.rmtree(indexed.index_dir / "keyword")

    rebuilt = Store.open(indexed).current

    # the changed article's passages are left out, their vectors orphans
    assert rebuilt.keyword.passages == [p for p in published if p.file != "taiga.txt"]
    assert rebuilt.orphans == {p.id for p in published if p.file == "taiga.txt"}
    report = ingest([small_corpus], indexed, embedder)  # indexes it as it is now
    assert report.added == ["taiga.txt"] and in_step(indexed)


def test_a_snapshot_of_another_tokenizer_is_indexed_again_from_its_own_passages(
    indexed: Settings, small_corpus: Path
) -> None:
    published = Store.open(indexed).keyword
    keyword = indexed.index_dir / "keyword"
    manifest = keyword / (keyword / "CURRENT").read_text(encoding="utf-8").strip()
    made = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**made, "tokens": "tokens 0"}), encoding="utf-8")
    shutil.rmtree(small_corpus)  # not read again: the snapshot has the text

    again = Store.open(indexed).keyword

    assert again.passages == published.passages
    assert (again.scores("taïga") == published.scores("taïga")).all()
    assert segment(indexed).name not in {s["name"] for s in made["segments"]}  # written anew


def test_unreadable_keyword_snapshot_is_index_corrupt(indexed: Settings) -> None:
    (segment(indexed) / "passages.jsonl").write_text("{pas du json\n", encoding="utf-8")

    with pytest.raises(IndexCorrupt, match="run `rag ingest`"):
        _ = Store.open(indexed).keyword


def test_ingest_repairs_an_unreadable_keyword_snapshot(
    indexed: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    """IndexCorrupt says "run `rag ingest` to repair it": that must work, files unchanged."""
    (segment(indexed) / "passages.jsonl").write_text("{pas du json\n", encoding="utf-8")

    report = ingest([small_corpus], indexed, embedder)

    assert report.embedded == 0
    assert in_step(indexed)


def test_search_is_wide_in_new_indexes_and_in_old_ones_after_an_ingest(
    indexed: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    """Chroma's default breadth (100) missed near passages, differently at each start."""
    assert Store.open(indexed).collection.configuration["hnsw"]["ef_search"] == EF_SEARCH
    # as made before
    Store.open(indexed).collection.modify(configuration={"hnsw": {"ef_search": 100}})
    assert Store.open(indexed).collection.configuration["hnsw"]["ef_search"] == 100

    ingest([small_corpus], indexed, embedder)  # nothing changed in the articles

    assert Store.open(indexed).collection.configuration["hnsw"]["ef_search"] == EF_SEARCH


def test_rebuild_interrupted_after_dropping_the_old_collection_is_finished(
    indexed: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    """The last two steps of a rebuild are drop-old then rename-new; a crash may fall between."""
    ids = {p.id for p in Store.open(indexed).keyword.passages}
    fresh = Store.create(indexed, indexed.embed_model, fresh=True)
    assert fresh.collection.name == indexed.collection + NEXT
    old = Store.open(indexed)
    fresh.upsert(
        list(old.keyword.passages),
        embedder.embed_passages([p.text for p in old.keyword.passages]).tolist(),
    )
    fresh.collection.modify(metadata={**(fresh.collection.metadata or {}), "complete": 1})
    fresh.client.delete_collection(indexed.collection)  # the crash comes right after this

    store = Store.open(indexed)

    assert store.collection.name == indexed.collection
    assert set(store.collection.get(include=[])["ids"]) == ids
    assert {c.name for c in store.client.list_collections()} == {indexed.collection}


def test_unfinished_rebuild_leaves_the_old_index_in_use(
    indexed: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    count = Store.open(indexed).collection.count()
    fresh = Store.create(indexed, indexed.embed_model, fresh=True)  # crash after one passage
    passage = Store.open(indexed).keyword.passages[0]
    fresh.sentences.put([passage], [([0], np.zeros((1, 384)))])

    assert Store.open(indexed).collection.count() == count
    ingest([small_corpus], indexed, embedder)
    names = {c.name for c in Store.open(indexed).client.list_collections()}
    assert names == {indexed.collection}
    assert in_step(indexed)
    with closing(sqlite3.connect(indexed.index_dir / FILE)) as db:  # the rebuild's table is gone
        tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {str(Store.open(indexed).collection.id)}


@pytest.fixture
def chroma_server(tmp_path: Path, unused_port: int) -> Iterator[str]:
    """`chroma run` on a free loopback port, stopped at teardown."""
    assert CHROMA.exists(), f"{CHROMA} is missing: chromadb ships it, reinstall with `make test`"
    port = unused_port
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            str(CHROMA),
            "run",
            "--path",
            str(tmp_path / "server"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"chroma run did not start on {url}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_chroma_server_mode(
    chroma_server: str, tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    settings = Settings(index_dir=tmp_path / "index", chroma_url=chroma_server)
    (small_corpus / "jazz.txt").unlink()

    report = ingest([small_corpus], settings, embedder)
    answer = Pipeline.load(settings).ask("Où aura lieu le sommet entre Biden et Poutine ?")

    assert sorted(report.added) == ["geneve.txt", "taiga.txt"]
    assert not (settings.index_dir / "chroma").exists()
    assert not answer.abstained
    assert "Genève" in answer.text and "[1]" in answer.text
    assert answer.sources[0].file == "geneve.txt"
    assert in_step(settings)
    # every machine needs the sentence vectors: they are in Chroma, not in a local file
    elsewhere = Store.open(replace(settings, index_dir=tmp_path / "other"))
    passage = elsewhere.keyword.passages[0]
    ids = [sentence_id(passage.id, start) for start, _ in answer_sentences(passage.text)]
    assert elsewhere.has_sentences and elsewhere.sentence_vectors(ids).keys() == set(ids)
    assert passage.text  # Chroma keeps the text there: other machines have no snapshot
    assert not list(tmp_path.rglob(FILE))


@pytest.mark.slow
def test_chroma_server_instances_see_each_others_ingests(
    chroma_server: str, tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    """Two machines share one Chroma server; each keeps its own local BM25 snapshot."""
    writer = Settings(index_dir=tmp_path / "writer", chroma_url=chroma_server)
    reader = Settings(index_dir=tmp_path / "reader", chroma_url=chroma_server)
    jazz = small_corpus / "jazz.txt"
    kept = jazz.read_text(encoding="utf-8")
    jazz.unlink()
    ingest([small_corpus], writer, embedder)
    other_machine = Pipeline(reader, embedder, Store.open(reader))
    assert "jazz.txt" not in {p.file for p in other_machine.store.keyword.passages}

    jazz.write_text(kept, encoding="utf-8")
    ingest([small_corpus], writer, embedder)
    other_machine.refresh()

    assert "jazz.txt" in {p.file for p in other_machine.store.keyword.passages}
    assert in_step(reader)


@pytest.mark.slow
def test_chroma_server_refresh_runs_beside_the_questions(
    chroma_server: str, tmp_path: Path, small_corpus: Path, embedder: Embedder
) -> None:
    """A question asked when a refresh is due is answered at once, from the index it had."""
    writer = Settings(index_dir=tmp_path / "writer", chroma_url=chroma_server)
    reader = Settings(index_dir=tmp_path / "reader", chroma_url=chroma_server, refresh_seconds=0)
    jazz = small_corpus / "jazz.txt"
    kept = jazz.read_text(encoding="utf-8")
    jazz.unlink()
    ingest([small_corpus], writer, embedder)
    other_machine = Pipeline(reader, embedder, Store.open(reader))
    before = other_machine.store
    assert "jazz.txt" not in {p.file for p in before.keyword.passages}
    jazz.write_text(kept, encoding="utf-8")
    ingest([small_corpus], writer, embedder)

    question = "Quel festival de jazz accueille des musiciens ?"
    during = other_machine.retrieve(question)  # starts the refresh, answers from ``before``
    deadline = time.monotonic() + 60
    while other_machine.store is before and time.monotonic() < deadline:
        time.sleep(0.1)
    after = other_machine.retrieve(question)

    assert "jazz.txt" not in {hit.passage.file for hit in during}
    assert other_machine.store is not before
    assert after[0].passage.file == "jazz.txt"
    assert in_step(reader)
