"""English questions reach the French BM25 index through apertium's rule-based chain, English ->
Spanish -> French (Debian packages apertium, apertium-eng-spa, apertium-fr-es; offline, a few
milliseconds). Rough ("Who is the Kremlin spokesman?" -> "Qui est-ce qui est le porte-parole de
Kremlin ?"), but it carries the content words: they are added to the question's, never replace
them. Without apertium, English questions reach BM25 in English only (`rag info` says so).
"""

from __future__ import annotations

import functools
import shutil
import subprocess

CHAIN = ("eng-spa", "es-fr")


def available() -> bool:
    return shutil.which("apertium") is not None


@functools.lru_cache(maxsize=4096)
def to_french(text: str) -> str:
    """``text`` through the chain ("" when apertium or a pair is missing, or it fails)."""
    if not available():
        return ""
    try:
        for pair in CHAIN:
            done = subprocess.run(
                ["apertium", "-u", pair], input=text, capture_output=True, text=True, timeout=10
            )
            if done.returncode != 0:
                return ""
            text = done.stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return " ".join(text.split())
