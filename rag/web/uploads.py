"""The Corpus tab's file operations: uploads checked and saved, indexed articles deleted, and
who may do either.

Nothing here imports gradio. Writes are refused to anonymous users of a server that listens
beyond this machine, unless RAG_ALLOW_UPLOADS says otherwise.
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import InputError
from rag.index.corpus import SUFFIXES, Skipped, read_article

MAX_NAME_CHARS = 100
_UNSAFE_NAME = re.compile(r"[^\w\-]+")
READ_ONLY = (
    "Corpus en lecture seule : ce serveur est ouvert au réseau sans identification "
    "(RAG_AUTH) ; RAG_ALLOW_UPLOADS=true autorise quand même les ajouts et suppressions."
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only. Example: "0.0.0.0" -> False."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def writes_allowed(settings: Settings) -> bool:
    """May the Corpus tab upload and delete? Yes on this machine only, behind a login
    (RAG_AUTH), or when RAG_ALLOW_UPLOADS says so for a server open to anyone."""
    return bool(settings.auth) or is_loopback(settings.host) or settings.allow_uploads


def exposure_warning(settings: Settings) -> str:
    """The warning `rag serve` prints when anyone on the network may use it ("" if none)."""
    if settings.auth or is_loopback(settings.host):
        return ""
    writes = "CAN upload and delete articles" if writes_allowed(settings) else "can only read"
    return (
        f"WARNING: serving on {settings.host} to the network with no login: anyone who reaches "
        f"port {settings.port} can ask questions and {writes}. Set RAG_AUTH=user:password."
    )


def check_writes(settings: Settings) -> None:
    """Refuse a corpus change when writes are not allowed (the buttons may be forged)."""
    if not writes_allowed(settings):
        raise InputError(READ_ONLY)


def corpus_files(articles: Sequence[dict[str, Any]], corpus_dir: Path) -> list[str]:
    """Names of the indexed articles that live in ``corpus_dir`` (the ones the UI may delete)."""
    root = corpus_dir.resolve()
    return [a["file"] for a in articles if Path(a["path"]).parent == root]


def safe_filename(name: str) -> str:
    """A plain file name for an upload, or InputError.

    Example: "../Mon article!.TXT" -> "Mon_article.txt"
    """
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, suffix = unicodedata.normalize("NFC", base).strip().rpartition(".")
    suffix = f".{suffix.lower()}"
    if not dot or suffix not in SUFFIXES:
        raise InputError(
            f"{base} : type non pris en charge, seuls les fichiers .txt et .md sont acceptés."
        )
    stem = _UNSAFE_NAME.sub("_", stem).strip("._-")[:MAX_NAME_CHARS]
    if not stem:
        raise InputError(f"{base} : nom de fichier inutilisable, renommez le fichier.")
    return stem + suffix


def save_upload(
    source: Path, name: str, corpus_dir: Path, max_mb: int, replace: bool = False
) -> tuple[Path, bool]:
    """Check an uploaded file and copy it into ``corpus_dir``; returns (path, written).

    ``written`` is False when the same content is already there. A different file with the
    same name is only replaced when ``replace`` is set.
    """
    target_name = safe_filename(name)
    size = source.stat().st_size
    if size > max_mb * 1024 * 1024:
        raise InputError(f"{name} : {size / 1048576:.1f} Mo, au-delà de la limite de {max_mb} Mo.")
    data = source.read_bytes()
    checked = read_article(Path(target_name), data)
    if isinstance(checked, Skipped):
        raise InputError(f"{name} : fichier refusé ({checked.reason}).")
    root = corpus_dir.resolve()
    target = root / target_name
    if target.is_symlink() or target.resolve().parent != root:
        raise InputError(f"{target_name} : emplacement refusé.")
    if target.exists():
        if target.read_bytes() == data:
            return target, False
        if not replace:
            raise InputError(
                f"{target_name} existe déjà avec un autre contenu : renommez le fichier "
                "ou cochez « Remplacer les fichiers existants »."
            )
    _write_atomically(target, data, replace)
    return target, True


def _write_atomically(target: Path, data: bytes, replace: bool) -> None:
    # a hidden temporary file is invisible to ingest; link/replace publish it in one step
    temporary = target.parent / f".upload-{uuid.uuid4().hex}.part"
    temporary.write_bytes(data)
    try:
        if replace:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)
            except FileExistsError:
                raise InputError(
                    f"{target.name} vient d'être ajouté par ailleurs : réessayez."
                ) from None
    finally:
        temporary.unlink(missing_ok=True)


def remove_article(name: str, corpus_dir: Path, indexed: Sequence[str]) -> Path:
    """Delete one article file from ``corpus_dir``: only one of the ``indexed`` names there
    (``corpus_files``), never another file of the folder, never anywhere else."""
    root = corpus_dir.resolve()
    target = root / name
    unsafe = not name or re.search(r"[\\/]", name) or name.startswith(".")
    if unsafe or target.parent != root or name not in indexed:
        raise InputError(f"{name!r} n'est pas un article indexé du dossier {corpus_dir}.")
    if not target.is_file():
        raise InputError(f"{name} n'est plus dans {corpus_dir} : rafraîchissez la page.")
    target.unlink()
    return target
