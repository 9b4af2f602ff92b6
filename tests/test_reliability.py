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
