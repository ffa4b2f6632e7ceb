"""What every scoring path shares: the request's new lines, the recommendations, the answer.

:mod:`clustomer.web.scoring` (the scratch path and the dispatch), :mod:`clustomer.web.realtime`
(the in-memory line book) and :mod:`clustomer.web.score_cache` (key-only scores) each build
their answer with :func:`response`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clustomer.web.score_cache import RunScores

__all__ = [
    "ANONYMOUS",
    "Favourites",
    "NewLine",
    "PACE_BASIS",
    "Recommendations",
    "favourite",
    "new_lines",
    "pace_values",
    "recommendations_of",
    "response",
]

#: A customer's recommendation rows: a frame, or dicts already sorted by rank.
Recommendations = pd.DataFrame | Sequence[Mapping[str, Any]] | None
#: Each segment's popular products by segment name (``""``: the shop's), as dicts by rank.
Favourites = Mapping[str, Sequence[Mapping[str, Any]]] | None

#: The key shown for a customer scored from orders alone.
ANONYMOUS = "(new customer)"

#: One new order line: ``order_id, ts (naive UTC), product_id, quantity, unit_price,
#: revenue, is_return``.
NewLine = tuple[str, datetime, str | None, float | None, float | None, float, bool]


def new_lines(orders: Sequence[dict[str, Any]]) -> list[NewLine]:
    """New order lines (dicts of ``order_id, ts, product_id, quantity, unit_price,
    amount``) as tuples of :data:`NewLine`: timestamps in UTC, an amount wins over
    quantity × price, a negative line is a return.

    >>> from datetime import datetime
    >>> new_lines([{"order_id": 9, "ts": datetime(2024, 5, 1), "amount": -4}])
    [('9', datetime.datetime(2024, 5, 1, 0, 0), None, None, None, -4.0, True)]
    """
    out: list[NewLine] = []
    for o in orders:
        ts = o["ts"]
        if ts.tzinfo is not None:
            ts = ts.astimezone(UTC).replace(tzinfo=None)
        qty, price, amount = o.get("quantity"), o.get("unit_price"), o.get("amount")
        revenue = float(amount) if amount is not None else float(qty or 0) * float(price or 0)
        quantity = None if qty is None else float(qty)
        is_return = revenue < 0 or (quantity is not None and quantity < 0)
        product = o.get("product_id")
        out.append(
            (
                str(o["order_id"]),
                ts,
                product,
                quantity,
                None if price is None else float(price),
                revenue,
                is_return,
            )
        )
    return out


def plain(value: Any) -> Any:
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


#: What ``value_basis`` says of a value computed now from the customer's own lines.
PACE_BASIS = "real-time: this customer's own purchase pace (naive_pace)"


def pace_values(
    days: np.ndarray, revenue: np.ndarray, cutoff: datetime, n_customers: int
) -> tuple[dict[str, Any], str]:
    """The value columns of a customer with new lines (``naive_pace`` on their clean
    purchase days and revenue) and the ``value_basis`` that says so."""
    from clustomer.clv.values import pace_value

    values = pace_value(days, revenue, cutoff, n_customers=max(n_customers, 1))
    if not values:
        return {}, "none: no clean purchase"
    return values, PACE_BASIS


def favourite(
    favourites: Favourites, fields: Mapping[str, Any]
) -> Sequence[Mapping[str, Any]] | None:
    """The popular products of the segment in ``fields`` (else the shop's)."""
    if not favourites:
        return None
    return favourites.get(str(fields["segment_name"])) or favourites.get("")


def recommendations_of(
    recommendations: Recommendations,
    top: int,
    new: bool,
    popular: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The response's products and a note; ``popular`` (the segment's favourites) stands
    in when the customer has no stored recommendations."""
    if top <= 0:
        return [], None
    note = None
    rows: Sequence[Mapping[Any, Any]] | None = recommendations  # type: ignore[assignment]
    if isinstance(recommendations, pd.DataFrame):
        rows = recommendations.sort_values("rank").head(top).to_dict("records")
    if not rows and popular:
        rows = popular
        note = "no purchase history to go on: the segment's popular products"
    elif new and rows:
        note = "recommendations come from the stored history; the new lines are not in them"
    recs = [
        {
            "rank": int(r["rank"]),
            "product_id": str(r["product_id"]),
            "product_name": plain(r.get("product_name")),
            "score": float(r["score"]),
            "reason": str(r["reason"]),
        }
        for r in list(rows or [])[:top]
    ]
    if not recs:
        note = "no recommendations: the customer has no stored purchase history"
    return recs, note


def response(
    scores: RunScores,
    name: str,
    known: bool,
    new_lines: int,
    fields: dict[str, Any],
    basis: str,
    recs: tuple[list[dict[str, Any]], str | None],
) -> dict[str, Any]:
    run_seg = scores.run_segments.get(name) if known else None
    return {
        "customer_key": name,
        "known": known,
        "run_id": scores.run_id,
        "as_of": fields.get("as_of") or scores.as_of.date().isoformat(),
        "new_lines": new_lines,
        "segment_id": fields["segment_id"],
        "segment_name": fields["segment_name"],
        "run_segment_id": run_seg[0] if run_seg else None,
        "run_segment_name": run_seg[1] if run_seg else None,
        "probabilities": fields["probabilities"],
        "probability_source": fields["probability_source"],
        "p_active_90d": fields.get("p_active_90d"),
        "expected_revenue_90d": fields.get("expected_revenue_90d"),
        "clv_12m": fields.get("clv_12m"),
        "value_basis": basis,
        "features": fields["features"],
        "recommendations": recs[0],
        "recommendations_note": recs[1],
    }
