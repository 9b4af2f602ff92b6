"""Files -> articles: date header, title, text. Bad files are reported, never fatal.

A seed file starts with a header such as `` date 2021-04 Joe Biden et ...``: the date
goes into metadata and the text starts right after it. Offsets stay those of the file.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InputError

SUFFIXES = (".txt", ".md")
HEADER = re.compile(r"\A\ufeff?\s*date\s+(\d{4}-\d{2})\b[ \t]*")
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"  # "YYYY-MM": article dates and date filters alike
_MONTH = re.compile(MONTH_PATTERN)
TITLE_CHARS = 120
# a photo's caption or credit describes a picture and states no fact: never quoted, never a title
CAPTION = re.compile(
    r"(?i:\((?:illustration|archives?|photo)\)|cr[ée]dits? photo)|©|^\W*[Pp]hotos?\s*(?::|[A-Z])"
)


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
    bad_date: str = ""  # a header date that is no month (e.g. "2021-13"): left out, reported

    @property
    def file(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


def find_files(paths: list[Path], skipped: list[Skipped] | None = None) -> list[Path]:
    """Every .txt/.md file under the given files and folders, sorted, hidden files left out.

    A file is known by its resolved path, whichever link led to it; a symbolic link leading out
    of the folder being searched is not followed. Such links and unreadable folders are added
    to ``skipped``.
    """
    found: set[Path] = set()
    report = [] if skipped is None else skipped
    for path in paths:
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        if path.is_file():
            found.add(path.resolve())
            continue
        found.update(_walk(path, report))
    return sorted(found)


def _walk(folder: Path, skipped: list[Skipped]) -> Iterator[Path]:
    root = folder.resolve()

    def unreadable(error: OSError) -> None:
        where = Path(error.filename or folder)
        skipped.append(Skipped(where, f"unreadable folder: {error.strerror or error}"))

    for parent, folders, names in os.walk(folder, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            child = Path(parent) / name
            if name.startswith(".") or child.suffix.lower() not in SUFFIXES:
                continue
            target = child.resolve()
            if root not in target.parents:
                # the target's path is left out: the reason may be shown to a web user
                skipped.append(Skipped(child, f"link leading outside {folder}: not followed"))
            elif target.is_file():
                yield target


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
    """Split off the optional date header and take the first line that is not a photo caption
    or credit (CAPTION) as the title.

    Example: " date 2021-12 Crise en Ukraine\\n..." -> date "2021-12", title "Crise en Ukraine".
    """
    date, body_start, bad_date = "", 0, ""
    match = HEADER.match(text)
    if match:
        body_start = match.end()
        date, bad_date = (match.group(1), "") if is_month(match.group(1)) else ("", match.group(1))
    title = _title(text[body_start:])
    return Article(path, text, body_start, date, title or path.stem, sha, encoding, bad_date)


def _title(body: str) -> str:
    """The first line of ``body`` that is not a caption, cut to TITLE_CHARS ("" if none).

    Example: "Biden (illustration). — Photos Sipa\\n\\nOublié, le «tueur»." -> "Oublié, le «tueur»."
    """
    for line in body.split("\n"):
        line = line.strip().lstrip("#").strip()
        if line and not CAPTION.search(line):
            return line if len(line) <= TITLE_CHARS else _shorten(line)
    return ""


def is_month(text: str) -> bool:
    """Whether ``text`` is a "YYYY-MM" date. Example: "2021-13" -> False."""
    return bool(_MONTH.match(text))


def month_number(date: str) -> int:
    """A "YYYY-MM" date as a sortable number; "" (no date) is 0. Example: "2021-04" -> 202104."""
    return int(date[:4]) * 100 + int(date[5:7]) if date else 0


def printable(name: str) -> str:
    """``name`` on one line: control characters escaped. Example: "a\\nb.txt" -> "a\\\\nb.txt"."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in name)


def _shorten(line: str) -> str:
    cut = line[:TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"
