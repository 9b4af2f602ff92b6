"""The embedding model: default bundled model, sentence cache, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embedding import Embedder
from rag.errors import ModelUnavailable

SENTENCES = [
    "Le conseiller de Joe Biden pour la sécurité nationale, Jake Sullivan, s’est entretenu lundi.",
    "La Finlande et l’Autriche se sont notamment dites prêtes à l’accueillir.",
]


def test_vectors_are_normalized(embedder: Embedder) -> None:
    vectors = embedder.embed_passages(SENTENCES)
    assert vectors.shape[0] == 2
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_cached_sentences_match_fresh_embeddings(embedder: Embedder) -> None:
    fresh = embedder.embed_passages(SENTENCES)
    first = embedder.embed_sentences([SENTENCES[1], SENTENCES[0], SENTENCES[1]])
    again = embedder.embed_sentences(SENTENCES)
    assert np.allclose(first[0], fresh[1], atol=1e-5)
    assert np.allclose(first[1], fresh[0], atol=1e-5)
    assert np.allclose(again, fresh, atol=1e-5)


def test_unknown_model_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(ModelUnavailable, match="RAG_EMBED_MODEL"):
        Embedder.load(f"{tmp_path}/no-such-model")
