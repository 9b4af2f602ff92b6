"""Archives of any size for the benchmark: real sentences recombined into new articles.

Each new article draws sentences of the real articles (``seeds/``) in a new order and with a new
date, so the archive reads like news and chunks like news while its passages are new texts.
Vectors: every real sentence is embedded once, for real; a new passage's vector is the
normalised mean of its sentences' vectors (``ReusedVectors``), which costs nothing per passage.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.errors import InputError
from rag.index.chunking import chunk_article, split_sentences
from rag.index.corpus import Article, find_files, parse_article, read_article
from rag.index.embedding import Embedder

SENTENCES_PER_ARTICLE = (8, 20)  # seeds/: 68 sentences in 5 articles
ARTICLES_PER_FOLDER = 1000


def sentence_pool(folders: list[Path], leave_out: frozenset[str] = frozenset()) -> list[str]:
    """Every distinct sentence of the articles under ``folders`` (but the files named in
    ``leave_out``), in file order."""
    pool: dict[str, None] = {}
    for path in find_files(folders):
        if path.name in leave_out:
            continue
        article = read_article(path)
        if isinstance(article, Article):
            text = article.text
            pool.update((text[s:e], None) for s, e in split_sentences(text, article.body_start))
    if len(pool) < SENTENCES_PER_ARTICLE[1]:
        where = ", ".join(f"{folder}/" for folder in folders)
        raise InputError(
            f"{where} hold {len(pool)} sentences: the benchmark recombines at least "
            f"{SENTENCES_PER_ARTICLE[1]}, add articles"
        )
    return list(pool)


@dataclass
class Archive:
    """New articles written under ``root``, numbered on from one call to the next."""

    root: Path
    pool: list[str]
    rng: random.Random = field(default_factory=lambda: random.Random(9))
    articles: int = 0
    passages: int = 0

    def write(self, passages: int, folder: str) -> Path:
        """Write articles under ``root/folder`` until they hold at least ``passages`` passages."""
        target = self.passages + passages
        while self.passages < target:
            self._add(folder)
        return self.root / folder

    def add_articles(self, count: int, folder: str) -> Path:
        """Write ``count`` articles under ``root/folder``."""
        for _ in range(count):
            self._add(folder)
        return self.root / folder

    def _add(self, folder: str) -> None:
        self.passages += len(chunk_article(self._article(self.root / folder)))

    def _article(self, top: Path) -> Article:
        low, high = SENTENCES_PER_ARTICLE
        sentences = self.rng.sample(self.pool, self.rng.randint(low, high))
        date = f"{self.rng.randint(2015, 2024)}-{self.rng.randint(1, 12):02d}"
        # one sentence a paragraph: a sentence without a final stop never runs into the next
        text = f" date {date} " + "\n\n".join(sentences) + "\n"
        path = top / f"{self.articles // ARTICLES_PER_FOLDER:04d}" / f"{self.articles:07d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.articles += 1
        return parse_article(path, text, hashlib.sha256(text.encode()).hexdigest()[:16])


class ReusedVectors(Embedder):
    """The real model for questions; for passages, the normalised mean of their sentences' vectors.

    Sentences are embedded for real the first time they are seen (all of them up front with
    ``learn``), so a passage made of known sentences costs a lookup.
    Example: ReusedVectors(real).learn(pool).embed_passages(["Phrase un. Phrase deux."])
    """

    def __init__(self, real: Embedder) -> None:
        super().__init__(real.name, real.model, real.device)
        self.real = real
        self.vectors: dict[str, np.ndarray] = {}
        self.embedded = 0  # sentences embedded for real

    def learn(self, sentences: list[str]) -> ReusedVectors:
        missing = [s for s in dict.fromkeys(sentences) if s not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.real.embed_passages(missing), strict=True))
            self.embedded += len(missing)
        return self

    @property
    def max_tokens(self) -> int:
        return self.real.max_tokens

    def count_tokens(self, text: str) -> int:
        return self.real.count_tokens(text)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.real.embed_queries(texts)

    def embed_passages(
        self, texts: list[str], batch_size: int = 0, background: bool = False
    ) -> np.ndarray:
        if not texts:
            return self.real.embed_passages([])
        parts = [[t[s:e] for s, e in split_sentences(t)] or [t] for t in texts]
        self.learn([s for sentences in parts for s in sentences])
        means = np.stack([np.mean([self.vectors[s] for s in p], axis=0) for p in parts])
        return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)
