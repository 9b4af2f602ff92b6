"""The span head: which words of the chosen sentence answer the question (run by train.py).

The sentence reader is trained first and frozen. A copy of its top SPAN_LAYERS layers (all six
it trains: the phrase gets its own tower over e5's frozen lower layers, and a pass still runs six
layers) and a linear start/end head are fitted on the answer spans of PIAF and SQuAD 2.0 (the
positive pairs of the same training articles). The vectors below the copies are computed
once from the lower-layer caches of the reader's own run, so each epoch costs only the copies.
Held out: exact match and word F1 of the phrase on the held-out articles, SQuAD-style.

Example: python -m rag.reader.train --span-only   (adds the head to the shipped weights)
"""

from __future__ import annotations

import datetime
import random
import re
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rag.reader.data import Pair
from rag.reader.model import (
    OFFSET,
    SPAN_LAYERS,
    Reader,
    best_span,
    candidate_text,
    question_text,
    sentence_tokens,
)
from rag.reader.train import FILES, Split, _say


@dataclass(frozen=True)
class SpanConfig:
    """The span head's settings; the card records them."""

    seed: int = 13
    epochs: float = 4.0  # 10 fitted the training spans closer and did worse held out
    batch_pairs: int = 32
    layers: int = SPAN_LAYERS
    lr_layers: float = 2e-4
    lr_head: float = 1e-3


@dataclass
class Example:
    """A positive pair, its candidate's tokens, its answer's (first, last) token positions, the
    positions where a phrase may be, and its vectors below the span head's layers (fp16, computed
    once)."""

    pair: Pair
    pieces: list[tuple[int, int, int]]
    target: tuple[int, int]
    allowed: list[int]
    question: torch.Tensor  # [Tq, H]
    candidate: torch.Tensor  # [Tc, H]


def target(pair: Pair, pieces: list[tuple[int, int, int]]) -> tuple[int, int] | None:
    """The (first, last) positions (after ``<s>``) among the candidate's ``pieces`` of ``pair``'s
    answer, or None when it has none or the candidate's cut leaves it out."""
    if pair.answer is None:
        return None
    a, b = OFFSET + pair.answer[0], OFFSET + pair.answer[1]
    covering = [n for n, (_, s, e) in enumerate(pieces, 1) if s < b and e > a]
    if not covering or pieces[covering[-1] - 1][2] < b:
        return None
    return covering[0], covering[-1]


def examples(reader: Reader, split: Split) -> list[Example]:
    """The split's positive pairs whose answer the candidate holds, with their vectors."""
    positives = [p for g in split.groups for p in g if p.label]
    found = [(p, reader.candidate_pieces(p.sentence, p.before)) for p in positives]
    kept = [(p, pieces, t) for p, pieces in found if (t := target(p, pieces)) is not None]
    out = []
    for at in range(0, len(kept), 64):
        chunk = kept[at : at + 64]
        q, q_mask, c, c_mask = _inputs(split, [p for p, _, _ in chunk])
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            x, _, _ = reader.joint(q, q_mask, c, c_mask, reader.span_start())
        width = q.shape[1]
        for row, (p, pieces, t) in enumerate(chunk):
            tq, tc = int(q_mask[row].sum()), int(c_mask[row].sum())
            allowed = sentence_tokens(pieces, len(p.sentence))
            vectors = x[row].to(torch.float16)
            out.append(Example(p, pieces, t, allowed, vectors[:tq], vectors[width : width + tc]))
        _say(f"\rspan inputs {len(out)}/{len(kept)}", end="")
    _say("")
    return out


def _inputs(split: Split, pairs: list[Pair]) -> tuple[torch.Tensor, ...]:
    q, q_mask = split.questions.batch([question_text(p.question) for p in pairs])
    c, c_mask = split.candidates.batch([candidate_text(p.sentence, p.before) for p in pairs])
    return q, q_mask, c, c_mask


def span_logits(reader: Reader, batch: list[Example]) -> torch.Tensor:
    """The span head's start/end logits [B, Tc, 2] over ``batch``'s cached vectors, every token
    outside a pair's sentence masked out."""
    assert reader.span is not None
    q, q_mask = _stack([e.question for e in batch])
    c, c_mask = _stack([e.candidate for e in batch])
    mask = torch.cat([q_mask, c_mask], dim=1)
    logits = reader.span(torch.cat([q, c], dim=1), mask.bool()[:, None, None, :])[:, q.shape[1] :]
    allowed = torch.zeros(logits.shape[:2], dtype=torch.bool)
    for row, e in enumerate(batch):
        allowed[row, e.allowed] = True
    return logits.masked_fill(~allowed[..., None], -1e4)


