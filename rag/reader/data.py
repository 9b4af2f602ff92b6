"""Training pairs for the reader: a question and one candidate sentence (with the sentence
before it as context), labelled 1 when the sentence answers the question.

From reading-comprehension sets in SQuAD format (PIAF, SQuAD 2.0): a paragraph's sentence that
holds the answer span is a positive; its other sentences, and every sentence of a paragraph whose
question is impossible, are negatives sharing the topic and most words. Sentences are cut as
the product cuts them (rag.index.chunking.split_sentences). Held-out articles are chosen by a
hash of their title, so the split is the same on every machine and at every run.

Example: pairs(Path("piaf-v1.0.json"), "train")[0]
    -> Pair(question="Combien de ...", sentence="...", before="...", label=0, group="p1402...")
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.index.chunking import split_sentences

HELD_OUT = 0.2  # share of articles kept out of training, for the model card's figures
MAX_SENTENCES = 12  # per question: the paragraph's first ones after the answer's (long ones)
ELSEWHERE = 0  # per question: sentences of the article's other paragraphs, as negatives


@dataclass(frozen=True)
class Pair:
    """One question and one candidate sentence; ``group`` names the question."""

    question: str
    sentence: str
    before: str
    label: int
    group: str
    impossible: bool = False
    answer: tuple[int, int] | None = None  # the answer's characters in ``sentence`` (positives)


def split_of(title: str) -> str:
    """ "test" for about HELD_OUT of the articles (by a hash of the title), else "train"."""
    digest = int(hashlib.sha256(title.encode("utf-8")).hexdigest()[:8], 16)
    return "test" if digest / 0xFFFFFFFF < HELD_OUT else "train"


def pairs(path: Path, split: str, elsewhere: int = ELSEWHERE) -> list[Pair]:
    """Every pair of the ``split`` ("train" or "test") articles of a SQuAD-format file; with
    ``elsewhere``, each question also gets that many sentences of the article's other paragraphs
    (same topic, another context: what the product's candidates from other articles look like)."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out: list[Pair] = []
    for article in data:
        if split_of(article.get("title", "")) != split:
            continue
        found = [list(_paragraph_pairs(p["context"], p["qas"])) for p in article["paragraphs"]]
        for n, mine in enumerate(found):
            out += mine
            others = [p for m, ps in enumerate(found) if m != n for p in ps]
            out += _elsewhere(mine, others, elsewhere)
    return out


def _elsewhere(mine: list[Pair], others: list[Pair], n: int) -> list[Pair]:
    """For each question of ``mine``, ``n`` distinct sentences of ``others`` as negatives,
    drawn by a generator seeded with the question's id (the same at every run)."""
    sentences = list({p.sentence: p for p in others}.values())
    out = []
    for group in dict.fromkeys(p.group for p in mine):
        first = next(p for p in mine if p.group == group)
        rng = random.Random(group)
        for p in rng.sample(sentences, min(n, len(sentences))):
            out.append(Pair(first.question, p.sentence, p.before, 0, group, first.impossible))
    return out


def _paragraph_pairs(context: str, questions: list[dict]) -> Iterator[Pair]:
    spans = split_sentences(context)
    for qa in questions:
        impossible = bool(qa.get("is_impossible")) or not qa.get("answers")
        answers = [(a["answer_start"], len(a["text"])) for a in qa.get("answers", [])]
        starts = {s for s, _ in answers}
        right = (
            {i for i, (a, b) in enumerate(spans) if any(a <= s < b for s in starts)}
            if not impossible
            else set()
        )
        if not impossible and not right:
            continue  # the answer falls between sentences: no sentence holds it
        keep = _around(len(spans), right)
        for i in keep:
            a, b = spans[i]
            before = context[spans[i - 1][0] : spans[i - 1][1]] if i else ""
            inside = [(s - a, s - a + n) for s, n in answers if a <= s and s + n <= b]
            answer = inside[0] if i in right and inside else None
            yield Pair(
                qa["question"], context[a:b], before, int(i in right), qa["id"], impossible, answer
            )


def _around(n: int, right: set[int]) -> list[int]:
    """At most MAX_SENTENCES sentence indices: the right ones, the one after each (it sees the
    answer in its context, the trap a reader must not fall into), then the first ones."""
    chosen = sorted(right | {i + 1 for i in right if i + 1 < n})
    for i in range(n):
        if len(chosen) >= MAX_SENTENCES:
            break
        if i not in chosen:
            chosen.append(i)
    return sorted(chosen)
