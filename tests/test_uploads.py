"""rag/web/uploads.py: uploads checked and saved, indexed articles deleted, and who may do either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rag.config import Settings
from rag.errors import InputError
from rag.web import uploads

# --- uploads and deletions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("article.txt", "article.txt"),
        ("Mon Article!.MD", "Mon_Article.md"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("C:\\Users\\x\\été 2021.txt", "été_2021.txt"),
        (".cache.txt", "cache.txt"),
    ],
)
def test_safe_filename(name: str, safe: str) -> None:
    assert uploads.safe_filename(name) == safe


@pytest.mark.parametrize("name", ["photo.png", "script.txt.exe", "sans_extension", "....txt", "/"])
def test_safe_filename_refuses(name: str) -> None:
    with pytest.raises(InputError):
        uploads.safe_filename(name)


def upload_file(tmp_path: Path, name: str, data: bytes) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "existant.txt").write_text("Ancien contenu.\n", encoding="utf-8")
    return folder


def test_save_upload_copies_into_the_corpus_under_a_safe_name(tmp_path: Path, corpus: Path) -> None:
    source = upload_file(tmp_path, "x.txt", b" date 2024-05 Titre\n\nTexte.\n")
    target, written = uploads.save_upload(source, "../Mon fichier.txt", corpus, max_mb=1)
    assert written and target == corpus.resolve() / "Mon_fichier.txt"
    assert target.read_bytes() == source.read_bytes()
    assert sorted(p.name for p in corpus.iterdir()) == ["Mon_fichier.txt", "existant.txt"]


def test_save_upload_refuses_big_binary_and_empty_files(tmp_path: Path, corpus: Path) -> None:
    big = upload_file(tmp_path, "gros.txt", b"a" * (1024 * 1024 + 1))
    with pytest.raises(InputError, match="limite de 1 Mo"):
        uploads.save_upload(big, "gros.txt", corpus, max_mb=1)
    binary = upload_file(tmp_path, "bin.txt", b"\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        uploads.save_upload(binary, "bin.txt", corpus, max_mb=1)
    empty = upload_file(tmp_path, "vide.md", b"  \n")
    with pytest.raises(InputError, match="empty"):
        uploads.save_upload(empty, "vide.md", corpus, max_mb=1)
    assert [p.name for p in corpus.iterdir()] == ["existant.txt"]


def test_save_upload_never_overwrites_a_different_file_silently(
    tmp_path: Path, corpus: Path
) -> None:
    same = upload_file(tmp_path, "existant.txt", b"Ancien contenu.\n")
    assert uploads.save_upload(same, "existant.txt", corpus, max_mb=1)[1] is False
    other = upload_file(tmp_path, "autre.txt", b"Nouveau contenu.\n")
    with pytest.raises(InputError, match="existe déjà"):
        uploads.save_upload(other, "existant.txt", corpus, max_mb=1)
    assert (corpus / "existant.txt").read_bytes() == b"Ancien contenu.\n"
    target, written = uploads.save_upload(other, "existant.txt", corpus, max_mb=1, replace=True)
    assert written and target.read_bytes() == b"Nouveau contenu.\n"
    assert sorted(p.name for p in corpus.iterdir()) == ["existant.txt"]  # no temporary left


def test_save_upload_refuses_a_symlink_out_of_the_corpus(tmp_path: Path, corpus: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret\n")
    (corpus / "lien.txt").symlink_to(outside)
    source = upload_file(tmp_path, "lien.txt", b"Texte.\n")
    with pytest.raises(InputError):
        uploads.save_upload(source, "lien.txt", corpus, max_mb=1, replace=True)
    assert outside.read_text() == "secret\n"


def test_remove_article_only_deletes_indexed_articles_of_the_corpus(
    tmp_path: Path, corpus: Path
) -> None:
    outside = tmp_path / "garde.txt"
    outside.write_text("garde\n")
    (corpus / "notes.json").write_text("{}")
    indexed = ["existant.txt", "absent.txt", "../garde.txt", "notes.txt"]
    for name in ["../garde.txt", "..", "", ".cache", "sous/dossier.txt", "notes.json"]:
        with pytest.raises(InputError):
            uploads.remove_article(name, corpus, indexed)
    with pytest.raises(InputError, match="plus dans"):
        uploads.remove_article("absent.txt", corpus, indexed)
    uploads.remove_article("existant.txt", corpus, indexed)
    assert not (corpus / "existant.txt").exists() and outside.exists()
    assert (corpus / "notes.json").exists()


@pytest.mark.parametrize(
    ("host", "auth", "allow", "writable", "warned"),
    [
        ("127.0.0.1", "", False, True, False),
        ("localhost", "", False, True, False),
        ("::1", "", False, True, False),
        ("0.0.0.0", "", False, False, True),
        ("192.168.1.20", "", True, True, True),
        ("0.0.0.0", "a:b", False, True, False),
    ],
)
def test_the_corpus_is_read_only_to_anonymous_users_of_the_network(
    host: str, auth: str, allow: bool, writable: bool, warned: bool
) -> None:
    settings = Settings(host=host, auth=auth, allow_uploads=allow)

    assert uploads.writes_allowed(settings) is writable
    assert bool(uploads.exposure_warning(settings)) is warned
    if writable:
        uploads.check_writes(settings)
    else:
        with pytest.raises(InputError, match="lecture seule"):
            uploads.check_writes(settings)


def test_an_anonymous_network_server_refuses_corpus_changes(
    app_settings: Settings, app_pipeline: Any, tmp_path: Path
) -> None:
    """The Corpus tab's handlers, as the forged button clicks of a user on the network."""
    from dataclasses import replace

    from rag.web import handlers

    exposed = replace(app_settings, host="0.0.0.0")
    upload = tmp_path / "nouveau.txt"
    upload.write_text(" date 2024-01 Nouveau\n\nUn article qui n'entrera pas.\n", encoding="utf-8")
    before = sorted(p.name for p in app_settings.corpus_dir.iterdir())

    added = handlers.upload(app_pipeline, exposed, [str(upload)], False, lambda *a, **k: None)
    deleted = handlers.delete(
        app_pipeline, exposed, "002_c1d3609a954ad6a6.txt", lambda *a, **k: None
    )

    assert "lecture seule" in added[0] and "lecture seule" in deleted[0]
    assert sorted(p.name for p in app_settings.corpus_dir.iterdir()) == before
