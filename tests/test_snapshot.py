"""rag/index/snapshot.py and segments.py: the keyword snapshot an ingest changes article by
article, the manifest readers follow, and what it records of the work left in Chroma.
Hand-made passages: no model, no Chroma."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.index.bm25 import KeywordIndex
from rag.index.chunking import Passage
from rag.index.segments import GROWTH, merged
from rag.index.snapshot import note_stored, read, write


def passage(pid: str, path: str, start: int, text: str) -> Passage:
    return Passage(pid, text, Path(path).name, path, "2021-06", "t", start, start + len(text), "0")


A1 = passage("a1", "/c/a.txt", 0, "Joe Biden rencontre Vladimir Poutine.")
A2 = passage("a2", "/c/a.txt", 40, "Le sommet aura lieu à Genève.")
B1 = passage("b1", "/c/b.txt", 0, "La taïga couvre la Sibérie.")
C1 = passage("c1", "/c/c.txt", 0, "Le festival de jazz de Montreux.")
D1 = passage("d1", "/c/d.txt", 0, "Les ours bruns vivent dans la forêt.")


def test_a_changed_index_is_what_a_rebuild_from_scratch_gives() -> None:
    last = KeywordIndex.build([B1, A1, C1])

    made = last.changed([D1, A2], {"c1"})

    rebuilt = KeywordIndex.build([A1, A2, B1, D1])
    assert made.passages == rebuilt.passages  # in (path, start) order
    for query in ("Genève", "ours", "jazz", "Poutine", "Sibérie Genève"):
        assert made.scores(query).tolist() == rebuilt.scores(query).tolist(), query


def test_a_change_tokenizes_only_the_passages_it_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    import rag.index.bm25

    last = KeywordIndex.build([A1, B1, C1])
    tokenized: list[str] = []
    counted = rag.index.bm25.passage_tokens
    monkeypatch.setattr(
        rag.index.bm25, "passage_tokens", lambda t: tokenized.append(t) or counted(t)
    )

    last.changed([D1, A1], {"c1"})

    assert tokenized == [D1.text]  # a1 is in already


def test_segments_stay_few_as_articles_arrive_one_by_one() -> None:
    keyword = KeywordIndex([])
    for i in range(200):
        keyword = keyword.changed([passage(f"p{i}", f"/c/{i:03}.txt", 0, f"article {i}")], set())

    sizes = [s.live for s in keyword.segments]

    assert len(sizes) <= 9  # about log2(200)
    assert all(older >= GROWTH * newer for older, newer in zip(sizes, sizes[1:]))


def test_a_segment_mostly_dead_is_rewritten_without_its_dead() -> None:
    keyword = KeywordIndex.build([A1, A2, B1]).changed([], {"a1", "a2"})

    (segment,) = merged(keyword.segments)

    assert [p.id for p in segment.passages] == ["b1"] and not segment.dead


def test_a_written_snapshot_is_current_and_reads_back(tmp_path: Path) -> None:
    keyword = KeywordIndex.build([A1, B1]).changed([C1], {"b1"})

    written = write(tmp_path, keyword, "stamp-1", pending={"c1"}, orphans={"b1"})
    loaded = read(tmp_path)

    assert (tmp_path / "CURRENT").read_text() == written.name == loaded.name
    assert loaded.stamp == "stamp-1"
    assert (loaded.pending, loaded.orphans) == ({"c1"}, {"b1"})
    assert loaded.keyword.passages == keyword.passages
    assert loaded.keyword.scores("jazz Poutine").tolist() == keyword.scores("jazz Poutine").tolist()


def test_a_new_snapshot_writes_only_its_new_segment(tmp_path: Path) -> None:
    first = write(tmp_path, KeywordIndex.build([A1, A2, B1, C1]), "stamp-1")
    big = first.keyword.segments[0].name

    second = write(tmp_path, first.keyword.changed([D1], {"a2"}), "stamp-2")

    assert [s.name for s in second.keyword.segments][0] == big  # shared, not rewritten
    manifest = json.loads((tmp_path / second.name).read_text())
    assert manifest["segments"][0] == {"name": big, "dead": ["a2"]}
    assert [p.id for p in read(tmp_path).keyword.passages] == ["a1", "b1", "c1", "d1"]


def test_files_of_snapshots_older_than_the_previous_one_are_removed(tmp_path: Path) -> None:
    first = write(tmp_path, KeywordIndex.build([A1]), "stamp-1")
    second = write(tmp_path, KeywordIndex.build([B1]), "stamp-2")  # a reader may still load first
    assert (tmp_path / first.name).exists()

    third = write(tmp_path, KeywordIndex.build([C1]), "stamp-3")

    names = {p.name for p in tmp_path.iterdir()}
    assert first.name not in names and first.keyword.segments[0].name not in names
    assert {second.name, third.name, third.keyword.segments[0].name} <= names
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_vectors_stored_since_the_manifest_leave_the_pending_list(tmp_path: Path) -> None:
    published = write(tmp_path, KeywordIndex.build([A1, B1, C1]), "s", pending={"a1", "b1", "c1"})

    note_stored(tmp_path, published, ["a1"])
    note_stored(tmp_path, published, ["c1"])

    assert published.pending == {"b1"}
    assert read(tmp_path).pending == {"b1"}  # what a run after a crash would find


def test_no_snapshot_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path)


def test_a_snapshot_of_the_older_layout_is_a_file_not_found_error(tmp_path: Path) -> None:
    """Before segments, CURRENT named a folder: the store rebuilds such a snapshot from Chroma."""
    (tmp_path / "3f2a9c0d1e4b5a67-0c1d2e3f").mkdir()
    (tmp_path / "CURRENT").write_text("3f2a9c0d1e4b5a67-0c1d2e3f")

    with pytest.raises(FileNotFoundError):
        read(tmp_path)
