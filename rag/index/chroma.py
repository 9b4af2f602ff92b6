"""The Chroma client: embedded in the index folder or a server, collections by name, the
swap that ends a rebuild, and Chroma's errors turned into ours."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any
from urllib.parse import urlparse

from rag.config import Settings
from rag.errors import ConfigError, IndexCorrupt, IndexReadOnly

NEXT = "-next"  # a rebuild's collection, renamed to the live name when complete
# collection metadata: the index's own answer-feature scale (rag/answer/corpus_scale.py)
OWN_SCALE = "answer_norm"
KEPT = (OWN_SCALE,)  # collection metadata a rebuild carries over
SENTENCES = "-sentences"  # beside each passage collection: the vectors of its sentences
# HNSW search breadth. With Chroma's default, 100, the dense top 30 of 13 of the 241 cnil-faq
# dev questions missed passages of the exact top 30 (4 of them in the top 10), and which ones
# changed from one start to the next: a collection under Chroma's sync threshold (1000) is
# rebuilt at each start. 300 gives the exact top 30 there, for about 1 ms more per question at
# 100k passages.
EF_SEARCH = 300


def connect(settings: Settings) -> Any:
    """A Chroma client: embedded in ``index_dir/chroma``, or a server when RAG_CHROMA_URL is set."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if not settings.chroma_url:
        return guarded(
            lambda: chromadb.PersistentClient(
                path=str(settings.index_dir / "chroma"), settings=chroma_settings
            )
        )
    url = urlparse(settings.chroma_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"RAG_CHROMA_URL={settings.chroma_url!r}: use http://HOST:PORT")
    try:
        return chromadb.HttpClient(
            host=url.hostname,
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    except Exception as exc:
        raise ConfigError(
            f"Cannot reach Chroma at {settings.chroma_url} ({exc}): start `chroma run` or fix RAG_CHROMA_URL"
        ) from exc


def new_collection(client: Any, name: str) -> Any:
    return client.get_or_create_collection(
        name,
        configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
        embedding_function=None,
    )


def widen_search(collection: Any) -> None:
    """Give a collection made before EF_SEARCH its search breadth. Chroma reads it when it
    loads the collection: it counts from the next start of the app on."""
    hnsw = (collection.configuration or {}).get("hnsw") or {}
    if hnsw.get("ef_search", 0) < EF_SEARCH:
        collection.modify(configuration={"hnsw": {"ef_search": EF_SEARCH}})


def get_collection(client: Any, name: str) -> Any | None:
    if name not in {c.name for c in guarded(client.list_collections)}:
        return None
    return client.get_collection(name, embedding_function=None)


def drop_collection(client: Any, name: str) -> None:
    if get_collection(client, name) is not None:
        client.delete_collection(name)


def finish_swap(client: Any, name: str) -> Any | None:
    """The live collection; completes a rebuild that stopped between its last two steps."""
    live, fresh = get_collection(client, name), get_collection(client, name + NEXT)
    if live is None and fresh is not None and (fresh.metadata or {}).get("complete"):
        sentences = get_collection(client, name + NEXT + SENTENCES)
        if sentences is not None:
            drop_collection(client, name + SENTENCES)
            sentences.modify(name=name + SENTENCES)
        fresh.modify(name=name)
        return get_collection(client, name)
    return live


def guarded(call: Any) -> Any:
    """Run a Chroma call, turning its internal errors into IndexCorrupt (IndexReadOnly when
    the files cannot be written: rebuilding would not help)."""
    try:
        return call()
    except Exception as exc:
        if isinstance(exc, PermissionError) or "readonly database" in str(exc):
            raise IndexReadOnly.because(exc) from exc
        if type(exc).__module__.startswith("chromadb") or isinstance(exc, (OSError, ValueError)):
            raise IndexCorrupt(
                f"Chroma index is unreadable ({type(exc).__name__}: {exc}): "
                "run `rag ingest --rebuild`"
            ) from exc
        raise


def pages(client: Any, collection: Any, include: list[str]) -> Iterator[dict[str, Any]]:
    """Everything ``collection`` holds, in pages the client can serve (``include``: what else
    than the ids)."""
    page, offset = client.get_max_batch_size(), 0
    while True:
        got = guarded(partial(collection.get, include=include, limit=page, offset=offset))
        yield got
        if len(got["ids"]) < page:
            return
        offset += page
