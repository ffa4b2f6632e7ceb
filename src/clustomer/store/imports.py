"""Imports in the workspace: commit a staged import, find one by content, read them back."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store

#: The kept rows of ``stage.lines``: no drop reason, and not a copy of an earlier line.
KEPT = "drop_reason IS NULL AND rowid NOT IN (SELECT rid FROM stage.dups)"

#: Why a row may be dropped, in the order they are checked (see ``ingest/normalize.py``).
DROP_REASONS = (
    "unparseable value",
    "malformed line",
    "missing customer",
    "missing order id",
    "missing date",
    "missing amount",
    "voided order",
    "failed payment",
    "unpaid order",
    "non-positive price",
    "zero quantity",
    "other currency",
    "date after as-of date",
    "duplicate line",
    "repeated customer",
)


@dataclass
class ImportSummary:
    """The account of one imported file: what was read, kept and dropped, and why.

    ``rows_read == rows_kept + sum(rows_dropped.values())`` always holds. ``revenue`` is
    the sum of quantity × unit price over every row of the file that could be parsed,
    plus the negative refund lines added for Shopify orders (``extra_lines``);
    ``revenue_kept`` is the net revenue of the kept lines (returns and refunds included)
    and ``revenue_dropped`` the revenue of each drop reason.
    """

    import_id: int
    file: str
    file_bytes: int
    content_hash: str
    layout: str
    currency: str | None
    rows_read: int
    rows_kept: int
    rows_dropped: dict[str, int]
    customers: int
    orders: int
    revenue: float
    revenue_kept: float
    revenue_dropped: dict[str, float]
    cancellation_lines: int
    extra_lines: int
    as_of: str
    imported_at: str
    first_order: str | None = None
    last_order: str | None = None
    seconds: float | None = None
    already_imported: bool = False
    rejects: list[dict[str, Any]] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_kept + sum(self.rows_dropped.values())

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready data."""
        return asdict(self)


def size_seen(store: Store, size: int) -> bool:
    """Whether an earlier import had exactly this many bytes (so may be the same file)."""
    return bool(store.scalar("SELECT count(*) FROM imports WHERE file_bytes = ?", [size]))


def find_by_hash(store: Store, content_hash: str, currency: str | None = None) -> int | None:
    """The id of an earlier import of the same bytes (in ``currency``, if one is given).

    An earlier import without a currency (the file had none) matches any: choosing one
    now selects the same rows.
    """
    found = store.scalar(
        "SELECT min(import_id) FROM imports WHERE content_hash = ? "
        "AND (? IS NULL OR currency IS NULL OR currency = ?)",
        [content_hash, currency, currency],
    )
    return int(found) if found is not None else None


def workspace_currencies(store: Store) -> list[str]:
    """The currencies of the imports so far (a workspace holds one)."""
    return [c for (c,) in store.rows("SELECT DISTINCT currency FROM imports ORDER BY 1") if c]


