"""rag/config.py: every setting is range-checked, with a one-line error that names it."""

from __future__ import annotations

import pytest

from rag.config import Settings
from rag.errors import ConfigError


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAG_TOP_K", "0"),
        ("RAG_TOP_K", "51"),
        ("RAG_CANDIDATES", "0"),
        ("RAG_CANDIDATES", "-1"),
        ("RAG_ABSTAIN_THRESHOLD", "1.5"),
        ("RAG_ABSTAIN_THRESHOLD", "nan"),
        ("RAG_SURE_THRESHOLD", "-0.1"),
        ("RAG_REFRESH_SECONDS", "-1"),
        ("RAG_BATCH_SIZE", "-1"),
        ("RAG_PORT", "0"),
        ("RAG_PORT", "70000"),
        ("RAG_MAX_UPLOAD_MB", "0"),
        ("RAG_CONCURRENCY", "0"),
        ("RAG_DEVICE", "gpu"),
        ("RAG_COLLECTION", "bad name!"),
        ("RAG_COLLECTION", "ab"),
        ("RAG_COLLECTION", "a..b"),
        ("RAG_INDEX_DIR", "/dev/null"),
        ("RAG_CORPUS_DIR", "/dev/null"),
        ("RAG_AUTH", "alice"),
        ("RAG_AUTH", ":secret"),
        ("RAG_ALLOW_UPLOADS", "peut-être"),
        ("RAG_HOST", " "),
        ("RAG_TOP_K", "huit"),
    ],
)
def test_a_value_out_of_range_is_a_one_line_config_error(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})

    assert name in str(error.value) and "\n" not in str(error.value)


def test_values_in_range_are_taken() -> None:
    settings = Settings.from_env(
        {
            "RAG_TOP_K": "50",
            "RAG_BATCH_SIZE": "0",
            "RAG_COLLECTION": "articles_v2.fr",
            "RAG_ABSTAIN_THRESHOLD": "0",
            "RAG_ALLOW_UPLOADS": "yes",
        }
    )

    assert (settings.top_k, settings.batch_size, settings.collection) == (50, 0, "articles_v2.fr")
    assert settings.allow_uploads is True
    assert Settings.from_env({"RAG_ALLOW_UPLOADS": "0"}).allow_uploads is False
