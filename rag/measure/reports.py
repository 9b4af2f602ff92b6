"""Evaluation reports: `rag eval`'s output, and the Markdown tables, JSON and charts of evals/.

The metrics themselves are computed in rag/measure/evaluation.py.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.index.ingest import Progress
from rag.measure.evaluation import METRICS, by_split, load_gold, run_ours
from rag.pipeline import Pipeline


def evaluate_cli(
    gold_path: Path,
    settings: Settings,
    corpus: Path | None,
    as_json: bool,
    progress: Progress | None = None,
    llm: bool = False,
) -> int:
    """`rag eval`: on the current index, or on ``corpus`` indexed into a temporary folder."""
    gold = load_gold(gold_path)
    with tempfile.TemporaryDirectory() as scratch:
        if corpus is not None:
            settings = replace(settings, index_dir=Path(scratch), corpus_dir=corpus, chroma_url="")
        say = None if progress is None else partial(print, file=sys.stderr, flush=True)
        pipeline = Pipeline.load(settings, build=corpus is not None, say=say)
        results = by_split(run_ours(pipeline, gold, progress, llm))
    if as_json:
        brief = {
            split: {k: v for k, v in r.items() if k != "records"} for split, r in results.items()
        }
        print(json.dumps(brief, indent=2))
    else:
        print("\n\n".join(table(result, split) for split, result in results.items()))
    return 0


def table(result: dict[str, Any], title: str = "") -> str:
    """A Markdown table: metric, ours, baseline, then per tag (ours)."""
    base = result.get("baseline", {})
    lines = [f"### {title} ({result['questions']} questions)", ""] if title else []
    lines += ["| metric | ours | stock llama-index |", "|---|---|---|"]
    for metric in METRICS:
        if metric in result["ours"]:
            lines.append(f"| {metric} | {result['ours'][metric]:.3f} | {_cell(base.get(metric))} |")
    tags = result["ours_by_tag"]
    lines += [
        "",
        "| tag | n | hit@1 | answer accuracy | abstention recall |",
        "|---|---|---|---|---|",
    ]
    for tag, values in tags.items():
        n = sum(tag in r["tags"] for r in result["records"])
        lines.append(
            f"| {tag} | {n} | {_cell(values.get('hit@1'))} | {_cell(values.get('answer_accuracy'))} "
            f"| {_cell(values.get('abstention_recall'))} |"
        )
    return "\n".join(lines)


def write_reports(results: dict[str, dict[str, Any]], folder: Path) -> list[Path]:
    """report.json, report.md, report.png (metrics per corpus/split) and risk-coverage.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / n for n in ("report.json", "report.md", "report.png", "risk-coverage.png")]
    paths[0].write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    tables = "\n\n".join(table(result, name) for name, result in results.items())
    paths[1].write_text(f"# Answer quality\n\n{tables}\n", encoding="utf-8")
    names = [m for m in METRICS if m not in ("latency_median_s", "llm_answers")]
    figure, axes = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(results)
    for n, (name, result) in enumerate(results.items()):
        xs = [x + n * width - 0.4 for x in range(len(names))]
        axes.bar(xs, [result["ours"].get(m, 0) for m in names], width, label=name, align="edge")
    axes.set_xticks(list(range(len(names))), names, rotation=20, ha="right")
    axes.set_ylim(0, 1)
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(paths[2], dpi=100)
    plt.close(figure)
    # one panel per corpus and split, its variants side by side: "seeds+no-reader/dev" is the
    # line "no-reader" of the panel "seeds/dev"
    panels: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        run, split = name.rsplit("/", 1)
        corpus, _, variant = run.partition("+")
        panels.setdefault(f"{corpus}/{split}", {})[variant or "default"] = result
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    figure, grid = plt.subplots(
        rows, columns, figsize=(5 * columns, 3.8 * rows), squeeze=False, sharex=True, sharey=True
    )
    for axes, (title, variants) in zip(grid.flat, panels.items()):
        for variant, result in variants.items():
            coverage, precision = zip(*result["risk_coverage"], strict=True)
            axes.plot(coverage, precision, label=variant)
        axes.set_title(title)
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small")
    for axes in grid.flat[len(panels) :]:
        axes.set_visible(False)
    figure.supxlabel("share of answerable questions answered")
    figure.supylabel("precision when answering (gold file and fact)")
    figure.tight_layout()
    figure.savefig(paths[3], dpi=100)
    plt.close(figure)
    return paths


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
