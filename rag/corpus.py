"""Files -> articles: date header, title, text. Bad files are reported, never fatal.

A seed file starts with a header such as `` date 2021-04 Joe Biden et ...``: the date
goes into metadata and the text starts right after it. Offsets stay those of the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError

SUFFIXES = (".txt", ".md")
HEADER = re.compile(r"\A\ufeff?\s*date\s+(\d{4}-\d{2})\b[ \t]*")
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"  # "YYYY-MM": article dates and date filters alike
_MONTH = re.compile(MONTH_PATTERN)
TITLE_CHARS = 120


@dataclass(frozen=True)
class Article:
    """One file of the corpus. ``text[body_start:]`` is the article without its header."""

    path: Path
    text: str
    body_start: int
    date: str
    title: str
    sha: str
    encoding: str = "utf-8"

    @property
    def file(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def find_files(paths: list[Path]) -> list[Path]:
    """Every .txt/.md file under the given files and folders, sorted, hidden files left out."""
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_file():
            found.add(path.resolve())
            continue
        for child in path.rglob("*"):
            hidden = any(part.startswith(".") for part in child.relative_to(path).parts)
            if child.is_file() and child.suffix.lower() in SUFFIXES and not hidden:
                found.add(child.resolve())
    return sorted(found)


def read_article(path: Path, data: bytes | None = None) -> Article | Skipped:
    """Decode and parse one file; a file we cannot use comes back as ``Skipped``."""
    if path.suffix.lower() not in SUFFIXES:
        return Skipped(path, f"unsupported type {path.suffix or '(none)'}: use .txt or .md")
    try:
        raw = path.read_bytes() if data is None else data
    except OSError as exc:
        return Skipped(path, f"unreadable: {exc.strerror or exc}")
    if b"\x00" in raw[:8192]:
        return Skipped(path, "binary file")
    text, encoding = decode(raw)
    if not text.strip():
        return Skipped(path, "empty file")
    return parse_article(path, text, hashlib.sha256(raw).hexdigest()[:16], encoding)


def decode(raw: bytes) -> tuple[str, str]:
    """UTF-8, else Latin-1 (which decodes any bytes). Example: b"caf\\xe9" -> ("café", "latin-1")."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


def parse_article(path: Path, text: str, sha: str, encoding: str = "utf-8") -> Article:
    """Split off the optional date header and take the first line as the title.

    Example: " date 2021-12 Crise en Ukraine\\n..." -> date "2021-12", title "Crise en Ukraine".
    """
    date, body_start = "", 0
    match = HEADER.match(text)
    if match and is_month(match.group(1)):
        date, body_start = match.group(1), match.end()
    first_line = text[body_start:].strip().split("\n", 1)[0].strip().lstrip("#").strip()
    title = first_line if len(first_line) <= TITLE_CHARS else _shorten(first_line)
    return Article(path, text, body_start, date, title or path.stem, sha, encoding)


def is_month(text: str) -> bool:
    """Whether ``text`` is a "YYYY-MM" date. Example: "2021-13" -> False."""
    return bool(_MONTH.match(text))


def month_number(date: str) -> int:
    """A "YYYY-MM" date as a sortable number; "" (no date) is 0. Example: "2021-04" -> 202104."""
    return int(date[:4]) * 100 + int(date[5:7]) if date else 0


def _shorten(line: str) -> str:
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
