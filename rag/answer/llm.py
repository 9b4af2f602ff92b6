"""Optional LLM backends, through llama-index LLM classes: an OpenAI-compatible server or a
GGUF file run in-process by llama.cpp.

    RAG_LLM=openai RAG_LLM_URL=http://127.0.0.1:11434/v1 RAG_LLM_MODEL=qwen2.5:3b   (Ollama)
    RAG_LLM=gguf   RAG_LLM_MODEL_PATH=/models/model.gguf       (pip install -e '.[llm]')

Every fault (server down, timeout, bad model file, context too long, extra not installed)
becomes one ``LLMUnavailable`` line; callers answer extractively instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import LLMUnavailable

MESSAGE = tuple[str, str]  # (role, content), role one of system/user/assistant


@dataclass
class LLM:
    """A configured LLM, loaded on first use and shared by every caller of the process.

    Example: LLM.from_settings(settings).stream([("user", "Bonjour")]) -> "Bon", "jour", "…"
    """

    settings: Settings
    _backend: Any = None
    _load: threading.Lock = field(default_factory=threading.Lock)
    # one in-process generation at a time: a llama.cpp context is not thread-safe (a server
    # has its own queue)
    _busy: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Settings) -> LLM | None:
        """The LLM the settings name, or None when RAG_LLM is empty (extractive only)."""
        return cls(settings) if settings.llm else None

    @property
    def name(self) -> str:
        """What `rag info` and the JSON answers call it. Example: "gguf:smollm2.gguf"."""
        s = self.settings
        if s.llm == "gguf":
            return f"gguf:{Path(s.llm_model_path).name}"
        return f"openai:{s.llm_model}@{s.llm_url}"

    def stream(self, messages: list[MESSAGE]) -> Iterator[str]:
        """The answer's text, piece by piece; raises LLMUnavailable, never hangs past the timeout."""
        deadline = time.monotonic() + self.settings.llm_timeout
        backend = self.backend()
        local = self.settings.llm == "gguf"
        if local and not self._busy.acquire(timeout=self.settings.llm_timeout):
            raise self._timed_out()
        try:
            chunks = backend.stream_chat(_chat_messages(messages))
            try:
                for chunk in chunks:
                    if chunk.delta:
                        yield chunk.delta
                    if time.monotonic() > deadline:
                        raise self._timed_out()
            finally:
                close = getattr(chunks, "close", None)
                if close:
                    close()  # stops llama.cpp, or drops the HTTP stream
        except LLMUnavailable:
            raise
        except Exception as exc:
            raise self._fault(exc) from exc
        finally:
            if local:
                self._busy.release()

    def backend(self) -> Any:
        """The llama-index LLM, built (and for GGUF, loaded) once."""
        with self._load:
            if self._backend is None:
                self._backend = _openai(self.settings) if self.settings.llm == "openai" else None
                self._backend = self._backend or _gguf(self.settings)
            return self._backend

    def _timed_out(self) -> LLMUnavailable:
        return LLMUnavailable(
            f"the LLM gave no full answer within {self.settings.llm_timeout:g} s: "
            "raise RAG_LLM_TIMEOUT or use a smaller model"
        )

    def _fault(self, exc: Exception) -> LLMUnavailable:
        """One line for what went wrong while generating."""
        kind, text = type(exc).__name__, " ".join(str(exc).split())[:200]
        if "Timeout" in kind:
            return self._timed_out()
        if "Connection" in kind:
            return LLMUnavailable(
                f"the LLM server {self.settings.llm_url} cannot be reached: start it or fix "
                "RAG_LLM_URL"
            )
        if "context" in text.lower() or "exceed" in text.lower():
            return LLMUnavailable(
                f"the passages do not fit in the LLM's context ({text}): raise RAG_LLM_CONTEXT "
                "or lower RAG_TOP_K"
            )
        return LLMUnavailable(f"the LLM failed: {kind}: {text}")


def _openai(settings: Settings) -> Any:
    try:
        from llama_index.llms.openai_like import OpenAILike
    except ImportError as exc:
        raise LLMUnavailable("RAG_LLM=openai needs the llm extra: pip install -e '.[llm]'") from exc
    try:
        return OpenAILike(
            model=settings.llm_model,
            api_base=settings.llm_url,
            api_key=settings.llm_api_key or "none",  # local servers want some key, any key
            is_chat_model=True,
            context_window=settings.llm_context,
            max_tokens=settings.llm_max_tokens,
            temperature=0.0,
            timeout=settings.llm_timeout,
            max_retries=0,  # a retry would double the wait the timeout promises
        )
    except Exception as exc:  # e.g. a URL the client cannot use
        raise LLMUnavailable(f"cannot use RAG_LLM_URL={settings.llm_url!r}: {exc}") from exc


def _gguf(settings: Settings) -> Any:
    path = Path(settings.llm_model_path)
    if not path.is_file():
        raise LLMUnavailable(f"no GGUF model file at {path}: fix RAG_LLM_MODEL_PATH")
    try:
        from llama_index.llms.llama_cpp import LlamaCPP
    except ImportError as exc:
        raise LLMUnavailable("RAG_LLM=gguf needs the llm extra: pip install -e '.[llm]'") from exc
    template = _Template()
    try:
        llm = LlamaCPP(
            model_path=str(path),
            temperature=0.0,
            max_new_tokens=settings.llm_max_tokens,
            context_window=settings.llm_context,
            generate_kwargs={},
            model_kwargs={},
            messages_to_prompt=template.messages_to_prompt,
            completion_to_prompt=template.completion_to_prompt,
            verbose=False,
        )
    except Exception as exc:  # llama.cpp says little more than "failed to load model"
        raise LLMUnavailable(
            f"cannot load {path} as a GGUF model ({type(exc).__name__}): fix RAG_LLM_MODEL_PATH"
        ) from exc
    template.model = llm._model
    return llm


class _Template:
    """Messages -> prompt with the chat template stored in the GGUF file (plain text without)."""

    model: Any = None

    def messages_to_prompt(self, messages: Any) -> str:
        pairs: list[Any] = [
            {"role": str(m.role.value), "content": m.content or ""} for m in messages
        ]
        template = (self.model.metadata or {}).get("tokenizer.chat_template") if self.model else ""
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            tokens = self.model._model
            formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=tokens.token_get_text(self.model.token_eos()),
                bos_token=tokens.token_get_text(self.model.token_bos()),
            )
            try:
                return str(formatter(messages=pairs).prompt)
            except Exception:  # e.g. a template without a system role: plain text below
                pass
        lines = [f"{p['role'].capitalize()}: {p['content']}" for p in pairs]
        return "\n\n".join([*lines, "Assistant:"])

    def completion_to_prompt(self, completion: str) -> str:
        return self.messages_to_prompt(_chat_messages([("user", completion)]))


def _chat_messages(messages: list[MESSAGE]) -> list[Any]:
    from llama_index.core.llms import ChatMessage

    return [ChatMessage(role=role, content=content) for role, content in messages]
