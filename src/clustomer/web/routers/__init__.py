"""One APIRouter per resource; :func:`api_router` joins them under ``/api/v1``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from clustomer.web.deps import ApiAuth
from clustomer.web.models import ErrorBody
from clustomer.web.settings import Settings

__all__ = ["ERRORS", "api_router", "errors", "pages_router"]

_TEXT = {
    400: "The request cannot be done (the message says why).",
    401: "Missing or wrong API token.",
    404: "Not in this workspace.",
    409: "The workspace is not ready for this (no run yet, or in use).",
    413: "The request body is too large.",
    422: "The request does not match the schema.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these error statuses, each an :class:`ErrorBody`."""
    return {c: {"model": ErrorBody, "description": _TEXT[c]} for c in codes}


#: The statuses every API route can answer with.
ERRORS = errors(400, 401, 409, 413, 422)


def api_router(settings: Settings) -> APIRouter:
    """Every ``/api/v1`` route, behind the bearer token."""
    from clustomer.web.routers import customers, exports, imports, runs, score, segments

    router = APIRouter(prefix="/api/v1", dependencies=[ApiAuth], responses=ERRORS)
    router.include_router(score.make_router(settings))  # first: the busiest route
    router.include_router(segments.router)
    router.include_router(customers.router)
    router.include_router(runs.router)
    router.include_router(exports.router)
    router.include_router(imports.router)
    return router


def pages_router() -> APIRouter:
    """The server-rendered pages, the login form and the background jobs."""
    from clustomer.web.routers import pages

    return pages.router
