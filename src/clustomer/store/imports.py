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
    "erased on request",
    "payment of an order already imported",
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


def commit_import(
    store: Store, summary: ImportSummary, *, customer_table: bool = False, no_pii: bool = False
) -> int:
    """Move the staged lines into the workspace, all in one transaction.

    Expects ``stage.lines`` (with ``drop_reason``), ``stage.dups``, ``stage.extra`` and
    ``stage.rejects`` as built by :func:`clustomer.ingest.normalize.normalize`; for a
    ``customer_table``, ``stage.lines`` holds one row per customer and ``stage.attrs``
    their attributes, and no order line is added. ``stage.emails``, ``stage.phones``
    and ``stage.erased`` come from :func:`clustomer.ingest.identities.stage_identities`;
    with ``no_pii`` no raw contact detail is stored (pseudonyms only). The identities
    are then linked and payments of imported orders taken out
    (:mod:`clustomer.store.identity`), in the same transaction. Returns the new import id.
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
            _commit_customers(store, import_id, no_pii)
            _link(store, import_id)
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
              AND customer_key NOT IN (SELECT customer_key FROM stage.erased)
            GROUP BY customer_key
            ON CONFLICT (customer_key) DO UPDATE SET
                country = coalesce(excluded.country, country),
                marketing_consent = coalesce(excluded.marketing_consent, marketing_consent),
                updated_at = excluded.updated_at
            """,
            [import_id],
        )
        # raw contact details, in their own table (read only by exports)
        _insert_contacts(
            store,
            import_id,
            no_pii,
            """
            SELECT l.customer_key, arg_max(l.email, l.ts) FILTER (l.email IS NOT NULL) AS email,
                   arg_max(l.first_name, l.ts) FILTER (l.first_name IS NOT NULL) AS first_name,
                   arg_max(l.last_name, l.ts) FILTER (l.last_name IS NOT NULL) AS last_name,
                   arg_max(p.phone, l.ts) FILTER (p.phone IS NOT NULL) AS phone
            FROM stage.lines l LEFT JOIN stage.phones p ON p.raw = l.phone
            WHERE l.customer_key IS NOT NULL
              AND (l.email IS NOT NULL OR l.first_name IS NOT NULL OR l.last_name IS NOT NULL
                   OR l.phone IS NOT NULL)
              AND l.customer_key NOT IN (SELECT customer_key FROM stage.erased)
            GROUP BY l.customer_key
            """,
        )
        _link(store, import_id)
    return import_id


def _commit_customers(store: Store, import_id: int, no_pii: bool = False) -> None:
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
    _insert_contacts(
        store,
        import_id,
        no_pii,
        f"SELECT k.customer_key, k.email, k.first_name, k.last_name, p.phone FROM {kept} k "
        "LEFT JOIN stage.phones p ON p.raw = k.phone",
    )


def _insert_contacts(store: Store, import_id: int, no_pii: bool, per_customer: str) -> None:
    """Upsert ``contacts`` from one row per customer (key, email, names, E.164 phone).

    An address and its pseudonym are replaced together; with ``no_pii`` only the
    pseudonyms (and no name) are stored.
    """
    raw = "CASE WHEN ? THEN NULL ELSE {} END"
    store.execute(
        f"""
        INSERT INTO contacts (customer_key, email, first_name, last_name, phone, email_hash,
                              phone_hash, import_id, updated_at)
        SELECT c.customer_key, {raw.format("c.email")}, {raw.format("c.first_name")},
               {raw.format("c.last_name")}, {raw.format("c.phone")}, e.email_hash,
               p.phone_hash, ?, now()
        FROM ({per_customer}) c
        LEFT JOIN stage.emails e ON e.email = c.email
        LEFT JOIN (SELECT DISTINCT phone, phone_hash FROM stage.phones) p ON p.phone = c.phone
        WHERE c.email IS NOT NULL OR c.first_name IS NOT NULL OR c.last_name IS NOT NULL
           OR c.phone IS NOT NULL
        ON CONFLICT (customer_key) DO UPDATE SET
            email = CASE WHEN excluded.email_hash IS NOT NULL OR excluded.email IS NOT NULL
                         THEN excluded.email ELSE email END,
            email_hash = CASE WHEN excluded.email_hash IS NOT NULL OR excluded.email IS NOT NULL
                              THEN excluded.email_hash ELSE email_hash END,
            phone = CASE WHEN excluded.phone_hash IS NOT NULL THEN excluded.phone ELSE phone END,
            phone_hash = coalesce(excluded.phone_hash, phone_hash),
            first_name = coalesce(excluded.first_name, first_name),
            last_name = coalesce(excluded.last_name, last_name),
            import_id = excluded.import_id,
            updated_at = excluded.updated_at
        """,
        [no_pii, no_pii, no_pii, no_pii, import_id],
    )


def _link(store: Store, import_id: int) -> None:
    """Record the import's identifiers per source key; link; take out paid-twice lines."""
    from clustomer.store.identity import dedupe_payments, relink

    alive = (
        "l.customer_key IS NOT NULL "
        "AND l.customer_key NOT IN (SELECT customer_key FROM stage.erased)"
    )
    parts = [
        f"SELECT l.customer_key, 'customer id', l.source_id FROM stage.lines l "
        f"WHERE {alive} AND l.source_id IS NOT NULL"
    ]
    if store.scalar("SELECT count(*) FROM stage.emails"):
        parts.append(
            "SELECT l.customer_key, 'email', e.email_hash FROM stage.lines l "
            f"JOIN stage.emails e ON e.email = l.email WHERE {alive}"
        )
        parts.append(
            "SELECT l.customer_key, 'email', e.email_hash FROM stage.lines l "
            "JOIN stage.emails e ON e.email = lower(trim(l.customer_key)) "
            f"WHERE {alive} AND contains(l.customer_key, '@')"
        )
    if store.scalar("SELECT count(*) FROM stage.phones"):
        parts.append(
            "SELECT l.customer_key, 'phone', p.phone_hash FROM stage.lines l "
            f"JOIN stage.phones p ON p.raw = l.phone WHERE {alive}"
        )
    store.execute(
        "INSERT INTO customer_sources SELECT DISTINCT k, kind, v, k, ? FROM ("
        + " UNION ALL ".join(parts)
        + ") AS s(k, kind, v) WHERE NOT EXISTS (SELECT 1 FROM customer_sources c "
        "WHERE c.source_key = s.k AND c.kind = s.kind AND c.value = s.v)",
        [import_id],
    )
    relink(store, import_id)
    dedupe_payments(store)


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
