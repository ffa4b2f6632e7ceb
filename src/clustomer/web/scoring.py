"""The real-time path: one customer's segment and value now, without a refit or a write.

:func:`score_customer` reads the customer's stored order lines, adds the new ones, and
computes the features with the one definition (:data:`clustomer.features.customer.
FEATURE_SQL`) on a scratch in-memory DuckDB that holds only those lines — the workspace
file is never written. The latest run's stored model then places the customer
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

import pickle
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store
from clustomer.store.lines import customer_order_lines

__all__ = ["ModelCache", "NotFoundError", "lines_from_orders", "score_customer"]

#: The key shown for a customer scored from orders alone.
ANONYMOUS = "(new customer)"

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


class ModelCache:
    """The unpickled model of each run, kept in memory (a run's model never changes)."""

    def __init__(self) -> None:
        self._models: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, run_id: int) -> dict[str, Any]:
        from clustomer.store.runs import load_model

        with self._lock:
            if run_id not in self._models:
                # the pickle comes only from the user's own workspace file
                self._models[run_id] = pickle.loads(load_model(store, run_id)[0])
            return self._models[run_id]


class _Scratch(Store):
    """A throw-away in-memory store whose ``order_lines`` and ``customers`` are frames.

    It runs the feature SQL on one customer's lines without touching the workspace.
    """

    def __init__(self, lines: pd.DataFrame, customers: pd.DataFrame) -> None:
        self.path = ":memory:"
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("order_lines", lines)
        self.con.register("customers", customers)


