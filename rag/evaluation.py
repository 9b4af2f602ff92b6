"""Answer-quality metrics over gold questions (used by evals/ and `rag eval`).

A gold line: {"id", "question", "answers": [facts, any one suffices], "sources": [files],
"answerable": bool, "history": [previous user turns], "tags": [...]}.
Matching is case-, accent- and apostrophe-insensitive; retrieval is judged at file level.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from rag.chat import rewrite
from rag.config import Settings
from rag.errors import InputError
from rag.keyword import fold
from rag.pipeline import Pipeline

METRICS = (
    "hit@1",
    "hit@3",
    "mrr@10",
    "answer_accuracy",
    "first_source",
    "citation_precision",
    "abstention_recall",
    "false_abstention",
    "latency_median_s",
)
LOWER_IS_BETTER = {"false_abstention", "latency_median_s"}


@dataclass
class Record:
    """What the system did with one gold question."""

    id: str
    tags: list[str]
    answerable: bool
    retrieved: list[str]
    answer: str
    abstained: bool
    cited: list[str]
    gold_sources: list[str]
    fact: bool
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def load_gold(path: Path) -> list[dict[str, Any]]:
    """Read and check a gold file; a bad line is an InputError naming the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"Cannot read gold file {path}: {exc.strerror or exc}") from exc
    gold = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            item.setdefault("history", [])
            item.setdefault("tags", [])
            if not isinstance(item["question"], str) or item["answerable"] == (not item["answers"]):
                raise ValueError("answerable questions need answers, unanswerable ones none")
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a gold question ({exc})") from exc
        gold.append(item)
    if not gold:
        raise InputError(f"{path} holds no gold question")
    return gold


def contains_fact(text: str, facts: list[str]) -> bool:
    """Example: ("Jake Sullivan, s’est entretenu", ["jake sullivan"]) -> True."""
    folded = fold(text)
    return any(fold(fact) in folded for fact in facts)


def run_ours(pipeline: Pipeline, gold: list[dict[str, Any]]) -> list[Record]:
    records = []
    for item in gold:
        started = time.perf_counter()
        answer = pipeline.ask(item["question"], item["history"])
        seconds = time.perf_counter() - started
        query = rewrite(item["question"], item["history"])
        retrieved = [h.passage.file for h in pipeline.retrieve(query, k=10)]
        cited = [s.file for s in answer.sources]
        records.append(
            Record(
                item["id"],
                item["tags"],
                item["answerable"],
                retrieved,
                answer.text,
                answer.abstained,
                cited,
                item["sources"],
                contains_fact(answer.text, item["answers"]),
                seconds,
            )
        )
    return records


def run_baseline(corpus: Path, pipeline: Pipeline, gold: list[dict[str, Any]]) -> list[Record]:
    """The stock llama-index pipeline: default splitter, same embedding model, default top-k.

    Its "answer" is the top passage; it never abstains.
    """
    from llama_index.core import SimpleDirectoryReader, VectorStoreIndex

    from rag.llama import SentenceTransformerEmbedding

    documents = SimpleDirectoryReader(str(corpus), required_exts=[".txt", ".md"]).load_data()
    index = VectorStoreIndex.from_documents(
        documents, embed_model=SentenceTransformerEmbedding(pipeline.embedder)
    )
    retriever = index.as_retriever()
    records = []
    for item in gold:
        started = time.perf_counter()
        nodes = retriever.retrieve(item["question"])
        seconds = time.perf_counter() - started
        files = [str(n.node.metadata.get("file_name", "")) for n in nodes]
        top = nodes[0].node.get_content() if nodes else ""
        records.append(
            Record(
                item["id"],
                item["tags"],
                item["answerable"],
                files,
                top,
                False,
                files[:1],
                item["sources"],
                contains_fact(top, item["answers"]),
                seconds,
            )
        )
    return records


def metrics(records: list[Record]) -> dict[str, float]:
    """The metrics of METRICS over some records; a metric with no question to judge is absent."""
    answerable = [r for r in records if r.answerable]
    unanswerable = [r for r in records if not r.answerable]
    cited = [(f, r) for r in answerable for f in r.cited]
    values: dict[str, float | None] = {
        "hit@1": _mean(
            [bool(r.retrieved) and r.retrieved[0] in r.gold_sources for r in answerable]
        ),
        "hit@3": _mean([bool(set(r.retrieved[:3]) & set(r.gold_sources)) for r in answerable]),
        "mrr@10": _mean([_reciprocal_rank(r) for r in answerable]),
        "answer_accuracy": _mean([r.fact and not r.abstained for r in answerable]),
        "first_source": _mean([bool(r.cited) and r.cited[0] in r.gold_sources for r in answerable]),
        "citation_precision": _mean([f in r.gold_sources for f, r in cited]),
        "abstention_recall": _mean([r.abstained for r in unanswerable]),
        "false_abstention": _mean([r.abstained for r in answerable]),
        "latency_median_s": statistics.median(r.seconds for r in records) if records else None,
    }
    return {k: round(v, 4) for k, v in values.items() if v is not None}


