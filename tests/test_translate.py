"""rag/index/translate.py: English questions also reach the French BM25 index (Debian's apertium,
which `make test` installs), and without apertium they are searched as they are."""

from __future__ import annotations

import os
import subprocess
import sys

from rag.index.retrieval import keyword_query
from rag.index.translate import available, to_french
from rag.text import tokenize


def test_an_english_question_gets_french_words_for_bm25() -> None:
    assert available(), "apertium is missing: run `make translator` (as root)"
    query = keyword_query("Who is the Kremlin spokesman?")
    assert query.startswith("Who is the Kremlin spokesman?")
    assert "porte-parole" in query and {"port", "parol"} <= set(tokenize(query))


def test_a_french_question_is_searched_as_it_is() -> None:
    assert keyword_query("Qui est Jake Sullivan ?") == "Qui est Jake Sullivan ?"


def test_without_apertium_english_questions_are_searched_as_they_are() -> None:
    script = "from rag.index.retrieval import keyword_query; print(keyword_query('Who is he?'))"
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Who is he?"


def test_the_translation_is_cached() -> None:
    to_french("Who is the White House spokeswoman?")
    before = to_french.cache_info().hits
    to_french("Who is the White House spokeswoman?")
    assert to_french.cache_info().hits == before + 1
