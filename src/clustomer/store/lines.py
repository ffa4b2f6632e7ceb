"""Clean order lines per customer, product and day: the input of the recommenders.

A *clean line* (:data:`CLEAN_LINE`, also the customer-value models' definition, see
:mod:`clustomer.clv.transactions`): not a return, quantity > 0 and unit
price > 0 (an amount-only line is clean when its revenue is > 0), of a known customer.

A *product* is its ``product_id``; a shop that exports no product ids is read by name
(``product_id`` is then the name). Lines with neither are left out. Each product carries
one name: the one it was sold under most often (ties: the first in sort order); a product
that never had a name is named by its id.

The lines of one customer, product and calendar day are summed into one row (a
*purchase*): two lines of the same product on one invoice, or two invoices on one day,
are one purchase, as customer-days are one transaction in the value models.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from clustomer.errors import ClustomerError
from clustomer.store.db import Store

__all__ = [
    "CLEAN_LINE",
    "LINE_COLUMNS",
    "clean_lines",
    "customer_countries",
    "customer_order_lines",
    "last_line_times",
    "workspace_stamp",
]

#: the WHERE clause of a clean line of ``order_lines`` (one definition for every model)
CLEAN_LINE = (
    "NOT is_return AND revenue > 0 "
    "AND (quantity > 0 OR quantity IS NULL) AND (unit_price > 0 OR unit_price IS NULL)"
)

#: The columns of :func:`clean_lines`, in order.
LINE_COLUMNS = ("customer_key", "product_id", "product_name", "day", "quantity", "revenue")

CLEAN_LINES_SQL = f"""
WITH clean AS (
    SELECT customer_key,
           coalesce(product_id, product_name) AS product_id,
           product_name,
           CAST(ts AS DATE) AS day,
           quantity,
           revenue
    FROM order_lines
    WHERE {CLEAN_LINE}
      AND coalesce(product_id, product_name) IS NOT NULL
      AND ($until IS NULL OR CAST(ts AS DATE) <= $until)
),
name_counts AS (
    SELECT product_id, product_name, count(*) AS n
    FROM clean WHERE product_name IS NOT NULL
    GROUP BY ALL
),
names AS (
    SELECT product_id, arg_max(product_name, (n, -rank_in)) AS product_name
    FROM (SELECT *, row_number() OVER (PARTITION BY product_id ORDER BY product_name) AS rank_in
          FROM name_counts)
    GROUP BY product_id
)
SELECT c.customer_key,
       c.product_id,
       coalesce(n.product_name, c.product_id) AS product_name,
       c.day,
       sum(c.quantity) AS quantity,
       sum(c.revenue) AS revenue
FROM clean c LEFT JOIN names n USING (product_id)
GROUP BY c.customer_key, c.product_id, coalesce(n.product_name, c.product_id), c.day
"""


def _as_date(value: str | date | datetime | pd.Timestamp) -> date:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ClustomerError(f"not a date: {value!r} ({exc})") from None
    if stamp is pd.NaT:
        raise ClustomerError("the date is missing (NaT)")
    return stamp.date()


def _categorical(table: pa.Table, names: tuple[str, ...]) -> pa.Table:
    """Dictionary-encode string columns, so pandas gets categoricals, not 10M strings."""
    for name in names:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.dictionary_encode(table.column(name)))
    return table


def clean_lines(
    store: Store, until: str | date | datetime | pd.Timestamp | None = None
) -> pd.DataFrame:
    """One row per customer, product and day of clean lines.

    Parameters
    ----------
    store : Store
        The workspace.
    until : date-like, optional
        Keep days on or before this day only.

    Returns
    -------
    DataFrame
        :data:`LINE_COLUMNS`: ``customer_key``, ``product_id`` and ``product_name``
        (categoricals), ``day`` (datetime64, midnight), ``quantity`` (float; NaN for an
        amount-only shop) and ``revenue`` (float), in no particular order.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.execute(
    ...     "INSERT INTO order_lines VALUES "
    ...     "('a', 'o1', TIMESTAMP '2024-01-01 09:00', 'P1', 'MUG', 2, 5.0, 10.0, 'GBP', false, 1),"
    ...     "('a', 'o2', TIMESTAMP '2024-01-01 17:00', 'P1', 'MUG', 1, 5.0, 5.0, 'GBP', false, 1),"
    ...     "('a', 'o3', TIMESTAMP '2024-01-03 10:00', 'P1', 'MUG', -1, 5.0, -5.0, 'GBP', true, 1),"
    ...     "('b', 'o4', TIMESTAMP '2024-01-02 10:00', NULL, 'BAG', 1, 3.0, 3.0, 'GBP', false, 1)")
    >>> print(clean_lines(store).sort_values("customer_key").to_string(index=False))
    customer_key product_id product_name        day  quantity  revenue
               a         P1          MUG 2024-01-01       3.0     15.0
               b        BAG          BAG 2024-01-02       1.0      3.0
    >>> store.close()
    """
    cut = None if until is None else _as_date(until)
    try:
        table = store.con.sql(CLEAN_LINES_SQL, params={"until": cut}).to_arrow_table()
    except Exception as exc:  # duckdb.Error
        raise ClustomerError(f"cannot read the order lines: {exc}") from None
    table = _categorical(table, ("customer_key", "product_id", "product_name"))
    out = table.to_pandas()
    out["day"] = pd.to_datetime(out["day"]).astype("datetime64[ns]")
    out["quantity"] = out["quantity"].astype(float)
    out["revenue"] = out["revenue"].astype(float)
    return out[list(LINE_COLUMNS)]


def customer_countries(store: Store) -> pd.Series:
    """Each customer's country (``customers.country``), indexed by customer key.

    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO customers (customer_key, country) VALUES ('a', 'France')")
    >>> customer_countries(store).to_dict()
    {'a': 'France'}
    >>> store.close()
    """
    rows: Any = store.df(
        "SELECT customer_key, country FROM customers WHERE country IS NOT NULL "
        "ORDER BY customer_key"
    )
    return pd.Series(
        rows["country"].astype(str).to_numpy(),
        index=pd.Index(rows["customer_key"].astype(str), name="customer_key"),
        name="country",
    )


def customer_order_lines(store: Store, key: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One customer's stored order lines (by time) and their ``customers`` row."""
    lines = store.df("SELECT * FROM order_lines WHERE customer_key = ? ORDER BY ts", [key])
    row = store.df("SELECT * FROM customers WHERE customer_key = ?", [key])
    return lines, row


def workspace_stamp(store: Store) -> tuple[Any, ...] | None:
    """What a cache of scores depends on: the latest run id, the number of imports, the
    latest import id, and the numbers of order lines and customers (one query)."""
    return store.con.execute(
        "SELECT (SELECT max(run_id) FROM runs), (SELECT count(*) FROM imports), "
        "(SELECT max(import_id) FROM imports), (SELECT count(*) FROM order_lines), "
        "(SELECT count(*) FROM customers)"
    ).fetchone()


def last_line_times(store: Store) -> list[tuple[Any, ...]]:
    """``(customer_key, time of their newest order line)`` for every customer."""
    return store.rows("SELECT customer_key, max(ts) FROM order_lines GROUP BY customer_key")
