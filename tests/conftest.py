"""Shared fixtures: a real index of a copy of seeds/ and the real server (`rag serve`'s app:
HTTP API and chat) on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from rag.config import Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from rag.web.server import Server

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


AUTH = ("lectrice", "motdepasse")


def _serve(pipeline: Pipeline, settings: Settings) -> Server:
    """The app `rag serve` serves, started in a background thread on settings.port."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # as `rag serve` does, before gradio loads
    from rag.web.server import Server, create_app

    return Server(create_app(pipeline, settings), settings).start()


@pytest.fixture(scope="session")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over a fresh index of a copy of seeds/: uploads never touch the repository."""
    from rag.index.embedding import Embedder
    from rag.index.ingest import ingest

    root = tmp_path_factory.mktemp("app")
    shutil.copytree(SEEDS, root / "corpus")
    settings = Settings.from_env({}, index_dir=root / "index", corpus_dir=root / "corpus")
    ingest([settings.corpus_dir], settings, Embedder.load(settings.embed_model))
    return replace(settings, port=free_port())


@pytest.fixture(scope="session")
def app_pipeline(app_settings: Settings) -> Pipeline:
    from rag.pipeline import Pipeline

    return Pipeline.load(app_settings)


@pytest.fixture(scope="session")
def app_url(app_settings: Settings, app_pipeline: Pipeline) -> Iterator[str]:
    """The real server, built as `rag serve` builds it, on a free loopback port."""
    server = _serve(app_pipeline, app_settings)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_server(
    app_settings: Settings, app_pipeline: Pipeline
) -> Iterator[tuple[str, tuple[str, str]]]:
    """(url, (user, password)) of the same server with RAG_AUTH set."""
    settings = replace(app_settings, auth=":".join(AUTH), port=free_port())
    server = _serve(app_pipeline, settings)
    try:
        yield server.url, AUTH
    finally:
        server.stop()


# --- core pipeline tests: one model and one read-only index of the seeds per session ----------

SMALL_ARTICLES = {
    "geneve.txt": " date 2021-06 Sommet de Genève\n\nLe sommet entre Joe Biden et Vladimir Poutine "
    "aura lieu à Genève le 16 juin. Les délégations arriveront la veille au bord du lac Léman.\n",
    "taiga.txt": " date 2021-03 La taïga sibérienne\n\nLa taïga couvre une grande partie de la "
    "Sibérie. Les ours bruns et les loups y vivent toute l'année.\n",
    "jazz.txt": " date 2021-07 Festival de jazz\n\nLe festival de jazz de Montreux accueille cette "
    "année trois cents musiciens. Les concerts commencent chaque soir à vingt heures.\n",
}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The default embedding model (Settings().embed_model), loaded once."""
    from rag.index.embedding import Embedder

    return Embedder.load(Settings().embed_model)


@pytest.fixture(scope="session")
def seeds_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings over an index of a copy of seeds/, shared by tests that only read it."""
    from rag.index.ingest import ingest

    root = tmp_path_factory.mktemp("seeds")
    shutil.copytree(SEEDS, root / "corpus")
    settings = Settings(index_dir=root / "index", corpus_dir=root / "corpus")
    ingest([settings.corpus_dir], settings, embedder)
    return settings


@pytest.fixture(scope="session")
def seeds_pipeline(seeds_settings: Settings) -> Pipeline:
    from rag.pipeline import Pipeline

    return Pipeline.load(seeds_settings)


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """A folder of three short articles on unrelated topics, for tests that change an index."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in SMALL_ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


if TYPE_CHECKING:
    from rag.index.embedding import Embedder
