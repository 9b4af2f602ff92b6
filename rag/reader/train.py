"""Train the reader: `python -m rag.reader.train` (`make reader`), CPU-only, seeded, resumable.

1. Pairs from the reading-comprehension sets (data.py), held-out articles kept out.
2. e5's frozen lower layers run once over every distinct question and candidate; their vectors
   are cached in the work folder (default ~/.cache/rag/reader-train), so a resumed run skips it.
3. The top layers, segment vectors and head are fitted with AdamW on a pointwise loss (is this
   sentence an answer: calibrated probabilities, and impossible questions push all their
   sentences down) plus a listwise one (which sentence of the paragraph answers), checkpointed
   every CHECKPOINT_STEPS steps: a killed run resumes where it stopped.
4. The span head (span.py): which words of the chosen sentence answer, fitted on the frozen
   reader in a few minutes.
5. ``--blend S`` (a try, off by default): the top layers moved back toward e5's own.
6. Held-out figures (evaluate.py), then weights.pt (the trained part, fp16) and CARD.md.

Example: python -m rag.reader.train --minutes 60
         python -m rag.reader.train --span-only   (refit the span head of the shipped weights)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from rag.reader.data import Pair, pairs
from rag.reader.model import (
    MAX_CANDIDATE,
    MAX_QUESTION,
    TOP,
    WEIGHTS,
    Reader,
    candidate_text,
    question_text,
)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "corpora" / "reader-training"
FILES = ("piaf-v1.0.json", "squad-v2.0-half-dev.json")
WORK = Path.home() / ".cache" / "rag" / "reader-train"
CHECKPOINT_STEPS = 100


@dataclass(frozen=True)
class Config:
    """Every setting of a run; the card records them, the work folder is named by their hash."""

    seed: int = 13
    epochs: float = 1.5
    batch_pairs: int = 32
    lr_top: float = 6e-5  # the shipped reader's (top 6; 1e-4 suited the top 2)
    lr_head: float = 1e-3
    warmup: float = 0.05
    listwise: float = 1.0  # weight of the listwise loss beside the pointwise one
    answerable: float = 0.0  # weight of the per-question "is anything an answer" loss
    limit: int = 0  # pairs per file, for a quick try (0: all)
    top: int = TOP
    elsewhere: int = 0  # negatives from the article's other paragraphs, per question
    threads: int = 2
    blend: float = 1.0  # share of the trained top layers kept, the rest e5's own (1: all)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


class Cache:
    """Lower-layer vectors (fp16) of distinct texts, computed once and kept in the work folder."""

    def __init__(self, reader: Reader, folder: Path, name: str, texts: list[str], limit: int):
        self.index = {t: i for i, t in enumerate(dict.fromkeys(texts))}
        path = folder / f"lower-{name}.pt"
        if path.exists():
            self.vectors = torch.load(path, weights_only=True)
        else:
            self.vectors = _lower_all(reader, list(self.index), limit)
            torch.save(self.vectors, path)

    def batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = [self.vectors[self.index[t]] for t in texts]
        width = max(r.shape[0] for r in rows)
        x = torch.zeros(len(rows), width, rows[0].shape[1])
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            x[i, : r.shape[0]], mask[i, : r.shape[0]] = r.float(), 1
        return x, mask


def _lower_all(reader: Reader, texts: list[str], limit: int, batch: int = 64) -> list[torch.Tensor]:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    for at in range(0, len(order), batch):
        chunk = order[at : at + batch]
        x, mask = reader.lower(reader.ids([texts[i] for i in chunk], limit))
        for row, i in enumerate(chunk):
            out[i] = x[row, : int(mask[row].sum())].to(torch.float16).clone()
        _say(f"\rlower layers {min(at + batch, len(texts))}/{len(texts)}", end="")
    _say("")
    return out


@dataclass
class Split:
    """Pairs of one split, grouped by question, with their lower-layer caches."""

    groups: list[list[Pair]]
    questions: Cache
    candidates: Cache

    @classmethod
    def load(
        cls,
        reader: Reader,
        work: Path,
        split: str,
        limit: int,
        files: Sequence[str] = FILES,
        elsewhere: int = 0,
    ) -> Split:
        found: list[Pair] = []
        for name in files:
            got = pairs(DATA / name, split, elsewhere)
            found += got[:limit] if limit else got
        by_group: dict[str, list[Pair]] = defaultdict(list)
        for p in found:
            by_group[p.group].append(p)
        name = f"{split}-" + "+".join(Path(f).stem for f in files)
        questions = [question_text(p.question) for p in found]
        candidates = [candidate_text(p.sentence, p.before) for p in found]
        return cls(
            list(by_group.values()),
            Cache(reader, work, f"{name}-q", questions, MAX_QUESTION),
            Cache(reader, work, f"{name}-c", candidates, MAX_CANDIDATE),
        )

    def logits(self, reader: Reader, group: list[Pair]) -> torch.Tensor:
        q, q_mask = self.questions.batch([question_text(p.question) for p in group])
        c, c_mask = self.candidates.batch([candidate_text(p.sentence, p.before) for p in group])
        return reader.upper(q, q_mask, c, c_mask)


def loss(
    logits: torch.Tensor, groups: list[list[Pair]], listwise: float, answerable: float = 0.0
) -> torch.Tensor:
    """Pointwise BCE over every pair, plus listwise cross-entropy within each answerable group,
    plus (weight ``answerable``) BCE of each question's soft maximum (logsumexp of its logits):
    is any sentence an answer, what the product's abstention reads from the best sentence."""
    labels = torch.tensor([float(p.label) for g in groups for p in g])
    total = F.binary_cross_entropy_with_logits(logits, labels)
    at, lists, tops, any_right = 0, [], [], []
    for g in groups:
        part, right = logits[at : at + len(g)], labels[at : at + len(g)].bool()
        at += len(g)
        top = torch.logsumexp(part, 0)
        if right.any():
            lists.append(top - torch.logsumexp(part[right], 0))
        tops.append(top)
        any_right.append(float(right.any()))
    if answerable:
        questions = F.binary_cross_entropy_with_logits(torch.stack(tops), torch.tensor(any_right))
        total = total + answerable * questions
    return total + listwise * torch.stack(lists).mean() if lists else total


