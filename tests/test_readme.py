"""The README's shell examples, run as written: its cited answer is what `rag ask` prints, and
every command of its "Command line" block exists. (Its Python blocks: tests/test_retriever.py.)"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.test_cli import SEEDS, rag

pytestmark = pytest.mark.cli
README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _block(heading: str, language: str) -> str:
    section = README.split(heading, 1)[1]
    return section.split(f"```{language}\n", 1)[1].split("```", 1)[0]


def test_the_cited_answer_is_what_rag_ask_prints(tmp_path: Path) -> None:
    console = _block("## A question and its cited answer", "console").splitlines()
    command, expected = shlex.split(console[0].removeprefix("$ ")), console[1:]
    assert command[:2] == [".venv/bin/rag", "ask"]
    index = str(tmp_path / "index")
    assert rag("ingest", str(SEEDS), "-q", cwd=tmp_path, RAG_INDEX_DIR=index).code == 0
    run = rag(*command[1:], cwd=tmp_path, RAG_INDEX_DIR=index)
    assert run.code == 0, run.err
    assert run.out.splitlines() == expected


def test_every_command_of_the_command_line_block_exists(tmp_path: Path) -> None:
    commands = re.findall(r"^(?:printf .*\| )?rag (\w+)", _block("## Command line", "sh"), re.M)
    assert len(set(commands)) >= 8
    for name in sorted(set(commands)):
        run = rag(name, "--help", cwd=tmp_path)
        assert run.code == 0 and "example" in run.out.lower(), (name, run.err)
