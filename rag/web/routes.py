"""The JSON API under /api: request limits, the endpoints, and their answers.

Mounted by rag/web/server.py; the request models give the OpenAPI schema at /openapi.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rag.answer.extractive import Answer, drain, stream_prefixes
from rag.answer.reading import status
from rag.config import MAX_K
from rag.index.corpus import MONTH_PATTERN
from rag.index.info import describe
from rag.index.retrieval import Filters, months_in_order
from rag.integrations.retriever import SearchResult
from rag.pipeline import MAX_QUESTION_CHARS, Pipeline

MAX_FILES = 1000
MAX_HISTORY = 50
Month = str  # "YYYY-MM" or "" (no limit)
Turn = Annotated[str, Field(max_length=MAX_QUESTION_CHARS)]


class Search(BaseModel):
    """A question and where to look; ``k`` defaults to RAG_TOP_K. Types are strict ("k": "5"
    is refused, not read as 5); a blank question is a 400 from the pipeline, as in the CLI."""

    model_config = ConfigDict(extra="forbid", strict=True)

    question: str = Field(max_length=MAX_QUESTION_CHARS, examples=["Qui est Jake Sullivan ?"])
    k: int | None = Field(None, ge=1, le=MAX_K, examples=[5])
    date_from: Month = Field("", pattern=f"{MONTH_PATTERN}|^$", examples=["2021-04"])
    date_to: Month = Field("", pattern=f"{MONTH_PATTERN}|^$", examples=["2021-12"])
    files: list[str] = Field([], max_length=MAX_FILES)

    @model_validator(mode="after")
    def _range(self) -> Search:
        if not months_in_order(self.date_from, self.date_to):
            raise ValueError(f"date_from {self.date_from} is after date_to {self.date_to}")
        return self

    def filters(self) -> Filters:
        return Filters(self.date_from, self.date_to, tuple(self.files))


class Ask(Search):
    """A chat turn: ``history`` holds the previous questions, oldest first."""

    history: list[Turn] = Field([], max_length=MAX_HISTORY)
    stream: bool = Field(False, description="server-sent events: delta events, then answer")
    llm: bool = Field(False, description="the answer is written by the LLM of RAG_LLM")


class Passages(BaseModel):
    passages: list[dict[str, Any]]


class Error(BaseModel):
    """Every error: one line that says what to do."""

    error: str


ERRORS: dict[int | str, dict[str, Any]] = {  # what every endpoint may answer instead
    401: {"model": Error, "description": "RAG_AUTH is set: log in with HTTP basic auth"},
    429: {"model": Error, "description": "too many failed logins: wait"},
    503: {"model": Error, "description": "no index yet: run `rag ingest`"},
}
QUESTION_ERRORS: dict[int | str, dict[str, Any]] = {  # and what a question may get
    400: {"model": Error, "description": "blank question, or a body that is not JSON"},
    422: {"model": Error, "description": "outside the limits, or files not indexed"},
}


class AnswerOut(BaseModel):
    """The object `rag ask --json` prints."""

    question: str
    answer: str
    abstained: bool
    confidence: float
    unsure: bool = Field(description="answered below RAG_SURE_THRESHOLD: check the cited source")
    sources: list[dict[str, Any]]
    mode: str = Field(description="extractive, or llm: written by the LLM, citations checked")
    llm: str | None = Field(description="the LLM asked, if any")
    sentences: list[dict[str, Any]] = Field(description="text, citations, dropped, supported")
    note: str = Field(description="why the LLM's answer was not kept, or could not be had")
    query: str = Field(
        description="what was searched: the question, or its rewrite with the history"
    )
    indexing: str | None = Field(
        description='while an ingest stores vectors, how many passages have theirs ("12,400 / '
        '50,000"): the others are found by keyword only; null when the index is complete'
    )
    span: list[int] | None = Field(
        description="[start, end]: the characters of `answer` that answer the question (the "
        "reader's answer phrase, inside the first quoted sentence); null without one"
    )


def router(pipeline: Pipeline) -> APIRouter:
    """The endpoints, answering from ``pipeline``."""
    api = APIRouter(responses=ERRORS)

    def indexed(files: list[str]) -> None:
        """422 when ``files`` names an article that is not indexed (it would match nothing)."""
        known = {row["file"] for row in pipeline.articles()}
        missing = [name for name in dict.fromkeys(files) if name not in known]
        if missing:
            shown = ", ".join(missing[:10]) + (
                f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            )
            raise HTTPException(422, f"files: not indexed: {shown} (see GET /api/articles)")

    @api.post("/retrieve", response_model=Passages, responses=QUESTION_ERRORS)
    def retrieve(body: Search) -> dict[str, Any]:
        """The passages retrieved for a question (hybrid dense + BM25), best first."""
        indexed(body.files)
        hits = pipeline.retrieve(body.question, body.k, body.filters())
        return {"passages": [SearchResult.from_hit(h).as_dict() for h in hits]}

    @api.post("/ask", response_model=AnswerOut, responses=QUESTION_ERRORS)
    def ask(body: Ask) -> Any:
        """A cited answer, or an abstention; ``stream: true`` sends it as server-sent events."""
        indexed(body.files)
        items = pipeline.stream(body.question, body.history, body.k, body.filters(), body.llm)
        first = next(items)  # a bad request fails here, before any event is sent
        if not body.stream:
            return drain(chain([first], items)).as_dict()
        return StreamingResponse(_events(chain([first], items)), media_type="text/event-stream")

    @api.get("/articles")
    def articles() -> dict[str, Any]:
        """The indexed articles: file, date, title and number of passages."""
        rows = pipeline.articles()
        return {
            "articles": [{k: r[k] for k in ("file", "date", "title", "passages")} for r in rows]
        }

    @api.get("/health")
    def health() -> dict[str, Any]:
        """The model, the index counts, the last ingest, the LLM (null: none) and the reader."""
        llm = pipeline.llm.name if pipeline.llm else None
        reader = status(pipeline.settings)
        return {"status": "ok", **describe(pipeline.current()), "llm": llm, "reader": reader}

    @api.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "DELETE"], include_in_schema=False
    )
    def unknown(path: str) -> JSONResponse:
        """404 for an unknown endpoint, 405 for a known one asked with the wrong method."""
        allowed = sorted(
            m
            for r in api.routes
            if getattr(r, "path", "") == f"/{path}"
            for m in getattr(r, "methods", ())
        )
        if allowed:
            message = f"/api/{path} takes {', '.join(allowed)}: see /docs"
            return JSONResponse({"error": message}, 405, {"Allow": ", ".join(allowed)})
        return JSONResponse({"error": f"No endpoint /api/{path}: see /docs"}, 404)

    return api


def _events(items: Iterator[str | Answer]) -> Iterator[str]:
    """The answer as server-sent events: ``delta`` pieces of text, then the whole ``answer``.
    An LLM's draft streams as it is written; an extractive answer is cut into pieces.

    Example: "a b" -> 'event: delta\\ndata: {"text": "a"}' ... 'event: answer\\ndata: {...}'
    """
    streamed = False
    for item in items:
        if isinstance(item, str):
            streamed = True
            yield _event("delta", {"text": item})
            continue
        sent = ""
        for prefix in [] if streamed else stream_prefixes(item.text):
            yield _event("delta", {"text": prefix[len(sent) :]})
            sent = prefix
        yield _event("answer", item.as_dict())


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
