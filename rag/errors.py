"""Errors a user can cause, each with a message that says what to do next.

RagError
├── ConfigError        a setting has a value we cannot use
├── InputError         a bad question, path or file from the user
├── NoIndex            the index folder holds no index yet
├── IndexCorrupt       the index cannot be read
├── IndexReadOnly      the index cannot be written (permissions, read-only disk)
├── ModelMismatch      the index was built with another embedding model
├── ModelUnavailable   the embedding model cannot be loaded
└── LLMUnavailable     the LLM cannot answer now (the extractive answer is given instead)
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the command line turns into one line and exit code 1."""

    exit_code = 1


class ConfigError(RagError):
    pass


class InputError(RagError):
    pass


class NoIndex(RagError):
    exit_code = 2


class IndexCorrupt(RagError):
    pass


class IndexReadOnly(RagError):
    @classmethod
    def because(cls, exc: BaseException) -> IndexReadOnly:
        return cls(
            f"The index is read-only for this user ({exc}): give it write access, or copy the "
            "index folder and point RAG_INDEX_DIR (or --index) at the copy"
        )


class ModelMismatch(RagError):
    pass


class ModelUnavailable(RagError):
    pass


class LLMUnavailable(RagError):
    pass