def lines_from_orders(
    key: str, orders: Sequence[dict[str, Any]], currency: str | None
) -> pd.DataFrame:
    """New order lines (dicts of ``order_id, ts, product_id, quantity, unit_price,
    amount``) as rows of ``order_lines``; timestamps in UTC, an amount wins over
    quantity × price, a negative line is a return.

    >>> lines_from_orders("a", [{"order_id": "o9", "ts": datetime(2024, 5, 1),
    ...     "quantity": 2, "unit_price": 3.5}], "GBP")[["order_id", "revenue", "is_return"]]
      order_id  revenue  is_return
    0       o9      7.0      False
    """
    rows = []
    for o in orders:
        ts = o["ts"]
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        qty, price, amount = o.get("quantity"), o.get("unit_price"), o.get("amount")
        revenue = float(amount) if amount is not None else float(qty or 0) * float(price or 0)
        rows.append(
            {
                "customer_key": key,
                "order_id": str(o["order_id"]),
                "ts": ts,
                "product_id": o.get("product_id"),
                "product_name": None,
                "quantity": None if qty is None else float(qty),
                "unit_price": None if price is None else float(price),
                "revenue": revenue,
                "currency": currency,
                "is_return": revenue < 0 or (qty is not None and float(qty) < 0),
                "import_id": -1,
            }
        )
    frame = pd.DataFrame(rows, columns=list(_LINE_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"])
    for col in ("quantity", "unit_price", "revenue"):
        frame[col] = frame[col].astype("float64")
    frame["is_return"] = frame["is_return"].astype(bool)
    return frame


def _midnight_after(ts: Any) -> datetime:
    t = pd.Timestamp(ts)
    return datetime(t.year, t.month, t.day) + timedelta(days=1)


def _probabilities(
    model: dict[str, Any], X: pd.DataFrame
) -> tuple[dict[str, float] | None, str | None]:
    """Membership probability of each segment (by name), and where they come from."""
    names = {int(k): str(v) for k, v in model["segment_names"].items()}
    segmenter = model["segmenter"]
    if hasattr(segmenter, "predict_proba"):
        proba = np.asarray(segmenter.predict_proba(X.to_numpy(dtype=np.float64)))[0]
        id_map = model.get("id_map") or {}
        out = {names.get(id_map.get(j, j), str(j)): float(p) for j, p in enumerate(proba)}
        return out, "segmenter"
    clf = model.get("classifier")
    if clf is None:
        return None, None
    proba = np.asarray(clf.predict_proba(X))[0]  # fitted on a frame: given one
    out = {names.get(int(c), str(c)): float(p) for c, p in zip(clf.classes_, proba, strict=True)}
    return out, "classifier"


def _plain(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer | int):
        return int(value)
    if isinstance(value, np.floating | float):
        return None if not np.isfinite(value) else round(float(value), 4)
    if pd.isna(value):
        return None
    return str(value)


def score_customer(
    store: Store,
    models: ModelCache,
    key: str | None,
    orders: Sequence[dict[str, Any]] = (),
    *,
    recommendations: pd.DataFrame | None = None,
    top: int = 5,
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
    recommendations : DataFrame, optional
        ``Workspace.recommendations()`` rows of this customer.
    top : int
        How many recommendations to return.

    Raises
    ------
    NotFoundError
        An unknown customer without orders.
    ClustomerError
        No run yet, or a run without a model (the RFM-only path for tiny shops).
    """
    from clustomer.clv.transactions import customer_days
    from clustomer.clv.values import customer_values
    from clustomer.features.customer import customer_features
    from clustomer.features.sets import build_feature_set
    from clustomer.segment.assign import assign_customers
    from clustomer.store.imports import workspace_currencies
    from clustomer.store.runs import latest_run_id, load_assignments, load_run
    from clustomer.store.values import load_values

    rid = latest_run_id(store)
    run = load_run(store, rid)
    model = models.get(store, rid)
    if model.get("segmenter") is None:
        raise ClustomerError(
            f"run {rid} grouped its few customers by the RFM rules and has no model to "
            "score with; segment again once there are more customers"
        )
    name = key if key is not None else ANONYMOUS
    if key is not None:
        stored, row = customer_order_lines(store, key)
    else:
        stored, row = pd.DataFrame(columns=list(_LINE_COLUMNS)), pd.DataFrame()
    known = not stored.empty
    if key is not None and not known and not orders:
        raise NotFoundError(f"there is no customer {key!r} in this workspace")
    currencies = workspace_currencies(store)
    new = lines_from_orders(name, orders, currencies[0] if currencies else None)
    lines = (
        new if stored.empty else pd.concat([stored[list(_LINE_COLUMNS)], new], ignore_index=True)
    )
    if new.empty:
        lines = stored[list(_LINE_COLUMNS)]
    run_as_of = pd.Timestamp(run["as_of"]).to_pydatetime().replace(tzinfo=None)
    cutoff = max(run_as_of, _midnight_after(lines["ts"].max()))
    if row.empty:
        row = pd.DataFrame(
            {
                "customer_key": [name],
                "country": pd.Series([None], dtype="str"),
                "marketing_consent": [None],
                "attributes": pd.Series([None], dtype="str"),
            }
        )
    scratch = _Scratch(lines, row)
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
        assigned = assign_customers(model, fset.table)
        days = customer_days(scratch.con)
    finally:
        scratch.con.close()
    seg_id = int(assigned["segment_id"].iloc[0])
    probs, source = (None, None)
    if seg_id >= 0:
        probs, source = _probabilities(model, fset.table[list(model["feature_columns"])])
    before = load_assignments(store, rid)
    mine = before[before["customer_key"] == key] if known else before.iloc[0:0]
    values: dict[str, Any] = {}
    if known and new.empty:
        stored_values = load_values(store, rid)
        hit = stored_values[stored_values["customer_key"] == key]
        if not hit.empty:
            values = {str(k): v for k, v in hit.iloc[0].items()}
        model_name = ((run.get("details") or {}).get("value") or {}).get("model")
        basis = f"stored: run {rid} ({model_name or 'no value model'})"
    elif not days.empty:
        row_values = customer_values(days, cutoff, model="naive_pace").iloc[0]
        values = {str(k): v for k, v in row_values.items()}
        basis = "real-time: this customer's own purchase pace (naive_pace)"
    else:
        basis = "none: no clean purchase"
    recs: list[dict[str, Any]] = []
    note = None
    if recommendations is not None and not recommendations.empty:
        for r in recommendations.sort_values("rank").head(top).to_dict("records"):
            recs.append(
                {
                    "rank": int(r["rank"]),
                    "product_id": str(r["product_id"]),
                    "product_name": _plain(r.get("product_name")),
                    "score": float(r["score"]),
                    "reason": str(r["reason"]),
                }
            )
    elif top > 0:
        note = "no recommendations: the customer has no stored purchase history"
    if not new.empty and recs:
        note = "recommendations come from the stored history; the new lines are not in them"
    feature_row = fset.table.iloc[0].to_dict()
    return {
        "customer_key": name,
        "known": known,
        "run_id": rid,
        "as_of": cutoff.date().isoformat(),
        "new_lines": int(len(new)),
        "segment_id": seg_id,
        "segment_name": str(assigned["segment_name"].iloc[0]),
        "run_segment_id": int(mine["segment_id"].iloc[0]) if not mine.empty else None,
        "run_segment_name": str(mine["segment_name"].iloc[0]) if not mine.empty else None,
        "probabilities": probs,
        "probability_source": source,
        "p_active_90d": _plain(values.get("p_active_90d")),
        "expected_revenue_90d": _plain(values.get("expected_revenue_90d")),
        "clv_12m": _plain(values.get("clv_12m")),
        "value_basis": basis,
        "features": {k: _plain(v) for k, v in feature_row.items() if k != "customer_key"},
        "recommendations": recs,
        "recommendations_note": note,
    }
