"""Turn ``stage.raw`` into normalised order lines, and account for every row.

Every input row ends in exactly one place: kept (one order line), or dropped with one
reason. The reasons are checked in this order, first match wins:

1. ``unparseable value``: a number or date that does not parse (line and column kept),
   ``nan``/``inf``, or thousands separators in the wrong places;
2. ``malformed line``: a CSV line with too many or too few fields;
3. ``missing customer``: no customer id (or, for Shopify, no e-mail);
4. ``missing order id`` / ``missing date`` / ``missing amount`` (no amount, or no
   quantity or price to compute it from);
5. ``voided order``: a Shopify order whose payment was voided;
6. ``non-positive price``: unit price ≤ 0 (or an amount of 0 when there is no price);
7. ``zero quantity``;
8. ``other currency``: not the currency chosen with ``--currency``;
9. ``date after as-of date``;
10. ``duplicate line``: the same line, every column equal, seen before in this file.

Cancellations and returns are kept as negative lines with ``is_return``; a return is
never counted as a purchase. Shopify refunds (``Refunded Amount``) become one extra
negative line per order; they are *added* lines, counted apart from the input rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from clustomer.errors import InputError
from clustomer.ingest.readers import RawFile, before_scan, finish_scan, recover_scan
from clustomer.store.db import Store
from clustomer.store.imports import DROP_REASONS, KEPT


def _trim(col: str) -> str:
    """SQL for ``trim(col)`` that skips the copy when the value has no edge spaces.

    Trimming every value of a 10-million-line file costs about a second; most values
    need none. (A value with a space at either end is trimmed in full, Unicode spaces
    included; one with only a no-break space at an edge is left as it is.) Used for
    names, product ids and countries; customer and order ids always get the full
    ``trim``, so that ``'C1\u00a0'`` and ``'C1'`` stay one customer.

    >>> _trim("x")
    "CASE WHEN x LIKE ' %' OR x LIKE '% ' THEN trim(x) ELSE x END"
    """
    return f"CASE WHEN {col} LIKE ' %' OR {col} LIKE '% ' THEN trim({col}) ELSE {col} END"


_CUSTOMER_ID = (
    "CASE WHEN contains({c}, '.') THEN nullif(regexp_replace(trim({c}), '\\.0+$', ''), '') "
    "ELSE nullif(trim({c}), '') END"  # keys: every edge space counts (no-break ones too)
)
_CONSENT = (
    "CASE WHEN lower(trim(CAST({c} AS VARCHAR))) IN ('yes','true','1','y','subscribed') "
    "THEN true WHEN lower(trim(CAST({c} AS VARCHAR))) IN ('no','false','0','n','unsubscribed') "
    "THEN false END"
)

# contact details: an e-mail is kept (trimmed, lower-cased) only when it looks like one
_EMAIL = (
    "CASE WHEN regexp_full_match(lower(trim(CAST({c} AS VARCHAR))), "
    "'[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN lower(trim(CAST({c} AS VARCHAR))) END"
)
_NO_CONTACT = (
    "CAST(NULL AS VARCHAR) AS email, CAST(NULL AS VARCHAR) AS first_name, "
    "CAST(NULL AS VARCHAR) AS last_name,"
)

# Each normaliser is a SELECT over ``raw`` (the typed rows, with the line hash ``_h``) that
# yields one row per input row with these columns (Shopify adds ``refunded, refund_at``):
# customer_key, order_id, ts, product_id, product_name, quantity, unit_price, revenue,
# currency, is_return, is_cancellation, country, marketing_consent, email, first_name,
# last_name, voided, _h, _bad
# (email, first_name and last_name go to the ``contacts`` table only, never to the lines)


def _online_retail(cols: set[str]) -> str:
    return f"""
        SELECT {_CUSTOMER_ID.format(c="customer_id")} AS customer_key,
               trim(invoice) AS order_id,
               invoice_date AS ts,
               {_trim("stock_code")} AS product_id,
               {_trim("description")} AS product_name,
               quantity, unit_price,
               quantity * unit_price AS revenue,
               CAST(NULL AS VARCHAR) AS currency,
               (starts_with(upper(ltrim(invoice)), 'C') OR quantity < 0) AS is_return,
               starts_with(upper(ltrim(invoice)), 'C') AS is_cancellation,
               nullif({_trim("country")}, '') AS country,
               CAST(NULL AS BOOLEAN) AS marketing_consent,
               {_NO_CONTACT}
               false AS voided,
               _h, _bad
        FROM raw
    """


def _generic(cols: set[str]) -> str:
    def opt(name: str, default: str = "NULL") -> str:
        return name if name in cols else default

    has_qp = {"quantity", "unit_price"} <= cols
    if "amount" not in cols and not has_qp:
        raise InputError(
            "a generic order table needs an amount column, or both quantity and unit_price "
            "(map yours with --map amount=COLUMN)"
        )
    revenue = (
        "coalesce(quantity * unit_price, amount)"
        if has_qp and "amount" in cols
        else "quantity * unit_price"
        if has_qp
        else "amount"
    )
    consent = _CONSENT.format(c="marketing_consent") if "marketing_consent" in cols else "NULL"
    return f"""
        SELECT {_CUSTOMER_ID.format(c="customer_id")} AS customer_key,
               nullif(trim(order_id), '') AS order_id,
               order_date AS ts,
               nullif({_trim(opt("product_id"))}, '') AS product_id,
               nullif({_trim(opt("product_name"))}, '') AS product_name,
               CAST({opt("quantity")} AS DOUBLE) AS quantity,
               CAST({opt("unit_price")} AS DOUBLE) AS unit_price,
               {revenue} AS revenue,
               upper(nullif({_trim(opt("currency"))}, '')) AS currency,
               {revenue} < 0 AS is_return,
               false AS is_cancellation,
               nullif({_trim(opt("country"))}, '') AS country,
               CAST({consent} AS BOOLEAN) AS marketing_consent,
               {_EMAIL.format(c=opt("email"))} AS email,
               nullif({_trim(opt("first_name"))}, '') AS first_name,
               nullif({_trim(opt("last_name"))}, '') AS last_name,
               false AS voided,
               _h, _bad
        FROM raw
    """


def _shopify(cols: set[str]) -> str:
    def opt(name: str, prefix: str = "") -> str:
        return f"{prefix}{name}" if name in cols else "NULL"

    sku = f"coalesce(nullif(trim({opt('sku', 'g.')}), ''), trim(g.product_name))"
    return f"""
        SELECT o.email AS customer_key,
               nullif(trim(g.order_name), '') AS order_id,
               coalesce(g.created_at, o.created_at) AS ts,
               {sku} AS product_id,
               trim(g.product_name) AS product_name,
               g.quantity, g.unit_price,
               g.quantity * g.unit_price AS revenue,
               o.currency,
               false AS is_return,
               false AS is_cancellation,
               nullif(trim(o.country), '') AS country,
               {_CONSENT.format(c="o.consent")} AS marketing_consent,
               o.email,
               nullif(trim(split_part(o.billing_name, ' ', 1)), '') AS first_name,
               nullif(trim(substr(o.billing_name, length(split_part(o.billing_name, ' ', 1)) + 2)),
                      '') AS last_name,
               coalesce(o.financial_status = 'voided', false) AS voided,
               g._h, g._bad,
               o.refunded,
               o.refund_at,
               o.financial_status
        FROM raw g
        LEFT JOIN (  -- order-level fields sit on the first row of each order only
            SELECT order_name,
                   max(nullif(lower(trim(email)), '')) AS email,
                   max(nullif(lower(trim(financial_status)), '')) AS financial_status,
                   max(upper(nullif(trim(currency), ''))) AS currency,
                   min(created_at) AS created_at,
                   max({opt("refunded_amount")}) AS refunded,
                   max({opt("cancelled_at")}) AS refund_at,
                   max({opt("accepts_marketing")}) AS consent,
                   max({opt("billing_country")}) AS country,
                   max(trim({opt("billing_name")})) AS billing_name
            FROM raw GROUP BY order_name
        ) o ON o.order_name IS NOT DISTINCT FROM g.order_name
    """


def _shopify_refunds() -> str:
    """One negative line per refunded order (added lines, not input rows).

    Shopify's ``Refunded Amount`` includes shipping and taxes, which the line items do
    not; a refund never takes an order below zero, and a ``refunded`` order is refunded
    whole.
    """
    return f"""
        SELECT customer_key, order_id,
               coalesce(TRY_CAST(try_strptime(trim(CAST(refund_at AS VARCHAR)),
                                  '%Y-%m-%d %H:%M:%S %z') AS TIMESTAMP), ts) AS ts,
               CAST(NULL AS VARCHAR) AS product_id, 'Refund' AS product_name,
               CAST(NULL AS DOUBLE) AS quantity, CAST(NULL AS DOUBLE) AS unit_price,
               -CASE WHEN status = 'refunded' THEN bought ELSE least(refunded, bought) END
                   AS revenue,
               currency, true AS is_return
        FROM (
            SELECT customer_key, order_id, min(ts) AS ts, any_value(currency) AS currency,
                   sum(revenue) AS bought, any_value(financial_status) AS status,
                   coalesce(any_value(refunded), 0) AS refunded,
                   any_value(refund_at) AS refund_at
            FROM stage.lines
            WHERE {KEPT}
            GROUP BY customer_key, order_id
        )
        WHERE bought > 0 AND (refunded > 0 OR status = 'refunded')
    """


NORMALIZERS = {"online_retail": _online_retail, "generic": _generic, "shopify_orders": _shopify}

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
        When the file mixes currencies and none was chosen, or when no row can be kept.
    """
    layout = raw.layout
    name = raw.path.name
    body = NORMALIZERS[layout.normalizer](set(raw.match.columns))
    line_hash = "hash(" + ", ".join(f'"{c}"' for c in raw.columns) + ")"
    time_col = f'"{layout.time_field}"'
    chosen = currency.upper() if currency else None
    default_currency = chosen or layout.default_currency
    while True:
        before_scan(store)
        store.execute("DROP TABLE IF EXISTS stage.lines")
        try:
            _scan(store, raw, time_col, line_hash, body, default_currency, chosen, as_of)
        except duckdb.Error as exc:
            recover_scan(raw, exc)  # a clean copy of the file, once; else a clear error
            continue
        rows = int(store.scalar("SELECT count(*) FROM stage.lines"))
        if not finish_scan(store, raw, rows):
            break
    if raw.rows_read == 0:
        raise InputError("the file has a header but no data rows", file=name)
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
    if layout.normalizer == "shopify_orders":
        store.execute(f"CREATE TABLE stage.extra AS {_shopify_refunds()}")
    else:
        store.execute(
            "CREATE TABLE stage.extra AS SELECT customer_key, order_id, ts, product_id, "
            "product_name, quantity, unit_price, revenue, currency, is_return "
            "FROM stage.lines LIMIT 0"
        )
    return _account(store, raw, currencies[0][0] if currencies else default_currency)