def batches(groups: list[list[Pair]], size: int, rng: random.Random) -> list[list[list[Pair]]]:
    order = groups[:]
    rng.shuffle(order)
    out, current, count = [], [], 0
    for g in order:
        current.append(g)
        count += len(g)
        if count >= size:
            out.append(current)
            current, count = [], 0
    return out + ([current] if current else [])


def train(config: Config, work: Path, minutes: float) -> tuple[Reader, str, float]:
    """Fit (or resume fitting) the reader; stops early after ``minutes``, checkpointed.
    Returns the reader, how far it got ("steps 1200/1200") and the seconds its steps took
    over every run that resumed it."""
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    from rag.reader.base import load_encoder

    reader = Reader(load_encoder(), config.top)
    work.mkdir(parents=True, exist_ok=True)
    data = Split.load(reader, work, "train", config.limit, elsewhere=config.elsewhere)
    rng = random.Random(config.seed)
    epochs = [
        batches(data.groups, config.batch_pairs, rng)
        for _ in range(max(1, round(config.epochs + 0.49)))
    ]
    plan = [b for e in epochs for b in e][: int(len(epochs[0]) * config.epochs) or 1]
    top = [p for n, p in reader.named_parameters() if p.requires_grad and n.startswith("encoder.")]
    head = [reader.segment, *reader.head.parameters()]
    optimizer = torch.optim.AdamW(
        [{"params": top, "lr": config.lr_top}, {"params": head, "lr": config.lr_head}],
        weight_decay=0.01,
    )
    warm = max(1, int(len(plan) * config.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (len(plan) - s) / (len(plan) - warm + 1)))
    )
    first, before = _resume(work, reader, optimizer, schedule)
    started, spent = time.monotonic(), before
    reader.train()
    for step in range(first, len(plan)):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = torch.cat([data.logits(reader, g) for g in plan[step]]).float()
        value = loss(logits, plan[step], config.listwise, config.answerable)
        optimizer.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_([*top, *head], 1.0)
        optimizer.step()
        schedule.step()
        spent = before + time.monotonic() - started
        if (step + 1) % CHECKPOINT_STEPS == 0 or step + 1 == len(plan):
            _checkpoint(work, reader, optimizer, schedule, step + 1, spent)
            _say(
                f"step {step + 1}/{len(plan)} loss {value.item():.3f} {time.monotonic() - started:.0f} s"
            )
        if time.monotonic() - started > minutes * 60:
            _checkpoint(work, reader, optimizer, schedule, step + 1, spent)
            _say(f"stopped after {minutes} min at step {step + 1}/{len(plan)}: run again to resume")
            return reader.eval(), f"steps {step + 1}/{len(plan)}", spent
    # the seconds as checkpointed, so that a resume with nothing left reports the same
    return reader.eval(), f"steps {len(plan)}/{len(plan)}", spent


def blend(reader: Reader, share: float) -> None:
    """Move the trained top layers back toward e5's: ``share`` of each trained weight, the rest
    the pretrained one (WiSE-FT, Wortsman et al., CVPR 2022). Fine-tuning on reading-comprehension
    paragraphs pulls the layers away from what e5 learnt of questions and passages in general;
    part of the way back might transfer better to news questions. Tried at 0.75 on the shipped
    reader: better on seeds/dev, worse answers everywhere else (docs/quality.md). The segment
    vectors and the head are kept as trained."""
    from rag.reader.base import load_encoder

    pretrained = load_encoder().layers[reader.split :]
    with torch.no_grad():
        for trained, base in zip(reader.encoder.layers[reader.split :], pretrained):
            for p, q in zip(trained.parameters(), base.parameters()):
                p.mul_(share).add_(q, alpha=1 - share)