def commit_import(store: Store, summary: ImportSummary, *, customer_table: bool = False) -> int:
    """Move the staged lines into the workspace, all in one transaction.

    Expects ``stage.lines`` (with ``drop_reason``), ``stage.dups``, ``stage.extra`` and
    ``stage.rejects`` as built by :func:`clustomer.ingest.normalize.normalize`; for a
    ``customer_table``, ``stage.lines`` holds one row per customer and ``stage.attrs``
    their attributes, and no order line is added. Returns the new import id.
    """
    with store.transaction():
        import_id = int(store.scalar("SELECT nextval('import_id_seq')"))
        store.execute(
            """
            INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                import_id,
                summary.file,
                summary.file_bytes,
                summary.content_hash,
                summary.layout,
                json.dumps(summary.mapping),
                summary.currency,
                summary.as_of,
                summary.rows_read,
                summary.rows_kept,
                summary.customers,
                summary.orders,
                summary.revenue,
                summary.revenue_kept,
                summary.cancellation_lines,
                summary.extra_lines,
                summary.first_order,
                summary.last_order,
                summary.imported_at,
                summary.seconds,
            ],
        )
        for reason, rows in summary.rows_dropped.items():
            store.execute(
                "INSERT INTO import_drops VALUES (?, ?, ?, ?)",
                [import_id, reason, rows, summary.revenue_dropped.get(reason)],
            )
        store.execute(
            "INSERT INTO import_rejects SELECT ?, line, column_name, value, message "
            "FROM stage.rejects ORDER BY line LIMIT 10000",
            [import_id],
        )
        if customer_table:
            _commit_customers(store, import_id)
            return import_id
        # the lines of one import share one currency (checked by the normaliser): insert
        # it as a constant, which DuckDB stores for free
        cols = (
            "customer_key, order_id, ts, product_id, product_name, quantity, unit_price, "
            "revenue, ?, is_return, ?"
        )
        for source in (f"stage.lines WHERE {KEPT}", "stage.extra"):
            store.execute(
                f"INSERT INTO order_lines SELECT {cols} FROM {source}",
                [summary.currency, import_id],
            )
        store.execute(
            """
            INSERT INTO customers
            SELECT customer_key,
                   arg_max(country, ts) AS country,
                   arg_max(marketing_consent, ts) AS marketing_consent,
                   NULL, ?, now()
            FROM stage.lines WHERE customer_key IS NOT NULL
            GROUP BY customer_key
            ON CONFLICT (customer_key) DO UPDATE SET
                country = coalesce(excluded.country, country),
                marketing_consent = coalesce(excluded.marketing_consent, marketing_consent),
                updated_at = excluded.updated_at
            """,
            [import_id],
        )
        # raw contact details, in their own table (read only by exports)
        store.execute(
            """
            INSERT INTO contacts
                (customer_key, email, first_name, last_name, import_id, updated_at)
            SELECT customer_key, arg_max(email, ts) FILTER (email IS NOT NULL),
                   arg_max(first_name, ts) FILTER (first_name IS NOT NULL),
                   arg_max(last_name, ts) FILTER (last_name IS NOT NULL), ?, now()
            FROM stage.lines
            WHERE customer_key IS NOT NULL
              AND (email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL)
            GROUP BY customer_key
            ON CONFLICT (customer_key) DO UPDATE SET
                email = coalesce(excluded.email, email),
                first_name = coalesce(excluded.first_name, first_name),
                last_name = coalesce(excluded.last_name, last_name),
                import_id = excluded.import_id,
                updated_at = excluded.updated_at
            """,
            [import_id],
        )
    return import_id


def _commit_customers(store: Store, import_id: int) -> None:
    """A customer table: one row per kept customer; attributes merged into earlier ones."""
    kept = (
        f"(SELECT l.*, a.attributes FROM (SELECT *, rowid AS _rid FROM stage.lines WHERE {KEPT}) l"
        " LEFT JOIN stage.attrs a ON a.rid = l._rid)"
    )
    store.execute(
        f"""
        INSERT INTO customers
        SELECT customer_key, country, marketing_consent, CAST(attributes AS JSON), ?, now()
        FROM {kept}
        ON CONFLICT (customer_key) DO UPDATE SET
            country = coalesce(excluded.country, country),
            marketing_consent = coalesce(excluded.marketing_consent, marketing_consent),
            attributes = CASE WHEN excluded.attributes IS NULL THEN attributes
                              WHEN attributes IS NULL THEN excluded.attributes
                              ELSE json_merge_patch(attributes, excluded.attributes) END,
            updated_at = excluded.updated_at
        """,
        [import_id],
    )
    store.execute(
        f"""
        INSERT INTO contacts
            (customer_key, email, first_name, last_name, import_id, updated_at)
        SELECT customer_key, email, first_name, last_name, ?, now()
        FROM {kept}
        WHERE email IS NOT NULL OR first_name IS NOT NULL OR last_name IS NOT NULL
        ON CONFLICT (customer_key) DO UPDATE SET
            email = coalesce(excluded.email, email),
            first_name = coalesce(excluded.first_name, first_name),
            last_name = coalesce(excluded.last_name, last_name),
            import_id = excluded.import_id,
            updated_at = excluded.updated_at
        """,
        [import_id],
    )


def load_summary(store: Store, import_id: int) -> ImportSummary:
    """Read one import's account back from the workspace."""
    row = store.rows(
        """
        SELECT import_id, file_name, content_hash, layout, currency, rows_read, rows_kept,
               customers, orders, revenue, revenue_kept, cancellation_lines, extra_lines,
               as_of, imported_at, seconds, mapping, first_order, last_order, file_bytes
        FROM imports WHERE import_id = ?
        """,
        [import_id],
    )
    if not row:
        raise ClustomerError(f"there is no import {import_id} in this workspace")
    r = row[0]
    drops = store.rows(
        "SELECT reason, rows, revenue FROM import_drops WHERE import_id = ? ORDER BY reason",
        [import_id],
    )
    rejects = store.rows(
        "SELECT line, column_name, value, message FROM import_rejects WHERE import_id = ? "
        "ORDER BY line LIMIT 1000",
        [import_id],
    )
    order = {reason: i for i, reason in enumerate(DROP_REASONS)}
    drops = sorted(drops, key=lambda d: order.get(d[0], 99))
    return ImportSummary(
        import_id=int(r[0]),
        file=r[1],
        file_bytes=int(r[19]),
        content_hash=r[2],
        layout=r[3],
        currency=r[4],
        rows_read=int(r[5]),
        rows_kept=int(r[6]),
        rows_dropped={d[0]: int(d[1]) for d in drops},
        customers=int(r[7]),
        orders=int(r[8]),
        revenue=float(r[9]),
        revenue_kept=float(r[10]),
        revenue_dropped={d[0]: float(d[2]) for d in drops if d[2] is not None},
        cancellation_lines=int(r[11]),
        extra_lines=int(r[12]),
        as_of=_iso(r[13]),
        imported_at=_iso(r[14]),
        seconds=r[15],
        rejects=[{"line": a, "column": b, "value": c, "message": d} for a, b, c, d in rejects],
        mapping=json.loads(r[16]) if r[16] else {},
        first_order=_iso(r[17]) if r[17] is not None else None,
        last_order=_iso(r[18]) if r[18] is not None else None,
    )


def read_order_lines(store: Store) -> pd.DataFrame:
    """Every stored order line, by import, customer and time."""
    return store.df("SELECT * FROM order_lines ORDER BY import_id, customer_key, ts")


def read_customers(store: Store) -> pd.DataFrame:
    """The customers table (key, country, marketing consent, attributes)."""
    return store.df("SELECT * FROM customers ORDER BY customer_key")


def list_imports(store: Store) -> list[int]:
    """Ids of every import, oldest first."""
    return [int(i) for (i,) in store.rows("SELECT import_id FROM imports ORDER BY import_id")]


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    return str(value)
