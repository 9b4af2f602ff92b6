"""One evaluation run per session: seeds/ indexed into a temporary folder, ours vs stock llama-index."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rag import evaluation
from rag.config import Settings
from rag.ingest import ingest
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
EVALS = ROOT / "evals"
REPORTS = EVALS / "reports"
_RESULT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def thresholds() -> dict[str, float]:
    return tomllib.loads((EVALS / "thresholds.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    settings = Settings.from_env(index_dir=tmp_path_factory.mktemp("eval-index"), chroma_url="")
    ingest([ROOT / "seeds"], settings)
    return Pipeline.load(settings)


@pytest.fixture(scope="session")
def evaluated(pipeline: Pipeline) -> dict[str, Any]:
    gold = evaluation.load_gold(EVALS / "gold.jsonl")
    ours = evaluation.run_ours(pipeline, gold)
    baseline = evaluation.run_baseline(ROOT / "seeds", pipeline, gold)
    result = evaluation.report(ours, baseline)
    evaluation.write_reports(result, REPORTS)
    _RESULT.update(result)
    return result


@pytest.fixture(scope="session")
def conversations() -> list[dict[str, Any]]:
    lines = (EVALS / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RESULT:
        terminalreporter.write_sep("=", "answer quality: ours vs stock llama-index")
        terminalreporter.write_line(evaluation.table(_RESULT))
        terminalreporter.write_line(f"reports: {REPORTS}/report.json, report.md, report.png")