def _scan(
    store: Store,
    raw: RawFile,
    time_col: str,
    line_hash: str,
    body: str,
    default_currency: str | None,
    chosen: str | None,
    as_of: datetime,
) -> None:
    """The one scan of the file: normalised lines, line hash and first drop reason."""
    replaced = [f"CAST({time_col} AS TIMESTAMP) AS {time_col}"]
    bad = ["false"]
    for name in raw.text_numbers:  # numbers with thousands separators: parsed strictly
        col = f'"{name}"'
        value = strict_number(col, raw.options["decimal_separator"], raw.options["thousands"])
        replaced.append(f"{value} AS {col}")
        bad.append(f"({col} IS NOT NULL AND {value} IS NULL)")
    store.execute(
        f"""
        CREATE TABLE stage.lines AS
        WITH raw AS (
            SELECT * REPLACE ({", ".join(replaced)}),
                   {line_hash} AS _h,
                   {" OR ".join(bad)} AS _bad
            FROM {raw.source}
        ),
        norm AS ({body})
        SELECT * REPLACE (coalesce(currency, ?) AS currency),
            CASE
                WHEN _bad OR NOT isfinite(revenue) THEN 'unparseable value'
                WHEN customer_key IS NULL THEN 'missing customer'
                WHEN order_id IS NULL THEN 'missing order id'
                WHEN ts IS NULL THEN 'missing date'
                WHEN revenue IS NULL THEN 'missing amount'
                WHEN voided THEN 'voided order'
                WHEN unit_price <= 0 OR (unit_price IS NULL AND revenue = 0)
                    THEN 'non-positive price'
                WHEN quantity = 0 THEN 'zero quantity'
                WHEN ? IS NOT NULL AND coalesce(currency, ?) IS DISTINCT FROM ?
                    THEN 'other currency'
                WHEN ts > ? THEN 'date after as-of date'
            END AS drop_reason
        FROM norm
        """,
        [default_currency, chosen, default_currency, chosen, as_of],
    )


