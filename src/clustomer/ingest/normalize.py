"""Turn a read file into staged order lines (or customers), and account for every row.

Every input row ends in exactly one place: kept (one order line, or one customer), or
dropped with one reason. For order layouts the reasons are checked in this order, first
match wins:

1. ``unparseable value``: a number or date that does not parse (line and column kept),
   ``nan``/``inf``, or thousands separators in the wrong places;
2. ``malformed line``: a CSV line with too many or too few fields;
3. ``missing customer``: no customer id (or, for Shopify, no e-mail);
4. ``missing order id`` / ``missing date`` / ``missing amount`` (no amount, or no
   quantity or price to compute it from);
5. ``voided order``, ``failed payment``, ``unpaid order``: what the row's status says
   (Shopify voided; Stripe or WooCommerce failed; cancelled, pending or uncaptured);
6. ``non-positive price``: unit price ≤ 0 (or an amount of 0 when there is no price);
7. ``zero quantity``;
8. ``other currency``: not the currency chosen with ``--currency``;
9. ``date after as-of date``;
10. ``duplicate line``: the same line, every column equal, seen before in this file.

Cancellations and returns are kept as negative lines with ``is_return``; a return is
never counted as a purchase. Refunds (Shopify ``Refunded Amount``, Stripe ``Amount
Refunded``, a ``refunded`` status) become one extra negative line per order; they are
*added* lines, counted apart from the input rows. Customer tables: see
:mod:`clustomer.ingest.norm_customers`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from clustomer.errors import InputError
from clustomer.ingest.norm_customers import build_attributes, mark_repeats, scan_customers_sql
from clustomer.ingest.norm_orders import ORDER_NORMALIZERS, refunds_sql
from clustomer.ingest.numbers import SCIENTIFIC, strict_number
from clustomer.ingest.rawfile import quoted
from clustomer.ingest.readers import (
    RawFile,
    before_scan,
    finish_scan,
    recover_scan,
    scientific_id_error,
)
from clustomer.store.db import Store
from clustomer.store.imports import DROP_REASONS, KEPT

__all__ = ["Accounting", "normalize", "recount", "strict_number"]

# the columns of a line that make two lines "the same line" (with the raw hash)
_SAME_LINE = (
    "_h, customer_key, order_id, ts, product_id, product_name, quantity, unit_price, "
    "revenue, currency, country"
)


@dataclass
class Accounting:
    """Where every row of one file went."""

    rows_read: int
    rows_kept: int
    rows_dropped: dict[str, int]
    revenue_dropped: dict[str, float]
    revenue: float
    revenue_kept: float
    customers: int
    orders: int
    cancellation_lines: int
    extra_lines: int
    currency: str | None
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)
    #: a customer table (no order lines); its attributes stored as numbers
    customer_table: bool = False
    numeric_attributes: list[str] = field(default_factory=list)

    def check(self) -> bool:
        """Read = kept + dropped, exactly."""
        return self.rows_read == self.rows_kept + sum(self.rows_dropped.values())


def normalize(
    store: Store,
    raw: RawFile,
    *,
    as_of: datetime,
    currency: str | None = None,
) -> Accounting:
    """Build ``stage.lines`` (with ``drop_reason``) from ``raw``; return the accounting.

    The file is scanned once, straight into ``stage.lines``: normalised columns, a hash
    of the whole raw line, and the first drop reason that applies. Exact duplicates are
    then found among the kept lines by their hash (and confirmed on every column).

    Raises
    ------
    InputError
        When the file mixes currencies and none was chosen, when no row can be kept, or
        when an id is written in scientific notation.
    """
    if raw.layout.target == "customers":
        return _normalize_customers(store, raw)
    layout = raw.layout
    name = raw.path.name
    try:
        body = ORDER_NORMALIZERS[layout.normalizer](set(raw.match.columns))
    except InputError as exc:
        raise InputError(exc.reason, file=name) from None
    chosen = currency.upper() if currency else None
    default_currency = chosen or layout.default_currency
    _scan_file(
        store,
        raw,
        lambda: store.execute(
            _orders_sql(raw_select(raw), body),
            [default_currency, chosen, default_currency, chosen, as_of],
        ),
    )
    _mark_duplicates(store)
    currencies = store.rows(
        "SELECT currency, count(*) FROM stage.lines WHERE drop_reason IS NULL "
        "GROUP BY currency ORDER BY 2 DESC, 1"
    )
    if len(currencies) > 1:
        listed = ", ".join(f"{c or 'none'}: {_rows(n)}" for c, n in currencies)
        raise InputError(
            f"this file mixes currencies ({listed}); revenue in different currencies cannot "
            "be added up. Import one currency at a time with --currency CODE",
            file=name,
        )
    store.execute(f"CREATE TABLE stage.extra AS {refunds_sql()}")
    return _account(store, raw, currencies[0][0] if currencies else default_currency)


def recount(store: Store, raw: RawFile, acc: Accounting) -> Accounting:
    """The accounting again, after rows were dropped past the normaliser (erased people)."""
    if not acc.customer_table:
        return _account(store, raw, acc.currency)
    kept, _, dropped, _ = _drops(store, "0.0")
    customers = store.scalar(f"SELECT count(DISTINCT customer_key) FROM stage.lines WHERE {KEPT}")
    acc.rows_kept, acc.rows_dropped = kept, _with_rejects(store, dropped)
    acc.customers = int(customers)
    return _checked(acc, raw)


def raw_select(raw: RawFile) -> str:
    """The typed rows of the file with ``_h`` (line hash), ``_bad`` and ``_sci``."""
    replaced = []
    if raw.layout.time_field is not None:
        t = quoted(raw.layout.time_field)
        replaced.append(f"CAST({t} AS TIMESTAMP) AS {t}")
    bad = ["false"]
    o = raw.options
    for name in raw.text_numbers:  # separators or symbols: parsed strictly
        col = quoted(name)
        value = strict_number(col, o["decimal_separator"], o["thousands"], o.get("symbols", False))
        replaced.append(f"{value} AS {col}")
        bad.append(f"({col} IS NOT NULL AND {value} IS NULL)")
    sci = [
        f"coalesce(regexp_full_match(trim({quoted(k)}), '{SCIENTIFIC}'), false)"
        for k in raw.key_columns
    ] or ["false"]
    line_hash = "hash(" + ", ".join(quoted(c) for c in raw.columns) + ")"
    star = f"* REPLACE ({', '.join(replaced)})" if replaced else "*"
    return (
        f"SELECT {star}, {line_hash} AS _h, {' OR '.join(bad)} AS _bad, "
        f"{' OR '.join(sci)} AS _sci FROM {raw.source}"
    )


def _scan_file(store: Store, raw: RawFile, scan: Callable[[], None]) -> None:
    """Run the one scan of the file (again on a clean copy if DuckDB asks for one)."""
    while True:
        before_scan(store)
        store.execute("DROP TABLE IF EXISTS stage.lines")
        try:
            scan()
        except duckdb.Error as exc:
            recover_scan(raw, exc)  # a clean copy of the file, once; else a clear error
            continue
        rows = int(store.scalar("SELECT count(*) FROM stage.lines"))
        if not finish_scan(store, raw, rows):
            break
    if raw.rows_read == 0:
        raise InputError("the file has a header but no data rows", file=raw.path.name)
    if raw.key_columns and store.scalar("SELECT count(*) FROM stage.lines WHERE _sci"):
        raise scientific_id_error(raw)


def _orders_sql(raw_sql: str, body: str) -> str:
    """The scan of an order file: normalised lines and the first drop reason."""
    return f"""
        CREATE TABLE stage.lines AS
        WITH raw AS ({raw_sql}),
        norm AS ({body})
        SELECT * REPLACE (coalesce(currency, ?) AS currency),
            CASE
                WHEN _bad OR NOT isfinite(revenue) THEN 'unparseable value'
                WHEN customer_key IS NULL THEN 'missing customer'
                WHEN order_id IS NULL THEN 'missing order id'
                WHEN ts IS NULL THEN 'missing date'
                WHEN revenue IS NULL THEN 'missing amount'
                WHEN status_drop IS NOT NULL THEN status_drop
                WHEN unit_price <= 0 OR (unit_price IS NULL AND revenue = 0)
                    THEN 'non-positive price'
                WHEN quantity = 0 THEN 'zero quantity'
                WHEN ? IS NOT NULL AND coalesce(currency, ?) IS DISTINCT FROM ?
                    THEN 'other currency'
                WHEN ts > ? THEN 'date after as-of date'
            END AS drop_reason
        FROM norm
    """


def _mark_duplicates(store: Store) -> None:
    """List in ``stage.dups`` every copy but the first of a line seen twice.

    Candidates share the hash of the whole raw line; a copy is confirmed on every
    normalised column too. (A side table, not an UPDATE: updating the big staging table
    would slow every later scan of it.)
    """
    store.execute(
        f"""
        CREATE TABLE stage.dups AS
        SELECT rid, 'duplicate line' AS reason FROM (
            SELECT rowid AS rid, revenue,
                   row_number() OVER (PARTITION BY {_SAME_LINE} ORDER BY rowid) AS copy
            FROM stage.lines
            WHERE drop_reason IS NULL AND _h IN (
                SELECT _h FROM stage.lines WHERE drop_reason IS NULL
                GROUP BY _h HAVING count(*) > 1
            )
        )
        WHERE copy > 1
        """
    )


def _drops(store: Store, revenue: str) -> tuple[int, float, dict[str, int], dict[str, float]]:
    """Kept rows and revenue; rows and revenue per drop reason (rejects included)."""
    dropped: dict[str, int] = {}
    dropped_rev: dict[str, float] = {}
    kept, kept_revenue = 0, 0.0
    for reason, n, rev in store.rows(
        f"SELECT drop_reason, count(*), fsum({revenue}) FILTER (WHERE isfinite({revenue})) "
        "FROM stage.lines GROUP BY drop_reason"
    ):
        if reason is None:
            kept, kept_revenue = int(n), float(rev or 0.0)
        else:
            dropped[reason] = int(n)
            dropped_rev[reason] = float(rev or 0.0)
    for reason, n, rev in store.rows(
        f"SELECT d.reason, count(*), coalesce(fsum({revenue}), 0) FROM stage.lines l "
        "JOIN stage.dups d ON d.rid = l.rowid GROUP BY d.reason"
    ):
        kept, kept_revenue = kept - int(n), kept_revenue - float(rev)
        dropped[reason], dropped_rev[reason] = int(n), float(rev)
    return kept, kept_revenue, dropped, dropped_rev


def _with_rejects(store: Store, dropped: dict[str, int]) -> dict[str, int]:
    for reason, n in store.rows(
        "SELECT reason, count(DISTINCT line) FROM stage.rejects GROUP BY reason"
    ):
        dropped[reason] = dropped.get(reason, 0) + int(n)  # with values read as NaN etc.
    return {r: dropped[r] for r in DROP_REASONS if r in dropped}


def _rejects(store: Store) -> list[dict[str, Any]]:
    return [
        {"line": line, "column": col, "value": value, "message": msg}
        for line, col, value, msg in store.rows(
            "SELECT line, column_name, value, message FROM stage.rejects ORDER BY line LIMIT 1000"
        )
    ]


def _account(store: Store, raw: RawFile, currency: str | None) -> Accounting:
    kept, kept_revenue, dropped, dropped_rev = _drops(store, "revenue")
    revenue = kept_revenue + sum(dropped_rev.values())  # all the file states, parsed
    dropped = _with_rejects(store, dropped)
    dropped_rev = {r: dropped_rev[r] for r in DROP_REASONS if r in dropped_rev}
    (customers, orders, cancellations, first_ts, last_ts) = store.rows(
        """
        SELECT count(DISTINCT customer_key),
               count(DISTINCT order_id) FILTER (WHERE drop_reason IS NULL),
               count(*) FILTER (WHERE is_cancellation),
               min(ts) FILTER (WHERE drop_reason IS NULL),
               max(ts) FILTER (WHERE drop_reason IS NULL)
        FROM stage.lines
        """
    )[0]
    extra, extra_rev = store.rows("SELECT count(*), coalesce(fsum(revenue), 0) FROM stage.extra")[0]
    acc = Accounting(
        rows_read=raw.rows_read,
        rows_kept=kept,
        rows_dropped=dropped,
        revenue_dropped=dropped_rev,
        revenue=round(revenue + float(extra_rev), 2),
        revenue_kept=round(kept_revenue + float(extra_rev), 2),
        customers=int(customers),
        orders=int(orders),
        cancellation_lines=int(cancellations),
        extra_lines=int(extra),
        currency=currency,
        first_ts=first_ts,
        last_ts=last_ts,
        rejects=_rejects(store),
    )
    return _checked(acc, raw)


def _normalize_customers(store: Store, raw: RawFile) -> Accounting:
    _scan_file(store, raw, lambda: store.execute(scan_customers_sql(raw, raw_select(raw))))
    mark_repeats(store)
    numeric = build_attributes(store, raw)
    kept, _, dropped, _ = _drops(store, "0.0")
    customers = store.scalar(f"SELECT count(DISTINCT customer_key) FROM stage.lines WHERE {KEPT}")
    acc = Accounting(
        rows_read=raw.rows_read,
        rows_kept=kept,
        rows_dropped=_with_rejects(store, dropped),
        revenue_dropped={},
        revenue=0.0,
        revenue_kept=0.0,
        customers=int(customers),
        orders=0,
        cancellation_lines=0,
        extra_lines=0,
        currency=None,
        rejects=_rejects(store),
        customer_table=True,
        numeric_attributes=numeric,
    )
    return _checked(acc, raw)


def _checked(acc: Accounting, raw: RawFile) -> Accounting:
    name = raw.path.name
    if not acc.check():  # a bug, never the user's fault: refuse to store a wrong account
        raise InputError(
            f"internal accounting error: {acc.rows_read} rows read but "
            f"{acc.rows_kept} kept + {sum(acc.rows_dropped.values())} dropped",
            file=name,
        )
    if acc.rows_kept == 0:
        listed = "; ".join(f"{_rows(n)}: {r}" for r, n in acc.rows_dropped.items())
        raise InputError(
            f"none of the {_rows(acc.rows_read)} can be kept ({listed}); nothing was imported",
            file=name,
        )
    return acc


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")