def _stack(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(len(rows), max(r.shape[0] for r in rows), rows[0].shape[1])
    mask = torch.zeros(x.shape[:2], dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, : r.shape[0]], mask[i, : r.shape[0]] = r.float(), 1
    return x, mask


def fit(reader: Reader, work: Path, config: SpanConfig, limit: int = 0) -> float:
    """Add a span head to ``reader`` (its other weights frozen) and fit it; returns the seconds."""
    torch.manual_seed(config.seed)
    reader.add_span(config.layers)
    assert reader.span is not None
    for name, p in reader.named_parameters():
        p.requires_grad_(name.startswith("span."))
    items = examples(reader, Split.load(reader, work, "train", limit))
    rng = random.Random(config.seed)
    steps = int(len(items) * config.epochs / config.batch_pairs) or 1
    optimizer = torch.optim.AdamW(
        [
            {"params": reader.span.layers.parameters(), "lr": config.lr_layers},
            {"params": reader.span.head.parameters(), "lr": config.lr_head},
        ],
        weight_decay=0.01,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / steps))
    started = time.monotonic()
    order: list[Example] = []
    reader.train()
    for step in range(steps):
        if len(order) < config.batch_pairs:
            order += rng.sample(items, len(items))
        batch, order = order[: config.batch_pairs], order[config.batch_pairs :]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = span_logits(reader, batch).float()
        starts = torch.tensor([e.target[0] for e in batch])
        ends = torch.tensor([e.target[1] for e in batch])
        loss = (F.cross_entropy(logits[..., 0], starts) + F.cross_entropy(logits[..., 1], ends)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if (step + 1) % 100 == 0 or step + 1 == steps:
            _say(f"span step {step + 1}/{steps} loss {loss.item():.3f}")
    return time.monotonic() - started


def evaluate(reader: Reader, work: Path, limit: int = 0) -> dict[str, float]:
    """Exact match and word F1 of the predicted phrase against the answer, on the held-out
    articles' answer sentences, per file (SQuAD's normalisation: case, punctuation, articles)."""
    figures: dict[str, float] = {}
    reader.eval()
    for name, prefix in zip(FILES, ("piaf", "squad")):
        items = examples(reader, Split.load(reader, work, "test", limit, (name,)))
        exact, f1 = [], []
        for at in range(0, len(items), 64):
            chunk = items[at : at + 64]
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                logits = span_logits(reader, chunk).float()
            for row, e in enumerate(chunk):
                first, last, _ = best_span(logits[row], e.allowed)
                a, b = e.pair.answer or (0, 0)
                start, end = e.pieces[first - 1][1], e.pieces[last - 1][2]
                got = e.pair.sentence[start - OFFSET : end - OFFSET]
                gold = e.pair.sentence[a:b]
                exact.append(float(_words(got) == _words(gold)))
                f1.append(word_f1(got, gold))
        figures[f"{prefix}_span_exact"] = sum(exact) / max(1, len(exact))
        figures[f"{prefix}_span_f1"] = sum(f1) / max(1, len(f1))
    return figures


def card(config: SpanConfig, figures: dict[str, float], seconds: float) -> dict[str, Any]:
    """The span head's part of the model card."""
    from rag.reader.evaluate import commit

    return {
        "settings": asdict(config),
        "data": "the answer spans of the reader's training articles (PIAF, SQuAD 2.0 answerable)",
        "held_out": {k: round(v, 4) for k, v in figures.items()},
        "train_seconds": round(seconds),
        "commit": commit(),
        "date": datetime.date.today().isoformat(),
    }


_ARTICLES = re.compile(r"\b(?:a|an|the|le|la|les|l|un|une|des|du|de|d)\b")


def _words(text: str) -> list[str]:
    text = "".join(c if not unicodedata.category(c).startswith("P") else " " for c in text.lower())
    return _ARTICLES.sub(" ", text).split()


def word_f1(got: str, gold: str) -> float:
    """SQuAD's word F1. Example: ("le 14 juillet 1789", "14 juillet") -> 0.8"""
    a, b = _words(got), _words(gold)
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return float(a == b)
    precision, recall = common / len(a), common / len(b)
    return 2 * precision * recall / (precision + recall)
