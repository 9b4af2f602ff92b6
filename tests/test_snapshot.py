"""rag/index/snapshot.py: the keyword snapshot an ingest updates instead of rebuilding, and the
atomic CURRENT pointer readers follow. Hand-made passages: no model, no Chroma."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.bm25 import KeywordIndex, passage_tokens
from rag.index.chunking import Passage
from rag.index.snapshot import read, updated, write


def passage(pid: str, path: str, start: int, text: str) -> Passage:
    return Passage(pid, text, Path(path).name, path, "2021-06", "t", start, start + len(text), "0")


A1 = passage("a1", "/c/a.txt", 0, "Joe Biden rencontre Vladimir Poutine.")
A2 = passage("a2", "/c/a.txt", 40, "Le sommet aura lieu à Genève.")
B1 = passage("b1", "/c/b.txt", 0, "La taïga couvre la Sibérie.")
C1 = passage("c1", "/c/c.txt", 0, "Le festival de jazz de Montreux.")
D1 = passage("d1", "/c/d.txt", 0, "Les ours bruns vivent dans la forêt.")


def last_index(*passages: Passage) -> tuple[KeywordIndex, list[list[str]]]:
    tokens = [passage_tokens(p.text) for p in passages]
    return KeywordIndex.build(list(passages), tokens), tokens


def never_read(ids: list[str]) -> list[Passage]:
    assert not ids, f"read back {ids} although every passage was at hand"
    return []


def test_updated_is_what_a_rebuild_from_scratch_gives() -> None:
    last, tokens = last_index(B1, A1, C1)
    stored = {"a1", "a2", "b1", "d1"}  # c1 deleted; a2 and d1 added

    made = updated(last, tokens, stored, [D1, A2], never_read)

    rebuilt = KeywordIndex.build([A1, A2, B1, D1])
    assert made.passages == rebuilt.passages  # in (path, start) order
    assert made.tokens == rebuilt.tokens
    for query in ("Genève", "ours", "jazz", "Poutine"):
        assert made.scores(query).tolist() == rebuilt.scores(query).tolist(), query


def test_passages_no_longer_stored_are_dropped() -> None:
    last, tokens = last_index(A1, B1, C1)

    made = updated(last, tokens, {"a1"}, [], never_read)

    assert [p.id for p in made.passages] == ["a1"]


def test_kept_passages_reuse_their_tokens_instead_of_re_tokenizing() -> None:
    last, tokens = last_index(A1, B1)
    tokens[1] = ["jeton", "garde"]  # what an earlier ingest saved for b1

    made = updated(last, tokens, {"a1", "b1", "c1"}, [C1], never_read)

    assert made.tokens == [passage_tokens(A1.text), ["jeton", "garde"], passage_tokens(C1.text)]


def test_stored_passages_known_nowhere_are_read_back_once_sorted() -> None:
    last, tokens = last_index(A1)
    asked: list[list[str]] = []

    def read_back(ids: list[str]) -> list[Passage]:
        asked.append(ids)
        return [p for p in (D1, C1) if p.id in ids]

    made = updated(last, tokens, {"a1", "b1", "c1", "d1"}, [B1], read_back)

    assert asked == [["c1", "d1"]]  # left by an interrupted ingest: neither in last nor new
    assert [p.id for p in made.passages] == ["a1", "b1", "c1", "d1"]


def test_new_passages_not_stored_are_left_out() -> None:
    last, tokens = last_index(A1)

    made = updated(last, tokens, {"a1"}, [B1], never_read)

    assert [p.id for p in made.passages] == ["a1"]


def test_a_written_snapshot_is_current_and_reads_back(tmp_path: Path) -> None:
    keyword = KeywordIndex.build([A1, B1])

    folder = write(tmp_path, keyword, "stamp-1")
    loaded, where, stamp = read(tmp_path)

    assert where == folder and stamp == "stamp-1"
    assert [p.id for p in loaded.passages] == ["a1", "b1"]


def test_writing_a_snapshot_replaces_the_previous_one(tmp_path: Path) -> None:
    first = write(tmp_path, KeywordIndex.build([A1]), "stamp-1")

    second = write(tmp_path, KeywordIndex.build([A1, C1]), "stamp-2")

    assert not first.exists() and second.exists()
    assert [p.id for p in read(tmp_path)[0].passages] == ["a1", "c1"]
    assert not list(tmp_path.glob("*.tmp"))


def test_no_snapshot_is_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read(tmp_path)