def strict_number(col: str, decimal: str, thousands: str) -> str:
    """SQL reading ``col`` as a number only when its digit groups are right.

    DuckDB's ``thousands`` option deletes separators wherever they are, so ``1.5`` would
    read as 15; here a value must be grouped by threes (``1,234.50``) or plain (``29.98``),
    anything else is NULL (and the row is dropped as unparseable).

    >>> strict_number('"amount"', ".", ",")[:40]
    'CASE WHEN regexp_full_match(trim("amount'
    """
    d, t = re.escape(decimal), re.escape(thousands)
    pattern = rf"[-+]?(\d{{1,3}}({t}\d{{3}})+|\d+)({d}\d+)?"
    plain = f"replace(replace(trim({col}), '{thousands}', ''), '{decimal}', '.')"
    return (
        f"CASE WHEN regexp_full_match(trim({col}), '{pattern}') "
        f"THEN TRY_CAST({plain} AS DOUBLE) END"
    )


def _mark_duplicates(store: Store) -> None:
    """List in ``stage.dups`` every copy but the first of a line seen twice.

    Candidates share the hash of the whole raw line; a copy is confirmed on every
    normalised column too. (A side table, not an UPDATE: updating the big staging table
    would slow every later scan of it.)
    """
    store.execute(
        f"""
        CREATE TABLE stage.dups AS
        SELECT rid FROM (
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


def _account(store: Store, raw: RawFile, currency: str | None) -> Accounting:
    name = raw.path.name
    by_reason = store.rows(
        "SELECT drop_reason, count(*), sum(revenue) FILTER (WHERE isfinite(revenue)) "
        "FROM stage.lines GROUP BY drop_reason"
    )
    dropped: dict[str, int] = {}
    dropped_rev: dict[str, float] = {}
    kept = 0
    kept_revenue = 0.0
    for reason, n, rev in by_reason:
        if reason is None:
            kept, kept_revenue = int(n), float(rev or 0.0)
        else:
            dropped[reason] = int(n)
            dropped_rev[reason] = float(rev or 0.0)
    dups, dups_rev = store.rows(
        "SELECT count(*), coalesce(sum(revenue), 0) FROM stage.lines "
        "WHERE rowid IN (SELECT rid FROM stage.dups)"
    )[0]
    if dups:
        kept, kept_revenue = kept - int(dups), kept_revenue - float(dups_rev)
        dropped["duplicate line"], dropped_rev["duplicate line"] = int(dups), float(dups_rev)
    revenue = kept_revenue + sum(dropped_rev.values())  # all the file states, parsed
    for reason, n in store.rows(
        "SELECT reason, count(DISTINCT line) FROM stage.rejects GROUP BY reason"
    ):
        dropped[reason] = dropped.get(reason, 0) + int(n)  # with values read as NaN etc.
    dropped = {r: dropped[r] for r in DROP_REASONS if r in dropped}
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
    extra, extra_rev = store.rows("SELECT count(*), coalesce(sum(revenue), 0) FROM stage.extra")[0]
    rejects = [
        {"line": line, "column": col, "value": value, "message": msg}
        for line, col, value, msg in store.rows(
            "SELECT line, column_name, value, message FROM stage.rejects ORDER BY line LIMIT 1000"
        )
    ]
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
        rejects=rejects,
    )
    if not acc.check():  # a bug, never the user's fault: refuse to store a wrong account
        raise InputError(
            f"internal accounting error: {acc.rows_read} rows read but "
            f"{acc.rows_kept} kept + {sum(dropped.values())} dropped",
            file=name,
        )
    if acc.rows_kept == 0:
        listed = "; ".join(f"{_rows(n)}: {r}" for r, n in dropped.items())
        raise InputError(
            f"none of the {_rows(acc.rows_read)} can be kept ({listed}); nothing was imported",
            file=name,
        )
    return acc


def _rows(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")
