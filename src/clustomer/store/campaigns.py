"""Campaigns in the workspace: the audiences they were sent to, outcomes, members' orders.

The tables (schema step 4): ``audiences`` / ``audience_members`` (written by exports),
``campaigns`` (an export sent on a date, measured over a window) and
``campaign_outcomes`` (an imported outcome file). Only SQL lives here; the measuring
is in :mod:`clustomer.campaign`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from clustomer.store.db import Store

_AUDIENCE_COLUMNS = (
    "audience_id, created_at, run_id, segment_id, segment_name, format, file_name, "
    "holdout_share, seed, n_treatment, n_control"
)


def _audience_dict(row: Sequence[Any]) -> dict[str, Any]:
    names = [c.strip() for c in _AUDIENCE_COLUMNS.split(",")]
    return dict(zip(names, row, strict=True))


def latest_audience(store: Store, segment: str, on_or_before: date) -> dict[str, Any] | None:
    """The newest audience exported for ``segment`` (any case) on or before a date (UTC)."""
    rows = store.rows(
        f"SELECT {_AUDIENCE_COLUMNS} FROM audiences "
        "WHERE lower(segment_name) = lower(?) AND CAST(created_at AS DATE) <= ? "
        "ORDER BY created_at DESC, audience_id DESC LIMIT 1",
        [segment.strip(), on_or_before],
    )
    return _audience_dict(rows[0]) if rows else None


def audiences_of_segment(store: Store, segment: str) -> list[dict[str, Any]]:
    """Every audience exported for ``segment`` (any case), oldest first."""
    rows = store.rows(
        f"SELECT {_AUDIENCE_COLUMNS} FROM audiences WHERE lower(segment_name) = lower(?) "
        "ORDER BY created_at, audience_id",
        [segment.strip()],
    )
    return [_audience_dict(r) for r in rows]


def read_audiences(store: Store, audience_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The audiences with these ids, in the order given (missing ids are left out)."""
    rows = store.rows(
        f"SELECT {_AUDIENCE_COLUMNS} FROM audiences WHERE list_contains(?, audience_id)",
        [[int(i) for i in audience_ids]],
    )
    by_id = {int(r[0]): _audience_dict(r) for r in rows}
    return [by_id[int(i)] for i in audience_ids if int(i) in by_id]


def find_campaign(store: Store, name: str) -> dict[str, Any] | None:
    """A campaign by name: the exact name, else the only one equal ignoring case."""
    rows = store.rows(
        "SELECT campaign_id, name, created_at, sent_at, window_days, audience_ids "
        "FROM campaigns WHERE lower(name) = lower(?) ORDER BY (name = ?) DESC, campaign_id",
        [name.strip(), name.strip()],
    )
    if not rows or (len(rows) > 1 and rows[0][1] != name.strip()):
        return None
    cid, cname, created, sent, window, ids = rows[0]
    return {
        "campaign_id": int(cid),
        "name": cname,
        "created_at": created,
        "sent_at": sent,
        "window_days": int(window),
        "audience_ids": [int(i) for i in json.loads(ids)],
    }


def list_campaigns(store: Store) -> pd.DataFrame:
    """Every campaign (id, name, sent, window, audiences, outcome rows), newest first."""
    return store.df(
        "SELECT c.campaign_id, c.name, c.sent_at, c.window_days, c.audience_ids, "
        "(SELECT count(*) FROM campaign_outcomes o WHERE o.campaign_id = c.campaign_id) "
        "AS outcome_rows FROM campaigns c ORDER BY c.sent_at DESC, c.campaign_id DESC"
    )


def insert_campaign(
    store: Store, name: str, sent: date, window_days: int, audience_ids: Sequence[int]
) -> int:
    """Store a campaign; return its id."""
    with store.transaction():
        cid = int(store.scalar("SELECT nextval('campaign_id_seq')"))
        store.execute(
            "INSERT INTO campaigns VALUES (?, ?, ?, ?, ?, ?)",
            [
                cid,
                name,
                datetime.now(UTC),
                datetime(sent.year, sent.month, sent.day),
                int(window_days),
                json.dumps([int(i) for i in audience_ids]),
            ],
        )
    return cid


