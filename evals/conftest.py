"""One evaluation run per session: each corpus indexed into a temporary folder and all its gold
questions asked once; metrics are reported per split (tune on `dev`, only measure `test`)."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from evals.baseline import run_baseline
from rag.answer.corpus_scale import forget
from rag.answer.reading import reader_unavailable
from rag.config import Settings
from rag.measure import evaluation, reports
from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parent.parent
EVALS = ROOT / "evals"
REPORTS = EVALS / "reports"
# corpus -> (articles folder, gold questions); the stock llama-index baseline runs on seeds only
CORPORA = {
    "seeds": (ROOT / "seeds", EVALS / "gold.jsonl"),
    "cnil-faq": (EVALS / "cnil-faq" / "corpus", EVALS / "cnil-faq" / "questions.jsonl"),
}
_RESULTS: dict[str, Any] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if EVALS in Path(item.fspath).parents:
            item.add_marker(pytest.mark.eval)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def thresholds() -> dict[str, Any]:
    return tomllib.loads((EVALS / "thresholds.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pipeline]:
    out: dict[str, Pipeline] = {}
    for name, (corpus, _) in CORPORA.items():
        index = tmp_path_factory.mktemp(name)
        settings = Settings.from_env(index_dir=index, corpus_dir=corpus, chroma_url="")
        embedder = next(iter(out.values())).embedder if out else None  # one model for both
        out[name] = Pipeline.load(settings, build=True, embedder=embedder)
        if out[name].reader is None:  # on by default: the figures must be the reader's
            pytest.fail(f"the reader is not measured: {reader_unavailable() or 'RAG_READER=off'}")
    return out


@pytest.fixture(scope="session")
def pipeline(pipelines: dict[str, Pipeline]) -> Pipeline:
    return pipelines["seeds"]


@pytest.fixture(scope="session")
def evaluated(pipelines: dict[str, Pipeline]) -> dict[str, dict[str, Any]]:
    """ "corpus/split" -> report (metrics, per tag, records, risk-coverage curve)."""
    results = {}
    for name, (corpus, gold_path) in CORPORA.items():
        gold = evaluation.load_gold(gold_path)
        ours = evaluation.run_ours(pipelines[name], gold)
        baseline = run_baseline(corpus, pipelines[name], gold) if name == "seeds" else None
        for split, result in evaluation.by_split(ours, baseline).items():
            results[f"{name}/{split}"] = result
        # the same questions without the trained reader (RAG_READER=off): what it adds
        unread = dataclasses.replace(pipelines[name], reader=None)
        for split, result in evaluation.by_split(evaluation.run_ours(unread, gold)).items():
            results[f"{name}+no-reader/{split}"] = result
        # as a user who ran `rag calibrate` with the dev questions (their answers unread)
        pipeline = pipelines[name]
        questions = [item["question"] for item in gold if item.get("split", "dev") == "dev"]
        pipeline.calibrate(questions)
        calibrated = evaluation.run_ours(pipeline, gold)
        forget(pipeline.store)
        for split, result in evaluation.by_split(calibrated, None).items():
            results[f"{name}+calibrate/{split}"] = result
    reports.write_reports(results, REPORTS)
    _RESULTS.update(results)
    return results


@pytest.fixture(scope="session")
def conversations() -> list[dict[str, Any]]:
    lines = (EVALS / "conversations.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RESULTS:
        terminalreporter.write_sep("=", "answer quality per corpus and split")
        for name, result in _RESULTS.items():
            terminalreporter.write_line(reports.table(result, name) + "\n")
        terminalreporter.write_line(f"reports: {REPORTS}/report.md, report.png, risk-coverage.png")