def _checkpoint(
    work: Path, reader: Reader, optimizer: Any, schedule: Any, step: int, seconds: float
) -> None:
    state = {
        "model": reader.trained(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
        "seconds": seconds,  # training steps so far, over every resumed run: the card's figure
    }
    torch.save(state, work / "checkpoint.tmp")
    (work / "checkpoint.tmp").replace(work / "checkpoint.pt")  # whole or not at all


def _resume(work: Path, reader: Reader, optimizer: Any, schedule: Any) -> tuple[int, float]:
    """The step to start from and the training seconds spent before it."""
    path = work / "checkpoint.pt"
    if not path.exists():
        return 0, 0.0
    state = torch.load(path, weights_only=True)
    reader.load_state_dict(state["model"], strict=False)
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    _say(f"resumed at step {state['step']}")
    return int(state["step"]), float(state.get("seconds", 0.0))


def main(argv: Sequence[str] | None = None) -> int:
    from rag.reader import span  # it imports this module
    from rag.reader.evaluate import card, evaluate, write

    parser = argparse.ArgumentParser(
        prog="python -m rag.reader.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=80, help="stop (checkpointed) after this long"
    )
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--epochs", type=float, default=Config.epochs)
    parser.add_argument("--limit", type=int, default=0, help="pairs per file (a quick try)")
    parser.add_argument("--top", type=int, default=TOP, help="e5 layers trained (of 12)")
    parser.add_argument("--lr-top", type=float, default=Config.lr_top)
    parser.add_argument("--elsewhere", type=int, default=0, help="other-paragraph negatives")
    parser.add_argument(
        "--blend", type=float, default=Config.blend, help="share of the trained top layers kept"
    )
    parser.add_argument(
        "--answerable",
        type=float,
        default=Config.answerable,
        help="weight of the per-question answer loss",
    )
    parser.add_argument(
        "--work", type=Path, default=None, help=f"checkpoints and caches (default {WORK}/RUN)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where the weights go (default {WEIGHTS} with the shipped settings, else the run's "
        "work folder: a try never overwrites the shipped reader)",
    )
    parser.add_argument(
        "--span-only", action="store_true", help="only (re)fit the span head of --out's reader"
    )
    parser.add_argument("--span-layers", type=int, default=span.SpanConfig.layers)
    parser.add_argument("--span-epochs", type=float, default=span.SpanConfig.epochs)
    parser.add_argument("--span-lr", type=float, default=span.SpanConfig.lr_layers)
    args = parser.parse_args(argv)
    config = Config(
        seed=args.seed,
        epochs=args.epochs,
        limit=args.limit,
        top=args.top,
        lr_top=args.lr_top,
        elsewhere=args.elsewhere,
        answerable=args.answerable,
        blend=args.blend,
    )
    span_config = span.SpanConfig(
        seed=args.seed, epochs=args.span_epochs, layers=args.span_layers, lr_layers=args.span_lr
    )
    if args.span_only:
        source = args.out or WEIGHTS
        reader = Reader.load(source)
        info = dict(torch.load(source, map_location="cpu", weights_only=True)["card"])
        config = Config(**info["settings"])
        work = args.work or WORK / config.key()
        work.mkdir(parents=True, exist_ok=True)
        shipped = source == WEIGHTS and span_config == span.SpanConfig()
        tried = (
            f"weights-span-{span_config.layers}x{span_config.epochs:g}-{span_config.lr_layers:g}.pt"
        )
        out = args.out or (WEIGHTS if shipped else work / tried)
    else:
        work = args.work or WORK / config.key()
        shipped = config == Config() and span_config == span.SpanConfig()
        out = args.out or (WEIGHTS if shipped else work / WEIGHTS.name)
        reader, done, seconds = train(config, work, args.minutes)
    # the span head starts from the top layers as trained (its own copy: blending leaves it)
    span_seconds = span.fit(reader, work, span_config, args.limit)
    span_info = span.card(span_config, span.evaluate(reader, work, args.limit), span_seconds)
    _say(json.dumps(span_info["held_out"]))
    if not args.span_only:
        if config.blend < 1:
            blend(reader, config.blend)
        info = card(config, evaluate(reader, work, args.limit), seconds, done)
        _say(json.dumps(info["held_out"]))
    info["span"] = span_info
    write(reader, info, out)
    _say(f"wrote {out}")
    return 0


def _say(message: str, end: str = "\n") -> None:
    print(message, end=end, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