def failures(metric: str, records: list[Record]) -> list[str]:
    """Ids of the questions that pull ``metric`` down."""
    checks: dict[str, Callable[[Record], bool]] = {
        "hit@1": lambda r: (
            r.answerable and (not r.retrieved or r.retrieved[0] not in r.gold_sources)
        ),
        "hit@3": lambda r: r.answerable and not set(r.retrieved[:3]) & set(r.gold_sources),
        "mrr@10": lambda r: r.answerable and _reciprocal_rank(r) < 1,
        "answer_accuracy": lambda r: r.answerable and not (r.fact and not r.abstained),
        "citation_precision": lambda r: (
            r.answerable and any(f not in r.gold_sources for f in r.cited)
        ),
        "abstention_recall": lambda r: not r.answerable and not r.abstained,
        "false_abstention": lambda r: r.answerable and r.abstained,
    }
    check = checks.get(metric)
    return [r.id for r in records if check and check(r)]


def by_tag(records: list[Record]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        for tag in record.tags:
            groups[tag].append(record)
    return {tag: metrics(group) for tag, group in sorted(groups.items())}


def report(ours: list[Record], baseline: list[Record] | None = None) -> dict[str, Any]:
    """Everything the reports show: overall and per-tag metrics for ours and the baseline."""
    result: dict[str, Any] = {
        "questions": len(ours),
        "ours": metrics(ours),
        "ours_by_tag": by_tag(ours),
        "failures": {m: failures(m, ours) for m in METRICS if failures(m, ours)},
        "records": [asdict(r) for r in ours],
    }
    if baseline is not None:
        result["baseline"] = metrics(baseline)
        result["baseline_by_tag"] = by_tag(baseline)
    return result


def table(result: dict[str, Any]) -> str:
    """A Markdown table: metric, ours, baseline, then per tag (ours)."""
    base = result.get("baseline", {})
    lines = ["| metric | ours | stock llama-index |", "|---|---|---|"]
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


def write_reports(result: dict[str, Any], folder: Path) -> list[Path]:
    """report.json, report.md and report.png (ours vs baseline bars) in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json", folder / "report.md", folder / "report.png"]
    paths[0].write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    paths[1].write_text(f"# Answer quality\n\n{table(result)}\n", encoding="utf-8")
    names = [m for m in METRICS if m in result["ours"] and m != "latency_median_s"]
    figure, axes = plt.subplots(figsize=(9, 4))
    xs = range(len(names))
    axes.bar([x - 0.2 for x in xs], [result["ours"][m] for m in names], 0.4, label="ours")
    base = result.get("baseline", {})
    axes.bar([x + 0.2 for x in xs], [base.get(m, 0) for m in names], 0.4, label="stock llama-index")
    axes.set_xticks(list(xs), names, rotation=20, ha="right")
    axes.set_ylim(0, 1)
    axes.legend()
    figure.tight_layout()
    figure.savefig(paths[2], dpi=100)
    plt.close(figure)
    return paths


def evaluate_cli(
    gold_path: Path, settings: Settings, corpus: Path | None, as_json: bool, quiet: bool
) -> int:
    """`rag eval`: on the current index, or on ``corpus`` indexed into a temporary folder."""
    gold = load_gold(gold_path)
    with tempfile.TemporaryDirectory() as scratch:
        if corpus is not None:
            from rag.ingest import ingest

            settings = replace(settings, index_dir=Path(scratch))
            report_line = ingest([corpus], settings).summary()
            if not quiet:
                print(report_line, file=sys.stderr)
        pipeline = Pipeline.load(settings)
        result = report(run_ours(pipeline, gold))
    print(
        json.dumps({k: v for k, v in result.items() if k != "records"}, indent=2)
        if as_json
        else table(result)
    )
    return 0


def _reciprocal_rank(record: Record) -> float:
    return next(
        (1 / i for i, f in enumerate(record.retrieved[:10], 1) if f in record.gold_sources), 0.0
    )


def _mean(values: list[bool] | list[float]) -> float | None:
    return sum(float(v) for v in values) / len(values) if values else None


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
