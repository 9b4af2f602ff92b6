"""Answer-quality metrics over gold questions (used by evals/ and `rag eval`).

A gold line: {"id", "question", "answers": [facts, any one suffices], "sources": [files],
"answerable": bool, "history": [previous user turns], "tags": [...]}.
Matching is case-, accent- and apostrophe-insensitive; retrieval is judged at file level.
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rag.answer.chat import rewrite
from rag.errors import InputError
from rag.index.ingest import Progress
from rag.pipeline import Pipeline
from rag.text import fold

METRICS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "mrr@10",
    "answer_accuracy",
    "first_source",
    "citation_precision",
    "abstention_recall",
    "false_abstention",
    "precision_answered",
    "source_precision",
    "answered",
    "precision_sure",
    "precision_unsure",
    "unsure",
    "phrase_fact",
    "latency_median_s",
    "llm_answers",
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
    confidence: float = 1.0
    split: str = "dev"
    best: str = ""  # the file the answer cites first, or would have cited when it abstained
    mode: str = "extractive"  # or "llm": the LLM's answer was kept (see rag/answer/generate.py)
    llm: str = ""  # the LLM asked, if any
    unsure: bool = False  # answered, marked "à vérifier" (below RAG_SURE_THRESHOLD)
    right: bool = False  # ``is_right`` of the answer, or of what an abstention withheld
    quotes: list[str] = field(default_factory=list)  # the cited sentences of an answer given
    phrase: str = ""  # the answer phrase marked in it (the reader's span head), if any
    phrase_fact: bool = False  # a gold fact is in that phrase


def load_gold(path: Path, split: str = "") -> list[dict[str, Any]]:
    """Read and check a gold file, keeping one ``split`` ("dev", "test") or all of them;
    a bad line is an InputError naming the line."""
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
            if not isinstance(item["question"], str) or (
                item["answerable"] and not item["answers"]
            ):
                raise ValueError("answerable questions need answers")
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a gold question ({exc})") from exc
        if not split or item.get("split", "dev") == split:
            gold.append(item)
    if not gold:
        raise InputError(
            f"{path} holds no gold question" + (f" in split {split!r}" if split else "")
        )
    return gold


def contains_fact(text: str, facts: list[str], quotes: Sequence[str] = ()) -> bool:
    """A fact is in the answer, or a quoted sentence is part of a (long) gold answer.

    Example: ("Jake Sullivan, s’est entretenu", ["jake sullivan"]) -> True.
    """
    folded = _flat(text)
    if any(_flat(fact) in folded for fact in facts):
        return True
    return any(len(q) > 20 and _flat(q) in _flat(fact) for q in quotes for fact in facts)


def is_right(item: Mapping[str, Any], file: str, text: str, quotes: Sequence[str]) -> bool:
    """The one definition of a right answer, for fitting the models and for measuring them: an
    answerable question, a gold source file cited first, and a gold fact in the answer ``text``
    (or one of its ``quotes`` being part of a long gold answer)."""
    return (
        bool(item["answerable"])
        and file in item["sources"]
        and contains_fact(text, item["answers"], quotes)
    )


def _flat(text: str) -> str:
    return " ".join(fold(text).split())


def run_ours(
    pipeline: Pipeline,
    gold: list[dict[str, Any]],
    progress: Progress | None = None,
    llm: bool = False,
) -> list[Record]:
    """Ask every gold question (answers written by the LLM with ``llm``); ``progress`` hears
    (questions done, total)."""
    records = []
    for done, item in enumerate(gold):
        if progress:
            progress(done, len(gold))
        started = time.perf_counter()
        answer = pipeline.ask(item["question"], item["history"], llm=llm)
        seconds = time.perf_counter() - started
        query = rewrite(item["question"], item["history"])
        hits = pipeline.retrieve(query, k=20)
        retrieved = list(dict.fromkeys(h.passage.file for h in hits))  # files, first rank each
        cited = [s.file for s in answer.sources]
        shown = answer.sources or answer.withheld
        best = shown[0].file if shown else ""
        said = " ".join(s.text for s in shown) if answer.abstained else answer.text
        span = answer.phrase()
        phrase = answer.text[span[0] : span[1]] if span else ""
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
                contains_fact(answer.text, item["answers"], [s.text for s in answer.sources]),
                seconds,
                answer.confidence,
                item.get("split", "dev"),
                best,
                mode=answer.mode,
                llm=answer.llm,
                unsure=answer.unsure,
                right=is_right(item, best, said, [s.text for s in shown]),
                quotes=[s.text for s in answer.sources],
                phrase=phrase,
                phrase_fact=contains_fact(phrase, item["answers"]),
            )
        )
    if progress:
        progress(len(gold), len(gold))
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
        "hit@5": _mean([bool(set(r.retrieved[:5]) & set(r.gold_sources)) for r in answerable]),
        "mrr@10": _mean([_reciprocal_rank(r) for r in answerable]),
        "answer_accuracy": _mean([r.fact and not r.abstained for r in answerable]),
        "first_source": _mean([bool(r.cited) and r.cited[0] in r.gold_sources for r in answerable]),
        "citation_precision": _mean([f in r.gold_sources for f, r in cited]),
        "abstention_recall": _mean([r.abstained for r in unanswerable]),
        "false_abstention": _mean([r.abstained for r in answerable]),
        "precision_answered": _mean([_right(r) for r in records if not r.abstained]),
        # the looser, older measure: the article cited first is a gold one (no fact needed),
        # which a stock pipeline's top passage can be compared on
        "source_precision": _mean(
            [r.answerable and r.best in r.gold_sources for r in records if not r.abstained]
        ),
        "answered": _mean([not r.abstained for r in answerable]),
        # answers given plainly, and those marked "à vérifier": how much the mark tells
        "precision_sure": _mean([_right(r) for r in records if not r.abstained and not r.unsure]),
        "precision_unsure": _mean([_right(r) for r in records if r.unsure]),
        "unsure": _mean([r.unsure for r in records if not r.abstained]),
        # of the answers holding a gold fact, those whose marked phrase holds it (span head)
        "phrase_fact": _mean([r.phrase_fact for r in answerable if r.fact and r.phrase]),
        "latency_median_s": statistics.median(r.seconds for r in records) if records else None,
        # share of the questions whose answer the LLM wrote (the rest fell back), with --llm
        "llm_answers": _mean([r.mode == "llm" for r in records])
        if any(r.llm for r in records)
        else None,
    }
    return {k: round(v, 4) for k, v in values.items() if v is not None}


def _right(record: Record) -> bool:
    """An answer given and right (``is_right``)."""
    return not record.abstained and record.right


def risk_coverage(records: list[Record]) -> list[tuple[float, float]]:
    """(share of answerable questions answered, precision when answering) as the abstention
    threshold moves from strict to lax; unanswerable questions answered count as wrong.

    Example: confidences 0.9 (right), 0.8 (wrong), 2 answerable -> [(0.5, 1.0), (1.0, 0.5)]
    """
    answerable = sum(r.answerable for r in records) or 1
    ordered = sorted(records, key=lambda r: -r.confidence)
    curve, right, covered = [], 0, 0
    for given, record in enumerate(ordered, 1):
        right += record.right
        covered += record.answerable
        curve.append((covered / answerable, right / given))
    return curve


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
        "precision_answered": lambda r: not r.abstained and not _right(r),
        "precision_sure": lambda r: not r.abstained and not r.unsure and not _right(r),
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
        "risk_coverage": risk_coverage(ours),
    }
    if baseline is not None:
        result["baseline"] = metrics(baseline)
        result["baseline_by_tag"] = by_tag(baseline)
    return result


def by_split(ours: list[Record], baseline: list[Record] | None = None) -> dict[str, dict[str, Any]]:
    """One ``report`` per split of the gold questions ("dev", "test")."""
    return {
        split: report(
            [r for r in ours if r.split == split],
            None if baseline is None else [r for r in baseline if r.split == split],
        )
        for split in sorted({r.split for r in ours})
    }


def _reciprocal_rank(record: Record) -> float:
    return next(
        (1 / i for i, f in enumerate(record.retrieved[:10], 1) if f in record.gold_sources), 0.0
    )


def _mean(values: list[bool] | list[float]) -> float | None:
    return sum(float(v) for v in values) / len(values) if values else None
