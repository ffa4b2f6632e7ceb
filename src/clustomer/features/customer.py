"""The per-customer features, as one SQL statement over ``order_lines``.

The definitions live here and nowhere else, in plain SQL with a single ``$as_of``
parameter, so that another SQL engine can run the same text later.

An *order* is a customer's order id; its net value is the sum of its lines (returns are
negative lines). A *purchase* is an order with a positive net value, so a fully
refunded order and a cancellation invoice are never purchases. Only lines dated
before the as-of date count.

==========================  ==============================================================
feature                     definition
==========================  ==============================================================
recency_days                days from the last purchase to the as-of date
frequency                   number of purchases (distinct orders with net value > 0)
monetary                    net revenue: all lines, returns subtracted (may be ≤ 0)
tenure_days                 days from the first purchase to the as-of date
avg_order_value             net value of purchases ÷ frequency
mean_days_between_orders    (last − first purchase) ÷ (frequency − 1); NULL if frequency < 2
return_rate                 value returned ÷ value bought, clipped to [0, 1]
distinct_products           distinct product ids bought (not returned)
country                     the customer's country (latest seen)
==========================  ==============================================================

Customers with returns only have frequency 0 and NULL recency and tenure.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store

#: Columns of the per-customer feature table, in order (``customer_key`` and ``country``
#: aside).
FEATURE_COLUMNS: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "mean_days_between_orders",
    "return_rate",
    "distinct_products",
)

FEATURE_SQL = """
WITH lines AS NOT MATERIALIZED (
    SELECT * FROM order_lines WHERE ts < $as_of
),
orders AS (
    SELECT customer_key, order_id, min(ts) AS ts, sum(revenue) AS net,
           sum(revenue) FILTER (WHERE NOT is_return) AS bought,
           -sum(revenue) FILTER (WHERE is_return) AS returned
    FROM lines
    GROUP BY customer_key, order_id
),
per_customer AS (
    SELECT customer_key,
           count(*) FILTER (WHERE net > 0) AS frequency,
           sum(net) AS monetary,
           sum(net) FILTER (WHERE net > 0) AS purchase_value,
           min(ts) FILTER (WHERE net > 0) AS first_purchase,
           max(ts) FILTER (WHERE net > 0) AS last_purchase,
           coalesce(sum(bought), 0) AS bought,
           coalesce(sum(returned), 0) AS returned
    FROM orders
    GROUP BY customer_key
),
products AS (  -- distinct pairs first: a third faster than count(DISTINCT ...)
    SELECT customer_key, count(*) AS distinct_products
    FROM (
        SELECT DISTINCT customer_key, product_id
        FROM lines
        WHERE NOT is_return AND product_id IS NOT NULL
    )
    GROUP BY customer_key
)
SELECT p.customer_key,
       CAST(date_diff('day', CAST(p.last_purchase AS DATE), CAST($as_of AS DATE)) AS DOUBLE)
           AS recency_days,
       p.frequency,
       p.monetary,
       CAST(date_diff('day', CAST(p.first_purchase AS DATE), CAST($as_of AS DATE)) AS DOUBLE)
           AS tenure_days,
       CASE WHEN p.frequency > 0 THEN p.purchase_value / p.frequency END AS avg_order_value,
       CASE WHEN p.frequency > 1
            THEN epoch(p.last_purchase - p.first_purchase) / 86400.0 / (p.frequency - 1)
       END AS mean_days_between_orders,
       CASE WHEN p.bought > 0 THEN least(1.0, greatest(0.0, p.returned / p.bought))
            ELSE 0.0 END AS return_rate,
       coalesce(pr.distinct_products, 0) AS distinct_products,
       c.country
FROM per_customer p
LEFT JOIN products pr USING (customer_key)
LEFT JOIN customers c USING (customer_key)
ORDER BY p.customer_key
"""


def default_as_of(store: Store) -> datetime:
    """The day after the last order line: midnight following the newest timestamp.

    Raises
    ------
    ClustomerError
        If the workspace holds no order lines yet.
    """
    last = store.scalar("SELECT max(ts) FROM order_lines")
    if last is None:
        raise ClustomerError(
            "the workspace has no orders yet; import an export first (clustomer import FILE)"
        )
    day = datetime(last.year, last.month, last.day)
    return day + timedelta(days=1)


def customer_features(store: Store, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per customer with the features above, as of ``as_of`` (exclusive).

    Examples
    --------
    >>> from clustomer.store import Store
    >>> s = Store()
    >>> s.execute(
    ...     "INSERT INTO order_lines VALUES "
    ...     "('a', 'o1', '2024-01-01', 'p1', 'Mug', 2, 5.0, 10.0, 'GBP', false, 1),"
    ...     "('a', 'o2', '2024-01-11', 'p2', 'Cup', 1, 4.0, 4.0, 'GBP', false, 1),"
    ...     "('a', 'r1', '2024-01-12', 'p2', 'Cup', -1, 4.0, -4.0, 'GBP', true, 1)")
    >>> f = customer_features(s)
    >>> f[["frequency", "monetary", "recency_days", "mean_days_between_orders"]].to_dict("records")
    [{'frequency': 2, 'monetary': 10.0, 'recency_days': 2.0, 'mean_days_between_orders': 10.0}]
    """
    cutoff = as_of or default_as_of(store)
    df = store.con.execute(FEATURE_SQL, {"as_of": cutoff}).df()
    if df.empty:
        raise ClustomerError(f"no customer has an order before the as-of date {cutoff:%Y-%m-%d}")
    df["frequency"] = df["frequency"].astype("int64")
    df["distinct_products"] = df["distinct_products"].astype("int64")
    return df