def member_keys(store: Store, audience_ids: Sequence[int]) -> list[str]:
    """The distinct customer keys in these audiences (either arm)."""
    rows = store.rows(
        "SELECT DISTINCT customer_key FROM audience_members WHERE list_contains(?, audience_id)",
        [[int(i) for i in audience_ids]],
    )
    return [str(r[0]) for r in rows]


def replace_outcomes(store: Store, campaign_id: int, outcomes: pd.DataFrame) -> None:
    """Replace a campaign's outcomes (``customer_key, converted, revenue``) in one
    transaction: the old ones stay if the insert fails."""
    frame = outcomes[["customer_key", "converted", "revenue"]].copy()
    frame["converted"] = frame["converted"].astype(bool)
    frame["revenue"] = frame["revenue"].astype("float64")
    store.con.register("clustomer_outcomes", frame)
    try:
        with store.transaction():
            store.execute("DELETE FROM campaign_outcomes WHERE campaign_id = ?", [campaign_id])
            store.execute(
                "INSERT INTO campaign_outcomes SELECT ?, customer_key, converted, revenue "
                "FROM clustomer_outcomes",
                [campaign_id],
            )
    finally:
        store.con.unregister("clustomer_outcomes")


def outcome_count(store: Store, campaign_id: int) -> int:
    """How many outcome rows are stored for a campaign (0: measure from orders)."""
    return int(
        store.scalar("SELECT count(*) FROM campaign_outcomes WHERE campaign_id = ?", [campaign_id])
    )


def members_with_orders(
    store: Store, audience_ids: Sequence[int], start: datetime, end: datetime
) -> pd.DataFrame:
    """Each member of the audiences with what they bought in ``[start, end)``.

    Columns: ``audience_id, customer_key, arm, converted, revenue``. ``converted``: any
    order line in the window that is not a return; ``revenue``: the net revenue of the
    window's lines (returns are negative lines, so they count against it; 0 without any).
    """
    return store.df(
        """
        WITH members AS (
            SELECT audience_id, customer_key, arm FROM audience_members
            WHERE list_contains(?, audience_id)
        ), bought AS (
            SELECT customer_key, bool_or(NOT is_return) AS converted,
                   sum(revenue) AS revenue
            FROM order_lines
            WHERE ts >= ? AND ts < ?
              AND customer_key IN (SELECT customer_key FROM members)
            GROUP BY customer_key
        )
        SELECT m.audience_id, m.customer_key, m.arm,
               coalesce(b.converted, false) AS converted,
               coalesce(b.revenue, 0.0) AS revenue
        FROM members m LEFT JOIN bought b USING (customer_key)
        ORDER BY m.audience_id, m.customer_key
        """,
        [[int(i) for i in audience_ids], start, end],
    )


def members_with_outcomes(
    store: Store, campaign_id: int, audience_ids: Sequence[int]
) -> pd.DataFrame:
    """Each member of the audiences with the campaign's imported outcome.

    Columns: ``audience_id, customer_key, arm, listed, converted, revenue``; a member the
    outcome file does not list has ``listed`` false, ``converted`` false and ``revenue``
    null (as has every member when the file had no revenue column).
    """
    return store.df(
        """
        SELECT m.audience_id, m.customer_key, m.arm,
               o.customer_key IS NOT NULL AS listed,
               coalesce(o.converted, false) AS converted,
               o.revenue
        FROM audience_members m
        LEFT JOIN campaign_outcomes o
          ON o.customer_key = m.customer_key AND o.campaign_id = ?
        WHERE list_contains(?, m.audience_id)
        ORDER BY m.audience_id, m.customer_key
        """,
        [campaign_id, [int(i) for i in audience_ids]],
    )


def order_span(store: Store) -> tuple[datetime | None, datetime | None]:
    """The first and last order timestamps in the workspace (None when empty)."""
    rows = store.rows("SELECT min(ts), max(ts) FROM order_lines")
    return (rows[0][0], rows[0][1]) if rows else (None, None)


def segment_size(store: Store, segment: str) -> int | None:
    """Customers in ``segment`` (any case) in the latest run; None if it has no such one."""
    rows = store.rows(
        "SELECT count(*) FROM assignments WHERE run_id = (SELECT max(run_id) FROM runs) "
        "AND lower(segment_name) = lower(?)",
        [segment.strip()],
    )
    n = int(rows[0][0]) if rows else 0
    return n or None
