"""`rag serve`: one FastAPI app on one port, the JSON API under /api and the Gradio chat at /.

Errors are JSON ``{"error": "..."}`` with a 4xx code (5xx only for our own bugs, never with a
traceback); RAG_AUTH protects the API (HTTP basic auth) as it protects the chat (login page).
API docs at /docs are served from the swagger-ui-bundle package (Swagger UI 4, which renders
OpenAPI 3.0: /openapi.json is written as 3.0.3 by rag/web/openapi.py): nothing comes from a CDN.
"""

from __future__ import annotations

import errno
import functools
import math
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.errors import ConfigError, InputError, NoIndex, RagError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    from rag.pipeline import Pipeline

STATUS = {InputError: 400, ConfigError: 400, NoIndex: 503}  # other RagErrors: 500
LOGIN_FAILURES = 5  # failed logins from one address within LOGIN_WINDOW seconds: then it waits
LOGIN_WINDOW = 60.0


def create_app(pipeline: Pipeline, settings: Settings) -> FastAPI:
    """The whole server: API, offline docs, and the chat mounted at / (registered last)."""
    import gradio as gr
    from fastapi import Depends, FastAPI

    from rag.web import webapp
    from rag.web.openapi import as_openapi_30
    from rag.web.routes import router

    app = FastAPI(
        title="rag",
        summary="Questions over French news articles, answered with cited sources.",
        docs_url=None,
        redoc_url=None,
    )
    _errors(app)
    if settings.auth:
        _throttle_logins(app, LoginThrottle())
    app.include_router(router(pipeline), prefix="/api", dependencies=[Depends(_guard(settings))])
    written = app.openapi  # FastAPI's 3.1 schema, converted once for the bundled Swagger UI
    app.openapi = functools.cache(lambda: as_openapi_30(written()))  # type: ignore[method-assign]
    _docs(app)
    demo = webapp.build_app(pipeline, settings)
    # what launch() would set: only then does Gradio refuse a "file" that names a path on the
    # server instead of one the browser uploaded (mount_gradio_app leaves it unset)
    demo.has_launched = True
    return gr.mount_gradio_app(app, demo, "/", **webapp.mount_options(settings))


def _guard(settings: Settings) -> Any:
    """The dependency that checks HTTP basic credentials against RAG_AUTH (none: open)."""
    from fastapi import Depends, HTTPException
    from fastapi.security import HTTPBasic, HTTPBasicCredentials

    expected = settings.credentials()
    basic = HTTPBasic(auto_error=False, description="RAG_AUTH user:password")

    def guard(given: HTTPBasicCredentials | None = Depends(basic)) -> None:
        if expected is None:
            return
        ok = given is not None and all(
            secrets.compare_digest(a.encode(), b.encode())
            for a, b in zip((given.username, given.password), expected, strict=True)
        )
        if not ok:
            raise HTTPException(
                401,
                "Log in: HTTP basic auth with RAG_AUTH's user:password",
                {"WWW-Authenticate": "Basic"},
            )

    return guard


class LoginThrottle:
    """Failed logins per client address; after LOGIN_FAILURES within LOGIN_WINDOW seconds,
    that address waits for the oldest of them to age out, whatever it sends meanwhile.

    Example: five wrong passwords in a minute -> the sixth try, right or wrong, gets a 429.
    """

    def __init__(self, limit: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before its next try (0: go ahead)."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.pop(client, []) if now - t < self.window]
            if recent:
                self._failures[client] = recent
            return self.window - (now - recent[0]) if len(recent) >= self.limit else 0.0

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def _throttle_logins(app: FastAPI, throttle: LoginThrottle) -> None:
    """Count the chat's failed logins (POST /login) and the API's 401s against ``throttle``."""
    from fastapi.responses import JSONResponse

    @app.middleware("http")
    async def logins(request: Request, call_next: Any) -> Any:
        path = request.url.path
        login = request.method == "POST" and path.rstrip("/") == "/login"
        if not (login or path.startswith("/api/")):
            return await call_next(request)
        client = request.client.host if request.client else "unknown"
        wait = math.ceil(throttle.wait(client))
        if wait:
            message = f"Too many failed logins from {client}: try again in {wait} s"
            return JSONResponse({"error": message}, 429, {"Retry-After": str(wait)})
        response = await call_next(request)
        if response.status_code == 401 or (login and response.status_code == 400):
            throttle.failed(client)
        elif response.status_code < 400:
            throttle.succeeded(client)
        return response


def _errors(app: FastAPI) -> None:
    """Every error as JSON {"error": "..."}."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    def reply(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
        from fastapi.responses import JSONResponse

        return JSONResponse({"error": message}, status, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        unreadable = [_unreadable(e) for e in errors if _unreadable(e)]
        if unreadable:
            return reply(400, unreadable[0])
        return reply(422, "; ".join(_problem(e) for e in errors))

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        return reply(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RagError)
    async def rag(request: Request, exc: RagError) -> JSONResponse:
        return reply(STATUS.get(type(exc), 500), str(exc))

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> JSONResponse:
        return reply(500, f"Internal error ({type(exc).__name__}): see the server log")


def _unreadable(error: Any) -> str:
    """The message for a request body that is not a JSON document at all ("" for any other error).

    Example: {"type": "json_invalid", "loc": ("body", 23), "ctx": {"error": "Expecting value"}}
        -> "request body is not valid JSON (position 23): Expecting value"
    """
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        where = f" (position {loc[1]})" if len(loc) > 1 else ""
        reason = error.get("ctx", {}).get("error", "")
        return f"request body is not valid JSON{where}" + (f": {reason}" if reason else "")
    if error.get("type") == "missing" and loc == ("body",):
        return 'request body is empty: send a JSON object, e.g. {"question": "Qui est Jake Sullivan ?"}'
    return ""


def _problem(error: Any) -> str:
    """One validation error as a line. Example: "k: Input should be less than or equal to 50"."""
    where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"
    return f"{where}: {error.get('msg', 'invalid')}".replace("Value error, ", "")


def _docs(app: FastAPI) -> None:
    """Swagger UI at /docs from local files."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Any:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="rag API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port for the server, or a ConfigError that says how to choose
    another port. Bound before the index loads, so that a taken port fails at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} is taken: set RAG_PORT (RAG_PORT={port + 1} make run)"
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}): set RAG_HOST and RAG_PORT"
        ) from None
    sock.set_inheritable(True)
    return sock


class Server:
    """The app served by uvicorn on settings.host:port, in this thread (``run``) or in a
    background one (``start``/``stop``, for tests and embedding). ``sock``: a socket from
    ``listen``, else one is bound here (ConfigError when the port is taken)."""

    def __init__(self, app: FastAPI, settings: Settings, sock: socket.socket | None = None) -> None:
        import uvicorn

        self.socket = sock or listen(settings.host, settings.port)
        config = uvicorn.Config(app, settings.host, settings.port, log_level="warning")
        self.uvicorn = uvicorn.Server(config)
        self.url = f"http://{settings.host}:{settings.port}/"
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        self.uvicorn.run(sockets=[self.socket])

    def start(self, timeout: float = 30) -> Server:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ConfigError(f"Cannot serve on {self.url}: see the server log")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.socket.close()
