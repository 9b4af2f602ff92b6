"""`rag calibrate`: an index measures its own answer-feature scale from questions users would ask."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import SEEDS, Run, assert_one_line_error, rag
from tests.test_reliability import eventually

pytestmark = pytest.mark.cli  # `rag calibrate` run as a user runs it

QUESTIONS = """\
Où Biden et Poutine doivent-ils se rencontrer ?
Quand a eu lieu le sommet de Genève ?
Qui est le porte-parole du Kremlin ?
Pourquoi les Etats-Unis ont-ils sanctionné la Russie ?
Combien de diplomates russes ont été expulsés ?
Quel est le rôle d'Antony Blinken ?
Que pense Joe Biden de Vladimir Poutine ?
Où se trouvent les troupes russes ?
What did Biden propose to Putin?
Who is the White House spokeswoman?
Quand Biden a-t-il appelé Poutine ?
Quelles sanctions ont été annoncées ?
Qui a rencontré Zelensky ?
Que dit la Maison Blanche sur l'Ukraine ?
Quel traité de désarmement a été prolongé ?
Où a eu lieu la rencontre entre Blinken et Lavrov ?
biden poutine sommet date
Est-ce que la Russie a rappelé son ambassadeur ?
Quelle est la position de l'Otan ?
Why is the relationship between Washington and Moscow tense?
Qui a qualifié Poutine de tueur ?
Quel pays tiers accueille le sommet ?
Quel est le prix du pétrole ?
Qui a gagné la Coupe du monde 2018 ?
"""
QUESTION = "Où Biden et Poutine doivent-ils se rencontrer ?"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("calibrate")
    done = rag("ingest", str(SEEDS), "--index", str(work / "index"), "-q", cwd=work)
    assert done.code == 0, done.err
    (work / "questions.txt").write_text(QUESTIONS, encoding="utf-8")
    return work / "index"


def run(index: Path, *args: str) -> Run:
    return rag(*args, "--index", str(index), cwd=index.parent)


def scale(index: Path) -> str:
    done = run(index, "info", "--json")
    assert done.code == 0, done.err
    return str(json.loads(done.out)["abstention"])


def confidence(index: Path) -> float:
    done = run(index, "ask", "--json", QUESTION)
    assert done.code == 0, done.err
    return float(json.loads(done.out)["confidence"])


def test_calibrate_keeps_the_scale_through_a_rebuild_and_reset_restores_the_default(
    index: Path,
) -> None:
    assert scale(index).startswith("default scale")
    before = confidence(index)

    done = run(index, "calibrate", str(index.parent / "questions.txt"))
    assert done.code == 0, done.err
    assert done.out.startswith("calibrated on 24 questions:"), done.out
    assert scale(index) == "own scale, from 24 questions"
    calibrated = confidence(index)
    assert calibrated != before  # questions are now read on this corpus's own scale

    rebuilt = run(index, "ingest", str(SEEDS), "--rebuild", "-q")
    assert rebuilt.code == 0, rebuilt.err
    assert scale(index) == "own scale, from 24 questions"
    assert confidence(index) == pytest.approx(calibrated, abs=1e-3)

    assert run(index, "calibrate", "--reset").code == 0
    assert scale(index).startswith("default scale")
    assert confidence(index) == pytest.approx(before, abs=1e-3)


def test_a_running_app_answers_on_the_new_scale_without_a_restart(
    index: Path, embedder: Any
) -> None:
    from rag.config import Settings
    from rag.pipeline import Pipeline

    pipeline = Pipeline.load(Settings.from_env(index_dir=index), embedder=embedder)
    before = pipeline.ask(QUESTION).confidence

    assert run(index, "calibrate", str(index.parent / "questions.txt")).code == 0
    assert eventually(lambda: pipeline.ask(QUESTION).confidence != before, timeout=20)

    assert run(index, "calibrate", "--reset").code == 0
    assert eventually(
        lambda: pipeline.ask(QUESTION).confidence == pytest.approx(before, abs=1e-3), timeout=20
    )


def test_jsonl_questions_are_read_from_their_question_field(index: Path, tmp_path: Path) -> None:
    from rag.answer.corpus_scale import read_questions

    lines = [json.dumps({"question": q, "answers": ["x"]}) for q in QUESTIONS.splitlines()]
    path = tmp_path / "gold.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_questions(path) == QUESTIONS.splitlines()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("Qui ?\nQuoi ?\n", "few.txt", "holds 2 questions: give at least 20"),
        ('{"q": "Qui ?"}\n' * 25, "bad.jsonl", 'must be JSON with a "question" field'),
        (None, "missing.txt", "Cannot read"),
        (b"\xff\xfe\x00bad", "latin.txt", "give a UTF-8 text file"),
    ],
)
def test_bad_question_files_are_one_line_errors(
    index: Path, tmp_path: Path, content: str | bytes | None, name: str, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    elif content is not None:
        path.write_bytes(content)
    assert message in assert_one_line_error(run(index, "calibrate", str(path)))


def test_calibrate_without_a_file_says_what_to_give(index: Path) -> None:
    assert "Give a file of questions" in assert_one_line_error(run(index, "calibrate"))
