"""Shared fixtures: a real index of a copy of seeds/ and the real app served on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from rag.config import Settings

if TYPE_CHECKING:
    from rag.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    """app.py, imported from the repository root (it is a script, not part of the package)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # as main() does, before gradio loads
    spec = importlib.util.spec_from_file_location("app", ROOT / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def app_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings over a fresh index of a copy of seeds/: uploads never touch the repository."""
    from rag.embedding import Embedder
    from rag.ingest import ingest

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
def app_url(
    app_module: ModuleType, app_settings: Settings, app_pipeline: Pipeline
) -> Iterator[str]:
    """The real app, launched as main() launches it, on a free loopback port."""
    demo = app_module.build_app(app_pipeline, app_settings)
    app_module.launch(demo, app_settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{app_settings.port}/"
    finally:
        demo.close()
