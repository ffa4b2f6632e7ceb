"""``POST /api/v1/score``: a customer's segment, value and products now (no refit, no write)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from clustomer.web.deps import AppState
from clustomer.web.models import ScoreIn, ScoreOut
from clustomer.web.routers import errors
from clustomer.web.scoring import prepare_score
from clustomer.web.settings import Settings


def make_router(settings: Settings) -> APIRouter:
    router = APIRouter(tags=["score"])

    @router.post(
        "/score",
        response_model=ScoreOut,
        responses=errors(404),
        summary="Score one customer in real time",
        max_body_size=settings.max_json_bytes,
    )
    async def score(body: ScoreIn, request: Request) -> dict[str, Any]:
        """Segment (with probabilities where there are any), 90-day activity and value,
        and top products of a known customer, of a customer with new orders, or of a new
        customer's orders. The new orders are not stored."""
        # the state from the request, not through the State dependency: the busiest
        # route, where each dependency FastAPI solves costs a measurable share
        state: AppState = request.app.state.clustomer
        if body.customer_key is not None and not body.orders:
            # a cached key-only score is a dict lookup: answered on the event loop,
            # without the hop to the thread pool or the workspace lock
            cached = state.cached_score(body.customer_key, body.top)
            if cached is not None:
                return cached
        elif body.orders:
            # new lines from the in-memory line book: well under a millisecond, so on
            # the event loop as well (web/realtime.py)
            done = state.lines_score(
                body.customer_key, [o.model_dump() for o in body.orders], body.top
            )
            if done is not None:
                return done
        return await run_in_threadpool(_score, body, state)

    return router


def _score(body: ScoreIn, state: AppState) -> dict[str, Any]:
    orders = [o.model_dump() for o in body.orders]
    with state.use(read_only=True) as ws:  # the workspace only for the reads
        recs, favourites = None, None
        if body.top > 0:
            if body.customer_key is not None:
                recs = state.recommendations_of(ws, body.customer_key)
            favourites = state.favourites(ws)
        finish = prepare_score(
            ws.store,
            state.models,
            body.customer_key,
            orders,
            recommendations=recs,
            top=body.top,
            favourites=favourites,
        )
    return finish()  # features, segment and value on a scratch: requests run side by side
