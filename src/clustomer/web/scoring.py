"""The real-time path: one customer's segment and value now, without a refit or a write.

:func:`score_customer` answers from the caches where it can: a key-only score from the
run's :class:`~clustomer.web.score_cache.RunScores`, a score with new lines from its
in-memory line book (:mod:`clustomer.web.realtime`). Otherwise (a run on demographics, a
workspace too large for the book, a customer newer than the run) it reads the
customer's stored order lines, adds the new ones, and computes the features with the one
definition (:data:`clustomer.features.customer.FEATURE_SQL`) on a scratch in-memory
DuckDB that holds only those lines — the workspace file is never written. The latest
run's stored model then places the customer
(:func:`clustomer.segment.assign.assign_customers`), exactly as ``clustomer assign``
would. Membership probabilities come from the segmenter where the method has them
(``gmm``), otherwise from the run's segment classifier.

Customer value: a customer whose lines are unchanged since the run gets the run's stored
value columns. With new lines, the value is recomputed from the customer's own purchase
days with the ``naive_pace`` model (purchase days and revenue per day since the first
purchase, carried over 90 days): the population models (BG/NBD, gradient boosting) are
fitted on all customers at segmentation time and are not refitted per request. The
response says which basis it used.

The as-of date is the run's, moved to the midnight after the customer's newest line when
that is later: a customer with no new lines gets exactly the features (and segment) of
the run.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import duckdb
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store
from clustomer.store.lines import customer_order_lines
from clustomer.web.answer import (
    ANONYMOUS,
    Favourites,
    Recommendations,
    favourite,
    new_lines,
    pace_values,
    plain,
    recommendations_of,
    response,
)
from clustomer.web.score_cache import (
    _VALUE_FIELDS,
    ModelCache,
    RunScores,
    _midnight_after,
    _probabilities,
    one_thread,
)

__all__ = [
    "ModelCache",
    "NotFoundError",
    "cached_score",
    "prepare_score",
    "lines_from_orders",
    "score_customer",
]

_LINE_COLUMNS = (
    "customer_key",
    "order_id",
    "ts",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "revenue",
    "currency",
    "is_return",
    "import_id",
)


class NotFoundError(ClustomerError):
    """Something the request names is not in the workspace (HTTP 404)."""

    http_status = 404


class _Scratch(Store):
    """An in-memory store whose ``order_lines`` and ``customers`` are frames.

    It runs the feature SQL on one customer's lines without touching the workspace. Idle
    connections are kept for reuse (:func:`_scratch`); each use registers its own frames.
    """

    def __init__(
        self, lines: pd.DataFrame | None = None, customers: pd.DataFrame | None = None
    ) -> None:
        self.path = ":memory:"
        self.con = duckdb.connect(config={"threads": 1})  # a few lines: one thread is faster
        self.con.execute("SET TimeZone = 'UTC'")
        if lines is not None and customers is not None:
            self.load(lines, customers)

    def load(self, lines: pd.DataFrame, customers: pd.DataFrame) -> _Scratch:
        self.con.register("order_lines", lines)
        self.con.register("customers", customers)
        return self

    def clear(self) -> None:
        self.con.unregister("order_lines")
        self.con.unregister("customers")


_pool: list[_Scratch] = []  # idle scratch connections, reused (one per concurrent request)
_pool_lock = threading.Lock()


def _scratch() -> _Scratch:
    with _pool_lock:
        return _pool.pop() if _pool else _Scratch()


def _release(scratch: _Scratch) -> None:
    scratch.clear()
    with _pool_lock:
        _pool.append(scratch)


@atexit.register
def _close_pool() -> None:  # closed before the interpreter tears DuckDB down
    with _pool_lock:
        while _pool:
            _pool.pop().con.close()


def lines_from_orders(
    key: str, orders: Sequence[dict[str, Any]], currency: str | None
) -> pd.DataFrame:
    """New order lines (dicts of ``order_id, ts, product_id, quantity, unit_price,
    amount``) as rows of ``order_lines``; timestamps in UTC, an amount wins over
    quantity × price, a negative line is a return.

    >>> from datetime import datetime
    >>> lines_from_orders("a", [{"order_id": "o9", "ts": datetime(2024, 5, 1),
    ...     "quantity": 2, "unit_price": 3.5}], "GBP")[["order_id", "revenue", "is_return"]]
      order_id  revenue  is_return
    0       o9      7.0      False
    """
    rows = [
        {
            "customer_key": key,
            "order_id": order_id,
            "ts": ts,
            "product_id": product_id,
            "product_name": None,
            "quantity": qty,
            "unit_price": price,
            "revenue": revenue,
            "currency": currency,
            "is_return": is_return,
            "import_id": -1,
        }
        for order_id, ts, product_id, qty, price, revenue, is_return in new_lines(orders)
    ]
    frame = pd.DataFrame(rows, columns=list(_LINE_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"])
    for col in ("quantity", "unit_price", "revenue"):
        frame[col] = frame[col].astype("float64")
    frame["is_return"] = frame["is_return"].astype(bool)
    return frame


def score_customer(
    store: Store,
    models: ModelCache,
    key: str | None,
    orders: Sequence[dict[str, Any]] = (),
    *,
    recommendations: Recommendations = None,
    top: int = 5,
    favourites: Favourites = None,
) -> dict[str, Any]:
    """Segment, probabilities, value and top products of one customer now.

    Parameters
    ----------
    store : Store
        The workspace (read only).
    models : ModelCache
        Where the run's unpickled model is kept between requests.
    key : str, optional
        The customer; omitted, the orders are a new customer's.
    orders : sequence of dict
        New order lines (see :func:`lines_from_orders`); never written to the workspace.
    recommendations : DataFrame or sequence of dict, optional
        ``Workspace.recommendations()`` rows of this customer; as dicts, sorted by rank.
    top : int
        How many recommendations to return.
    favourites : mapping, optional
        ``Workspace.segment_favourites()``: what a customer without stored
        recommendations (a new customer, or one without purchases) is shown, by the
        segment they are placed in now.

    Raises
    ------
    NotFoundError
        An unknown customer without orders.
    ClustomerError
        No run yet, or a run without a model (the RFM-only path for tiny shops).
    """
    return prepare_score(
        store,
        models,
        key,
        orders,
        recommendations=recommendations,
        top=top,
        favourites=favourites,
    )()


def prepare_score(
    store: Store,
    models: ModelCache,
    key: str | None,
    orders: Sequence[dict[str, Any]] = (),
    *,
    recommendations: Recommendations = None,
    top: int = 5,
    favourites: Favourites = None,
) -> Callable[[], dict[str, Any]]:
    """:func:`score_customer` in two steps: this one reads the workspace (the stored
    lines of the customer, the caches); the function it returns computes the score
    without it, so a server can let go of the workspace in between."""
    scores = models.scores(store)
    rid = scores.run_id
    if key is not None and not orders:
        if key in scores.entries:
            done = cached_score(scores, key, recommendations, top, favourites)
            return lambda: done
        if scores.entries and key not in scores.known:
            raise NotFoundError(f"there is no customer {key!r} in this workspace")
    model = models.get(store, rid)
    if model.get("segmenter") is None:
        raise ClustomerError(
            f"run {rid} grouped its few customers by the RFM rules and has no model to "
            "score with; segment again once there are more customers"
        )
    if orders and scores.book is not None:  # from memory: no query, no scratch
        from clustomer.web.realtime import score_with_lines

        return partial(
            score_with_lines, scores, model, key, orders, recommendations, top, favourites
        )
    if key is not None:
        stored, row = customer_order_lines(store, key)
    else:
        stored, row = pd.DataFrame(columns=list(_LINE_COLUMNS)), pd.DataFrame()
    if key is not None and stored.empty and not orders:
        raise NotFoundError(f"there is no customer {key!r} in this workspace")
    values: dict[str, Any] | None = None  # the run's, when nothing new is folded in
    if not stored.empty and not orders:
        from clustomer.store.values import load_values

        stored_values = load_values(store, rid)
        hit = stored_values[stored_values["customer_key"] == key]
        values = {str(k): v for k, v in hit.iloc[0].items()} if not hit.empty else {}
    return partial(
        _score_one,
        model,
        scores,
        key,
        orders,
        stored,
        row,
        values,
        recommendations,
        top,
        favourites,
    )


def cached_score(
    scores: RunScores,
    key: str,
    recommendations: Recommendations,
    top: int,
    favourites: Favourites = None,
) -> dict[str, Any]:
    """The key-only score of a customer of ``scores.entries``: a lookup, no workspace.

    Raises
    ------
    KeyError
        ``key`` is not in the cached entries.
    """
    cached = scores.entries[key]
    probs = cached["probabilities"]
    return response(
        scores,
        key,
        True,
        0,
        dict(cached, probabilities=None if probs is None else dict(probs)),
        scores.stored_basis,
        recommendations_of(recommendations, top, False, favourite(favourites, cached)),
    )


def _score_one(
    model: dict[str, Any],
    scores: RunScores,
    key: str | None,
    orders: Sequence[dict[str, Any]],
    stored: pd.DataFrame,
    row: pd.DataFrame,
    stored_values: dict[str, Any] | None,
    recommendations: Recommendations,
    top: int,
    favourites: Favourites = None,
) -> dict[str, Any]:
    """The per-customer path: the customer's stored lines and the new ones, on a scratch
    (nothing here reads the workspace: :func:`prepare_score` did)."""
    from clustomer.clv.transactions import customer_days
    from clustomer.features.customer import customer_features
    from clustomer.features.sets import build_feature_set
    from clustomer.segment.assign import assign_customers

    name = key if key is not None else ANONYMOUS
    known = not stored.empty
    new = lines_from_orders(name, orders, scores.currency)
    lines = (
        new if stored.empty else pd.concat([stored[list(_LINE_COLUMNS)], new], ignore_index=True)
    )
    if new.empty:
        lines = stored[list(_LINE_COLUMNS)]
    cutoff = max(scores.as_of, _midnight_after(lines["ts"].max()))
    if row.empty:
        row = pd.DataFrame(
            {
                "customer_key": [name],
                "country": pd.Series([None], dtype="str"),
                "marketing_consent": [None],
                "attributes": pd.Series([None], dtype="str"),
            }
        )
    scratch = _scratch().load(lines, row)
    try:
        feats = customer_features(scratch, cutoff)
        fset = build_feature_set(
            scratch,
            feats,
            list(model.get("feature_groups") or ["rfm", "behaviour"]),
            as_of=cutoff,
            method=model["method"],
            prune=False,
            product_weights=model.get("product_weights"),
        )
        days = customer_days(scratch.con)
    finally:
        _release(scratch)
    probs, source = (None, None)
    with one_thread():
        assigned = assign_customers(model, fset.table)
        seg_id = int(assigned["segment_id"].iloc[0])
        if seg_id >= 0:
            rows, source = _probabilities(model, fset.table[list(model["feature_columns"])])
            probs = None if rows is None else rows[0]
    if stored_values is not None:
        values = stored_values
        basis = scores.stored_basis
    else:
        values, basis = pace_values(
            days["day"].to_numpy(), days["revenue"].to_numpy(), cutoff, len(scores.known)
        )
    feature_row = fset.table.iloc[0].to_dict()
    fields = {
        "as_of": cutoff.date().isoformat(),
        "segment_id": seg_id,
        "segment_name": str(assigned["segment_name"].iloc[0]),
        "probabilities": probs,
        "probability_source": source,
        **{f: plain(values.get(f)) for f in _VALUE_FIELDS},
        "features": {k: plain(v) for k, v in feature_row.items() if k != "customer_key"},
    }
    recs = recommendations_of(recommendations, top, not new.empty, favourite(favourites, fields))
    return response(scores, name, known, int(len(new)), fields, basis, recs)
