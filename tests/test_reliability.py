"""The fault probe kept in CI: killed ingests, concurrent writers and users, another process's
ingest while the app serves, a huge upload while users chat. Real processes, real servers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rag.config import Settings
from tests.conftest import free_port

pytestmark = pytest.mark.slow

RAG = Path(sys.executable).parent / "rag"
TRIFOUILLIS = (
    " date 2024-05 Inauguration à Trifouillis-les-Oies\n\n"
    "Le maire de Trifouillis-les-Oies, Gaston Lagaffe, a inauguré samedi la nouvelle "
    "médiathèque du village, baptisée « La Bulle ». Le chantier a duré deux ans.\n"
)
MAIRE = "Qui est le maire de Trifouillis-les-Oies ?"
JAZZ = "Combien de musiciens le festival de jazz de Montreux accueille-t-il ?"


def rag(*args: str, **popen: Any) -> subprocess.Popen[str]:
    """`rag ARGS` as a child process, with no RAG_* variable from the test's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.Popen(
        [str(RAG), *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def finished(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def eventually(check: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return False


@pytest.fixture
def served(small_corpus: Path, embedder: Any) -> Iterator[tuple[Settings, httpx.Client]]:
    """`rag serve`'s app over an index of the small corpus, and an HTTP client for its API."""
    from rag.pipeline import Pipeline
    from tests.conftest import _serve

    root = small_corpus.parent
    settings = Settings(index_dir=root / "index", corpus_dir=small_corpus, port=free_port())
    pipeline = Pipeline.load(settings, build=True, embedder=embedder)
    server = _serve(pipeline, settings)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            yield settings, http
    finally:
        server.stop()


def sources(http: httpx.Client, question: str) -> set[str]:
    reply = http.post("/api/ask", json={"question": question})
    assert reply.status_code == 200, reply.text
    return {s["file"] for s in reply.json()["sources"]}


def test_the_app_sees_an_ingest_made_by_another_process(
    served: tuple[Settings, httpx.Client],
) -> None:
    settings, http = served
    assert "jazz.txt" in sources(http, JAZZ)
    (settings.corpus_dir / "trifouillis.txt").write_text(TRIFOUILLIS, encoding="utf-8")
    (settings.corpus_dir / "jazz.txt").unlink()

    code, _, err = finished(
        rag("ingest", str(settings.corpus_dir), "--index", str(settings.index_dir), "-q")
    )

    assert code == 0, err
    assert eventually(lambda: "trifouillis.txt" in sources(http, MAIRE))
    assert "jazz.txt" not in sources(http, JAZZ)
    assert "jazz.txt" not in {a["file"] for a in http.get("/api/articles").json()["articles"]}


# --- killed ingests ----------------------------------------------------------------------------

SYLLABLES = ["ba", "ro", "ti", "lu", "ma", "ke", "zo", "fi", "ne", "du"]
# RELIABILITY_TRIALS=30 (make reliability) kills more ingests than CI's 5
TRIALS = int(os.environ.get("RELIABILITY_TRIALS", "5"))
SEED = int(os.environ.get("RELIABILITY_SEED", str(int(time.time()))))


def town(n: int) -> str:
    """A made-up town name, one per number below 1000. Example: 42 -> "Saint-Balumaval"."""
    digits = (n // 100 % 10, n // 10 % 10, n % 10)
    return "Saint-" + "".join(SYLLABLES[d] for d in digits).capitalize() + "val"


def article(n: int, version: int = 0) -> str:
    month = f"20{20 + n % 5}-{1 + n % 12:02d}"
    mayor = f"Jeanne {town(n + 7 + version)[6:]}"
    return (
        f" date {month} Conseil municipal de {town(n)}\n\n"
        f"Le maire de {town(n)}, {mayor}, a présenté lundi le budget de la commune au conseil "
        f"municipal. La rénovation de l'école primaire coûtera {100 + n} mille euros.\n"
    )


def expected_passages(corpus: Path) -> int:
    from rag.chunking import chunk_article
    from rag.corpus import Article, find_files, read_article

    articles = [read_article(path) for path in find_files([corpus])]
    return sum(len(chunk_article(a)) for a in articles if isinstance(a, Article))


def index_counts(index: Path) -> dict[str, Any]:
    import json

    code, out, err = finished(rag("info", "--json", "--index", str(index)))
    assert code == 0, err  # `rag info` exits 1 when Chroma and BM25 disagree
    return dict(json.loads(out))


def test_ingests_killed_at_random_points_are_finished_by_the_next_run(tmp_path: Path) -> None:
    import random

    rng = random.Random(SEED)
    corpus, index = tmp_path / "corpus", str(tmp_path / "index")
    corpus.mkdir()
    for n in range(100):
        (corpus / f"{n:03d}.txt").write_text(article(n), encoding="utf-8")
    killed = []
    for trial in range(TRIALS):
        if trial:  # something to do each time: updates, removals, additions
            for n in rng.sample(range(100), 3):
                (corpus / f"{n:03d}.txt").write_text(article(n, trial), encoding="utf-8")
            for path in rng.sample(sorted(corpus.iterdir()), 2):
                path.unlink()
            for n in range(100 + 3 * trial, 103 + 3 * trial):
                (corpus / f"{n:03d}.txt").write_text(article(n), encoding="utf-8")
        ingest = rag("ingest", str(corpus), "--index", index, "-q")
        delay = rng.uniform(1.0, 10.0)
        try:
            ingest.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            ingest.kill()
            killed.append(round(delay, 1))
        ingest.communicate()

    code, out, err = finished(rag("ingest", str(corpus), "--index", index, "-q"))

    assert code == 0, err
    wanted = expected_passages(corpus)
    counts = index_counts(tmp_path / "index")
    assert (counts["passages_chroma"], counts["passages_keyword"]) == (wanted, wanted), SEED
    assert counts["articles"] == len(list(corpus.iterdir()))
    assert killed, f"no ingest was killed (seed {SEED}): they all finished first"
    survivor = sorted(corpus.iterdir())[-1]
    n = int(survivor.stem)
    code, out, err = finished(rag("ask", f"Qui est le maire de {town(n)} ?", "--index", index))
    assert code == 0 and survivor.name in out, (err, out)
    assert f"Jeanne {town(n + 7)[6:]}" in out.splitlines()[0]
    print(
        f"killed {len(killed)} of {TRIALS} ingests at {killed} s (seed {SEED}); {wanted} passages"
    )
