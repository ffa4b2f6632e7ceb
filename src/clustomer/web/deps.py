"""The app's shared state and the dependencies routes declare (``Annotated[..., Depends()]``).

One :class:`AppState` per app, made in the lifespan handler: the one open workspace, the
lock that serialises every use of it (a DuckDB connection is used by one thread at a time,
and only one process may hold the file), the token, the model and recommendation caches,
the background jobs.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from clustomer.web.jobs import JobRegistry
from clustomer.web.scoring import ModelCache
from clustomer.web.security import SESSION_COOKIE, check_token, verify_session
from clustomer.web.settings import Settings
from clustomer.workspace import Workspace

__all__ = [
    "ApiAuth",
    "AppState",
    "PageAuth",
    "State",
    "get_state",
    "require_session",
    "require_token",
]


@dataclass
class AppState:
    """Everything one running app shares between requests."""

    settings: Settings
    workspace: Workspace
    token: str
    #: how many running lifespans share this state (the last one closes it)
    users: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    models: ModelCache = field(default_factory=lambda: ModelCache(track_writes=True))
    jobs: JobRegistry = field(default_factory=JobRegistry)
    scratch: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="clustomer-web-")
    )
    _recs: tuple[Any, pd.DataFrame] | None = None
    #: each customer's recommendation rows by rank, for the stamp of ``_recs``
    _recs_by_key: tuple[Any, dict[str, list[dict[str, Any]]]] | None = None
    #: False after a use that may have written, until the caches' stamps are read again
    _recs_checked: bool = False
    #: each segment's popular products (for customers without history), with ``_recs``
    _favourites: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @contextmanager
    def use(self, *, read_only: bool = False) -> Iterator[Workspace]:
        """The workspace, for this thread alone until the block ends.

        Unless the block is ``read_only``, the caches read the workspace's stamp (latest
        run, imports) again afterwards: it may have written.
        """
        with self.lock:
            try:
                yield self.workspace
            finally:
                if not read_only:
                    self.models.changed()
                    self._recs_checked = False

    @property
    def scratch_dir(self) -> Path:
        return Path(self.scratch.name)

    def recommendations(self, ws: Workspace) -> pd.DataFrame | None:
        """Every customer's top 10 products, computed once per run and import (cached).

        None when the recommender is not available in this version.
        """
        from clustomer.store.imports import list_imports
        from clustomer.store.runs import latest_run_id

        if self._recs is not None and self._recs_checked:
            return self._recs[1]
        stamp = (latest_run_id(ws.store), tuple(list_imports(ws.store)))
        if self._recs is None or self._recs[0] != stamp:
            try:
                recs = ws.recommendations(top=10)
            except ImportError:
                return None
            self._favourites = ws.segment_favourites(top=10)
            self._recs = (stamp, recs)
        self._recs_checked = True
        return self._recs[1]

    def recommendations_ready(self) -> bool:
        """Whether :meth:`recommendations_of` is a lookup (no query, no build)."""
        return (
            self._recs_checked
            and self._recs is not None
            and self._recs_by_key is not None
            and self._recs_by_key[0] is self._recs
        )

    def cached_score(self, key: str, top: int) -> dict[str, Any] | None:
        """A key-only score answered from the caches alone, without the workspace or its
        lock (so a running upload job does not hold it up); None when the caches cannot
        answer it. The caches are replaced whole, never changed in place."""
        from clustomer.web.scoring import cached_score

        scores = self.models.ready(key)
        ready, recs = self._cached_recommendations(key, top)
        if scores is None or not ready:
            return None
        return cached_score(scores, key, recs, top, self._favourites)

    def lines_score(
        self, key: str | None, orders: list[dict[str, Any]], top: int
    ) -> dict[str, Any] | None:
        """A score with new order lines from the caches alone (the line book), without
        the workspace or its lock; None when the caches cannot answer it."""
        from clustomer.web.realtime import score_with_lines

        cached = self.models.ready_lines()
        ready, recs = self._cached_recommendations(key, top)
        if cached is None or not ready:
            return None
        scores, model = cached
        return score_with_lines(scores, model, key, orders, recs, top, self._favourites)

    def _cached_recommendations(
        self, key: str | None, top: int
    ) -> tuple[bool, list[dict[str, Any]] | None]:
        """Whether the cached recommendations can answer, and ``key``'s rows (None for a
        new customer, or when none are asked for)."""
        if top <= 0:
            return True, None
        by_key = self._recs_by_key
        if not self.recommendations_ready() or by_key is None:
            return False, None
        return True, (by_key[1].get(key, []) if key is not None else None)

    def favourites(self, ws: Workspace) -> dict[str, list[dict[str, Any]]]:
        """Each segment's popular products (``""``: the shop's), built with
        :meth:`recommendations`: what a customer without purchase history is shown."""
        self.recommendations(ws)
        return self._favourites

    def recommendations_of(self, ws: Workspace, key: str) -> list[dict[str, Any]] | None:
        """One customer's rows of :meth:`recommendations`, by rank (None: no recommender)."""
        table = self.recommendations(ws)
        if table is None or self._recs is None:
            return None
        if self._recs_by_key is None or self._recs_by_key[0] is not self._recs:
            by_key: dict[str, list[dict[str, Any]]] = {}
            ordered = table.sort_values(["customer_key", "rank"], kind="stable")
            for row in ordered.to_dict("records"):
                by_key.setdefault(str(row["customer_key"]), []).append(
                    {str(k): v for k, v in row.items()}
                )
            self._recs_by_key = (self._recs, by_key)
        return self._recs_by_key[1].get(key, [])

    def warm(self) -> dict[str, Any]:
        """Build the scoring caches now (a background job at start-up, see
        :attr:`Settings.warm`): the latest run's key-only scores and the recommendations.

        A workspace without a run has nothing to warm.
        """
        from clustomer.errors import ClustomerError

        with self.use(read_only=True) as ws:
            try:
                scores = self.models.scores(ws.store)
                self.recommendations_of(ws, "")
            except ClustomerError:
                return {"warmed": 0}
            return {"warmed": len(scores.entries)}

    def close(self) -> None:
        self.jobs.shutdown()
        self.workspace.close()
        self.scratch.cleanup()


async def get_state(request: Request) -> AppState:
    # async: a plain function would cost a hop to the thread pool on every request
    state: AppState = request.app.state.clustomer
    return state


State = Annotated[AppState, Depends(get_state)]

_bearer = HTTPBearer(auto_error=False, description="The token from `clustomer serve`.")


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 unless the request carries ``Authorization: Bearer <token>``."""
    # the state from the request itself, not through State: one dependency less to solve
    # on every API request (the scoring path counts its microseconds)
    token = request.app.state.clustomer.token
    given = credentials.credentials if credentials is not None else None
    if not check_token(given, token):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong API token; send the header Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )


class LoginRequired(Exception):
    """A page was asked for without a valid session: redirect to the login page."""


async def require_session(request: Request, state: State) -> None:
    """Redirect to ``/login`` unless the session cookie is valid."""
    if not verify_session(state.token, request.cookies.get(SESSION_COOKIE)):
        raise LoginRequired()


ApiAuth = Depends(require_token)
PageAuth = Depends(require_session)
