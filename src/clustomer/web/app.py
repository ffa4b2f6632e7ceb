"""``create_app(settings)``: the FastAPI application, its gates and its error handling.

Layers, outermost first: the Host allow-list (400), the body limit (413, FastAPI's own
``max_body_size``, checked against ``Content-Length`` and the streamed bytes), a masked
access log, then the routes: ``/api/v1/*`` behind the bearer token, the pages behind the
login cookie. Every error is JSON ``{"error": "..."}`` (pages redirect to the login form
instead of 401).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clustomer.errors import ClustomerError, WorkspaceError, mask_emails
from clustomer.web.deps import AppState, LoginRequired
from clustomer.web.security import HostAllowList, JsonBodyLimit, load_or_create_token
from clustomer.web.settings import Settings

__all__ = ["create_app", "http_status"]

log = logging.getLogger("clustomer.web")


def http_status(exc: ClustomerError) -> int:
    """The HTTP status of a clustomer error: its ``http_status`` if it has one; 409 for
    a workspace that cannot be used or has no run yet; 404 for a missing run; else 400.

    >>> http_status(WorkspaceError("in use")), http_status(ClustomerError("bad holdout"))
    (409, 400)
    """
    explicit = getattr(exc, "http_status", None)
    if isinstance(explicit, int):
        return explicit
    message = str(exc)
    if isinstance(exc, WorkspaceError) or "has been run in this workspace yet" in message:
        return 409
    if message.startswith("there is no run"):
        return 404
    return 400


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": mask_emails(message), **extra}, status_code=status)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ClustomerError)
    async def clustomer_error(request: Request, exc: ClustomerError) -> Response:
        return _error(http_status(exc), str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 413:
            detail = "the request body is too large"
        response = _error(exc.status_code, detail)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"][1:] if len(first["loc"]) > 1 else first["loc"])
        message = f"invalid request: {where + ': ' if where else ''}{first['msg']}"
        return _error(422, message, details=details)

    @app.exception_handler(LoginRequired)
    async def login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login?next=" + request.url.path, status_code=303)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unexpected error on %s %s: %s",
            request.method,
            mask_emails(request.url.path),
            mask_emails(f"{type(exc).__name__}: {exc}"),
        )
        return _error(500, "internal error; the server log has the details")


class AccessLog:
    """ASGI middleware: one ``METHOD path status ms`` line per request, e-mails masked.

    Plain ASGI rather than ``@app.middleware("http")``, whose per-request task group costs
    more than a cached score.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %d %.0f ms",
                    scope["method"],
                    "/".join(mask_emails(part) for part in scope["path"].split("/")),
                    status,
                    (time.perf_counter() - start) * 1000,
                )


class _App(FastAPI):
    """FastAPI with the Host allow-list, the JSON body limit and the access log outside
    everything."""

    clustomer_settings: Settings

    def build_middleware_stack(self) -> Any:
        inner = AccessLog(super().build_middleware_stack())
        limited = JsonBodyLimit(inner, self.clustomer_settings.max_body_bytes)
        return HostAllowList(limited, tuple(self.clustomer_settings.allowed_hosts))


def create_app(settings: Settings) -> FastAPI:
    """The web application for one workspace; the workspace opens when the app starts.

    Parameters
    ----------
    settings : Settings
        Workspace, limits, allowed hosts, token file.

    Returns
    -------
    FastAPI
        Serve it with ``uvicorn.run(app, host=..., port=..., access_log=False)`` (this
        app logs requests itself, with e-mail addresses masked).
    """
    from clustomer.web.routers import api_router, pages_router

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from clustomer.workspace import Workspace

        # re-entrant: a second start of the same app (a test client inside another)
        # shares the open workspace; DuckDB allows one open database per file
        state: AppState | None = getattr(app.state, "clustomer", None)
        if state is not None and state.users > 0:
            state.users += 1
        else:
            token = load_or_create_token(settings.token_file)
            workspace = Workspace(settings.workspace, create=False)
            state = AppState(settings=settings, workspace=workspace, token=token, users=1)
            app.state.clustomer = state
            if settings.warm:
                state.jobs.start(lambda report: state.warm())
        try:
            yield
        finally:
            state.users -= 1
            if state.users == 0:
                state.close()

    app = _App(
        title="clustomer",
        summary="Customer segments, values and scoring for one shop's workspace",
        version="1",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
        # no telemetry: FastAPI's OpenTelemetry hooks stay off whatever the environment
        telemetry={
            "tracing": False,
            "metrics": False,
            "logs": False,
            "operation_spans": False,
            "auto_configure": False,
        },
    )
    app.clustomer_settings = settings
    _install_handlers(app)

    app.include_router(api_router(settings))
    app.include_router(pages_router())
    return app
