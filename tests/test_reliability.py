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


def rag(*args: str, **env: str) -> subprocess.Popen[str]:
    """`rag ARGS` as a child process, with no RAG_* variable but the given ones."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.Popen(
        [str(RAG), *args],
        env={**clean, **env},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
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
FIRST = 300  # articles of the first, killed, ingest
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
    from rag.index.chunking import chunk_article
    from rag.index.corpus import Article, find_files, read_article

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
    for n in range(FIRST):
        (corpus / f"{n:03d}.txt").write_text(article(n), encoding="utf-8")
    killed = []
    for trial in range(TRIALS):
        if trial:  # something to do each time: updates, removals, additions
            for n in rng.sample(range(FIRST), 3):
                (corpus / f"{n:03d}.txt").write_text(article(n, trial), encoding="utf-8")
            for path in rng.sample(sorted(corpus.iterdir()), 2):
                path.unlink()
            for n in range(FIRST + 3 * trial, FIRST + 3 + 3 * trial):
                (corpus / f"{n:03d}.txt").write_text(article(n), encoding="utf-8")
        ingest = rag("ingest", str(corpus), "--index", index, "-q")
        # the first run embeds everything (FIRST articles: about 12 s here, start-up included):
        # killed within its first 5 s, it is surely still running, so at least one kill lands
        # (100 articles took under 4 s once ingest got faster, and none was killed); later runs
        # do a few files and may finish first
        delay = rng.uniform(1.0, 5.0) if trial == 0 else rng.uniform(0.5, 6.0)
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


def test_a_second_ingest_at_the_same_time_is_refused(tmp_path: Path) -> None:
    corpus, index = tmp_path / "corpus", str(tmp_path / "index")
    corpus.mkdir()
    # enough to embed for longer than a second `rag` takes to start (40 articles, 2 s of
    # embedding since late chunking, were sometimes done before it asked for the lock)
    for n in range(300):
        (corpus / f"{n:03d}.txt").write_text(article(n), encoding="utf-8")
    first = rag("ingest", str(corpus), "--index", index)  # its progress bar: it holds the lock
    assert first.stderr is not None
    os.set_blocking(first.stderr.fileno(), False)
    seen = []

    def embedding() -> bool:
        try:
            seen.append(os.read(first.stderr.fileno(), 65536).decode(errors="replace"))
        except BlockingIOError:
            pass
        return "embedding" in "".join(seen) or first.poll() is not None

    try:
        assert eventually(embedding, timeout=120) and first.poll() is None, "".join(seen)
        code, out, err = finished(rag("ingest", str(corpus), "--index", index))
    finally:
        first.kill()
        first.wait()

    assert code == 1 and out == ""
    assert err.strip() == f"error: Another ingest is writing {index}/: wait for it to finish"


# --- users at once, and a huge upload while they chat ------------------------------------------

QUESTIONS = [
    "Qui est le conseiller à la sécurité nationale de Joe Biden ?",
    "Quel dernier dirigeant de l'URSS a salué un sommet entre les deux présidents ?",
    "Comment s'appelle l'ambassadeur russe à Washington rappelé pour consultations ?",
    "Qui est le porte-parole du Kremlin ?",
]


@pytest.fixture(scope="module")
def server(seeds_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`rag serve` in its own process over a copy of the seeds' index; killed at the end, even
    in the middle of an upload's ingest."""
    import shutil

    root = tmp_path_factory.mktemp("served")
    shutil.copytree(seeds_settings.corpus_dir, root / "corpus")
    shutil.copytree(seeds_settings.index_dir, root / "index")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    index = str(root / "index")
    process = rag(
        "serve", "--index", index, "--port", str(port), RAG_CORPUS_DIR=str(root / "corpus")
    )
    try:
        assert eventually(lambda: _up(url) or process.poll() is not None, timeout=120)
        assert process.poll() is None, process.communicate()[1]
        yield url
    finally:
        process.kill()
        process.communicate()


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}api/health", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_eight_chat_users_at_once_get_answers_and_no_errors(server: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client

    def user(n: int) -> list[str]:
        session = Client(server, verbose=False, download_files=False)
        answers = []
        for question in (QUESTIONS * 2)[n % 4 : n % 4 + 3]:
            chat, sources, _article, _box = session.predict(question, api_name="/ask")
            answers.append(str(chat[-1]["content"]) + sources)
        return answers

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = [a for user_answers in pool.map(user, range(8)) for a in user_answers]
    seconds = time.monotonic() - started

    assert len(answers) == 24
    assert not [a for a in answers if "Erreur" in a]
    assert sum("rag-source" in a for a in answers) >= 18  # the Kremlin question may abstain
    print(f"8 users x 3 questions: 0 errors, {seconds:.1f} s")


def _latencies(url: str, users: int = 4, each: int = 5) -> list[float]:
    from concurrent.futures import ThreadPoolExecutor

    def user(n: int) -> list[float]:
        seconds = []
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(each):
                started = time.monotonic()
                reply = http.post("/api/ask", json={"question": QUESTIONS[(n + i) % 4]})
                assert reply.status_code == 200, reply.text
                assert reply.json()["answer"], reply.text  # an answer or an abstention, said
                seconds.append(time.monotonic() - started)
        return seconds

    with ThreadPoolExecutor(users) as pool:
        return [s for user_seconds in pool.map(user, range(users)) for s in user_seconds]


def _embedding(job: Any) -> bool:
    """Has the upload's ingest embedded its first passages (its progress bar counts them)?"""
    progress = job.status().progress_data or []
    return any(p.unit == "passages" and (p.index or 0) > 0 for p in progress)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# the most one chat answer may take while a 5 MB upload is ingested: a starved chat waits for
# the whole ingest (minutes); how much slower the chat gets is measured, printed, not asserted
# (it depends on the machine's load: speed belongs in `rag bench`)
ANSWER_BOUND_S = 30


def test_a_5_mb_single_line_upload_does_not_starve_the_chat(server: str, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    huge = tmp_path / "enorme.txt"
    words = "le conseil municipal a voté le budget de la commune sans débat ni amendement "
    huge.write_text((words * (5_000_000 // len(words)))[:5_000_000], encoding="utf-8")
    idle = _latencies(server)

    upload = Client(server, verbose=False).submit([handle_file(huge)], False, api_name="/upload")
    assert eventually(lambda: _embedding(upload), timeout=120)  # saved, split, being embedded
    during = _latencies(server, each=8)
    still_ingesting = not upload.done()

    assert still_ingesting  # measured while the ingest ran (the server is killed after this test)
    assert len(idle) == 4 * 5 and len(during) == 4 * 8  # every question answered, none failed
    assert max(during) < ANSWER_BOUND_S, during
    print(
        f"chat p95: {p95(idle):.2f} s idle, {p95(during):.2f} s during a 5 MB upload's ingest "
        f"({p95(during) / p95(idle):.1f} x)"
    )
