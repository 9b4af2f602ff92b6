"""The `rag` command: ingest, ask, retrieve, info, calibrate, eval, serve, bench.

Progress and messages go to stderr; results (and --json) to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from rag.config import Settings
from rag.errors import InputError, RagError
from rag.progress import ProgressBar

EXAMPLES = {
    "ingest": "example: rag ingest seeds/            (again: only changed files are embedded)",
    "ask": 'example: rag ask "Qui est le conseiller à la sécurité nationale de Joe Biden ?"\n'
    "         printf 'Question 1 ?\\nQuestion 2 ?\\n' | rag ask --json -\n"
    '         rag ask --llm "Pourquoi Washington a-t-il sanctionné Moscou ?"   (RAG_LLM set)',
    "retrieve": 'example: rag retrieve "sommet Biden Poutine" --k 3 --json',
    "info": "example: rag info --json",
    "calibrate": "example: rag calibrate my-questions.txt   (one question per line, 20 or more)\n"
    "         rag calibrate --reset",
    "eval": "example: rag eval --gold evals/gold.jsonl --json",
    "serve": "example: rag serve --port 7860     (chat at /, API at /api, docs at /docs)",
    "bench": "example: rag bench                   (seeds/ as it is)\n"
    "         rag bench --passages 1000,10000 --plot bench.png --json\n"
    "         rag bench --archive 10000 --gold evals/cnil-faq/questions.jsonl",
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(index_dir=args.index)
        result: int = args.run(args, settings)
        return result
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `rag retrieve --json | head`: the reader has had enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(
            "interrupted: the index is unchanged or will be repaired by the next `rag ingest`",
            file=sys.stderr,
        )
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag", description="Questions over French news articles, answered with cited sources."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--index", type=Path, help="index folder (default: index/, or RAG_INDEX_DIR)"
    )
    common.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Any, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            parents=[common],
            help=help,
            description=help,
            epilog=EXAMPLES[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(run=run)
        return sub

    ingest = command("ingest", _ingest, "add, update and remove articles in the index")
    ingest.add_argument("paths", nargs="*", type=Path, help="files or folders (default: seeds/)")
    ingest.add_argument(
        "--rebuild", action="store_true", help="re-embed everything (e.g. new model)"
    )
    ask = command("ask", _ask, "answer a question with cited sources")
    ask.add_argument(
        "question", help='the question, or "-" to read one question per line from stdin'
    )
    retrieve = command("retrieve", _retrieve, "show the passages retrieved for a question")
    retrieve.add_argument("question")
    for sub in (ask, retrieve):
        sub.add_argument("--k", type=int, help="passages to retrieve (default: RAG_TOP_K or 8)")
        sub.add_argument("--from", dest="date_from", default="", help="first month, YYYY-MM")
        sub.add_argument("--to", dest="date_to", default="", help="last month, YYYY-MM")
        sub.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--llm", action="store_true", help="the LLM of RAG_LLM writes the answer")
    info = command("info", _info, "describe the index")
    info.add_argument("--json", action="store_true", help="print JSON")
    calibrate = command("calibrate", _calibrate, "fit abstention to this corpus's questions")
    calibrate.add_argument("questions", nargs="?", type=Path, help=".txt or .jsonl, 20 or more")
    calibrate.add_argument("--reset", action="store_true", help="back to the default scale")
    evaluate = command("eval", _eval, "measure answer quality on gold questions")
    evaluate.add_argument("--gold", type=Path, default=Path("evals/gold.jsonl"))
    evaluate.add_argument(
        "--corpus", type=Path, help="articles to index in a temporary folder first"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--llm", action="store_true", help="answers written by the LLM")
    serve = command("serve", _serve, "serve the chat and the HTTP API on one port")
    serve.add_argument("--host", help="interface to listen on (default: 127.0.0.1, or RAG_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (default: 7860, or RAG_PORT)")
    bench = command("bench", _bench, "time ingest and questions on seeds/ or larger archives")
    bench.add_argument(
        "--passages", type=_sizes, help="archive sizes, e.g. 1000,10000 (articles recombined)"
    )
    bench.add_argument(
        "--archive",
        type=int,
        metavar="N",
        help="ingest N articles around the corpus of --gold, keyword first, and time its stages",
    )
    bench.add_argument("--gold", type=Path, default=Path("evals/gold.jsonl"), help="questions")
    bench.add_argument("--plot", type=Path, help="write a PNG of each figure against N")
    bench.add_argument("--json", action="store_true", help="print JSON (always without --passages)")
    return parser


SEARCHABLE = (
    "new articles searchable by keyword now; their vectors follow (`rag ask` works meanwhile)"
)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.ingest import ingest

    paths = args.paths or [settings.corpus_dir]

    def searchable() -> None:
        if not args.quiet:
            print(SEARCHABLE, file=sys.stderr, flush=True)

    with ProgressBar(args.quiet) as progress:
        report = ingest(paths, settings, None, args.rebuild, progress, searchable)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(report.summary())
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.corpus import printable
    from rag.pipeline import Pipeline

    questions = sys.stdin if args.question == "-" else [args.question]
    pipeline = Pipeline.load(settings)
    for line in questions:
        if args.question == "-" and not line.strip():
            continue
        answer = _answer(pipeline, line, args)
        if args.json:
            print(json.dumps(answer.as_dict(), ensure_ascii=False), flush=True)
            continue
        print(answer.text)
        if phrase := answer.phrase():
            print(f"  → {answer.text[phrase[0] : phrase[1]]}")
        if answer.warning():
            print(f"  ({answer.warning()})")
        for s in answer.sources:
            print(f"  [{s.n}] {printable(s.file)} ({s.date or 'sans date'}) « {s.text} »")
    return 0


def _answer(pipeline: Any, question: str, args: argparse.Namespace) -> Any:
    """One answer; with --llm the draft streams to stderr (stdout gets the checked answer)."""
    from rag.answer.extractive import drain

    streamed: list[str] = []

    def show(piece: str) -> None:
        if not args.quiet:
            streamed.append(piece)
            print(piece, end="", file=sys.stderr, flush=True)

    answer = drain(pipeline.stream(question, k=args.k, filters=_filters(args), llm=args.llm), show)
    if streamed:
        print(file=sys.stderr, flush=True)
    if answer.note:
        print(f"warning: {answer.note}", file=sys.stderr, flush=True)
    return answer


def _retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from rag.index.corpus import printable
    from rag.integrations.retriever import Retriever

    results = Retriever.open(settings).search(
        args.question, settings.top_k if args.k is None else args.k, args.date_from, args.date_to
    )
    rows = [{"rank": i, **r.as_dict()} for i, r in enumerate(results, 1)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    for row in [] if args.json else rows:
        print(
            f"{row['rank']}. {printable(str(row['file']))} {row['date']} [{row['start']}:{row['end']}] {row['score']}"
        )
        print("   " + " ".join(str(row["text"]).split())[:200])
    return 0


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from rag.answer.corpus_scale import described
    from rag.answer.llm import LLM
    from rag.answer.reading import status
    from rag.index.info import describe
    from rag.index.store import Store
    from rag.index.translate import available

    store = Store.open(settings)
    info = describe(store)
    info["abstention"] = described(store)
    info["reader"] = status(settings)
    info["translator"] = (
        "apertium eng-spa -> es-fr: English questions also reach BM25 in French"
        if available()
        else "absent (make translator): English questions reach BM25 in English only"
    )
    info["llm"] = LLM(settings).name if settings.llm else "none (extractive answers only)"
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:18} {value}")
    if info["passages_chroma"] != info["passages_keyword"]:
        print("warning: the two indexes disagree: run `rag ingest` to repair", file=sys.stderr)
        return 1
    return 0


def _calibrate(args: argparse.Namespace, settings: Settings) -> int:
    """`rag calibrate [QUESTIONS] [--reset]`: what it did, in one line."""
    from rag.answer.corpus_scale import forget, read_questions
    from rag.index.store import Store
    from rag.pipeline import Pipeline

    if args.reset:
        forget(Store.open(settings))
        print("abstention back to the default scale")
        return 0
    if args.questions is None:
        raise InputError("Give a file of questions (or --reset): rag calibrate my-questions.txt")
    questions = read_questions(args.questions)
    threshold = settings.abstain_threshold
    print(Pipeline.load(settings).calibrate(questions).summary(threshold))
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before the first gradio import
    from rag.pipeline import Pipeline
    from rag.web.server import Server, create_app, listen
    from rag.web.uploads import exposure_warning

    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    sock = listen(settings.host, settings.port)  # a taken port fails now, not after the index
    say = None if args.quiet else _say
    with ProgressBar(args.quiet) as progress:
        pipeline = Pipeline.load(settings, build=True, progress=progress, say=say)
    server = Server(create_app(pipeline, settings), settings, sock)
    _say(
        f"serving the chat on {server.url} and the API on {server.url}api (docs: {server.url}docs)"
    )
    warning = exposure_warning(settings)
    if warning:  # last, where it is seen
        _say(warning)
    server.run()
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from rag.measure.reports import evaluate_cli

    with ProgressBar(args.quiet, "question") as progress:
        return evaluate_cli(args.gold, settings, args.corpus, args.json, progress, args.llm)


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from rag.measure import bench, benchreport

    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr))
    if args.archive:
        from rag.measure import archive

        print(json.dumps(archive.run(settings, args.archive, args.gold, say), indent=2))
        return 0
    if not args.passages:
        print(json.dumps(bench.run(settings, quiet=args.quiet), indent=2))
        return 0
    from rag.measure.evaluation import load_gold

    questions = [item["question"] for item in load_gold(args.gold)]
    result = bench.scale(settings, args.passages, questions, say=say)
    if args.plot:
        benchreport.plot(result, args.plot)
    print(json.dumps(result, indent=2) if args.json else benchreport.table(result))
    return 0


def _sizes(text: str) -> list[int]:
    """Example: "1000,10000" -> [1000, 10000]."""
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give passage counts, e.g. 1000,10000")
    return sizes


def _filters(args: argparse.Namespace) -> Any:
    from rag.index.retrieval import Filters

    return Filters(args.date_from, args.date_to)


if __name__ == "__main__":
    sys.exit(main())
