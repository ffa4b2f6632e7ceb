"""Customer-days and their summaries: the inputs of the customer-value models.

A *transaction* here is a distinct **customer-day**: every clean line a customer bought on
one calendar day is one purchase, its revenue the sum of those lines. A *clean line* is
a line that is not a return, with quantity > 0 and unit price > 0 (a line without a
quantity or a price, from an amount-only shop, is clean when its revenue is > 0), of a
known customer (the workspace never stores a line without one).

The summary follows the conventions of lifetimes' ``summary_data_from_transaction_data``
with ``freq="D"`` (checked by hand on the examples below and in the tests):

==========  ================================================================================
column      definition, for a customer with at least one purchase day on or before cutoff
==========  ================================================================================
frequency   repeat purchase days: purchase days − 1
recency     first to last purchase day, in units of ``unit_days`` (0 for one-time buyers)
T           first purchase day to the cutoff day, in units (the cutoff day itself counts
            as calibration: a purchase *on* the cutoff day is in, and has T = 0)
monetary    mean revenue of the **repeat** days (the first day is left out); 0 when
            frequency is 0
==========  ================================================================================

The holdout of a cutoff and a horizon of h days is the days in (cutoff, cutoff + h]: the
day after the cutoff to the h-th day after it, both included (lifetimes'
``calibration_and_holdout_data`` given day-truncated dates). Note that lifetimes splits
on the raw timestamps (``ts <= cutoff`` at midnight) before truncating to days, so given
timestamps it moves the cutoff day's purchases into the holdout: on the bundled sample
that leaves 3,362 calibration customers instead of the 3,370 of the product owner's
anchors, which match days (the cutoff day in the calibration).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.lines import CLEAN_LINE

CUSTOMER_DAYS_SQL = f"""
SELECT customer_key, CAST(ts AS DATE) AS day, sum(revenue) AS revenue
FROM order_lines
WHERE {CLEAN_LINE} AND ($until IS NULL OR CAST(ts AS DATE) <= $until)
GROUP BY customer_key, CAST(ts AS DATE)
ORDER BY customer_key, day
"""

DateLike = str | date | datetime | pd.Timestamp


def as_day(value: DateLike) -> pd.Timestamp:
    """A date-like value as a midnight :class:`pandas.Timestamp` (the time is dropped).

    >>> as_day("2011-09-09 13:45")
    Timestamp('2011-09-09 00:00:00')
    """
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ClustomerError(f"not a date: {value!r} ({exc})") from None
    if stamp is pd.NaT:
        raise ClustomerError("the date is missing (NaT)")
    return stamp.tz_localize(None).normalize() if stamp.tzinfo else stamp.normalize()


def customer_days(con: Any, until: DateLike | None = None) -> pd.DataFrame:
    """Read one row per customer and purchase day from a workspace's ``order_lines``.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The workspace connection (``Workspace.store.con``).
    until : date-like, optional
        Keep days on or before this day only.

    Returns
    -------
    DataFrame
        ``customer_key`` (str), ``day`` (datetime64, midnight), ``revenue`` (float, the
        day's clean lines summed), sorted by customer and day.

    Examples
    --------
    >>> import duckdb
    >>> con = duckdb.connect()
    >>> _ = con.execute(
    ...     "CREATE TABLE order_lines AS SELECT * FROM (VALUES "
    ...     "('a', TIMESTAMP '2024-01-01 09:00', 2.0, 5.0, 10.0, false),"
    ...     "('a', TIMESTAMP '2024-01-01 17:00', 1.0, 4.0, 4.0, false),"
    ...     "('a', TIMESTAMP '2024-01-03 10:00', -1.0, 5.0, -5.0, true),"
    ...     "('b', TIMESTAMP '2024-01-02 10:00', 1.0, 0.0, 0.0, false)"
    ...     ") t(customer_key, ts, quantity, unit_price, revenue, is_return)")
    >>> customer_days(con)
      customer_key        day  revenue
    0            a 2024-01-01     14.0
    """
    cut = None if until is None else as_day(until).date()
    try:
        days = con.execute(CUSTOMER_DAYS_SQL, {"until": cut}).df()
    except Exception as exc:  # duckdb.Error, or an object that is no connection
        raise ClustomerError(f"cannot read the order lines: {exc}") from None
    days["customer_key"] = days["customer_key"].astype(str)
    days["day"] = pd.to_datetime(days["day"])
    days["revenue"] = days["revenue"].astype(float)
    return days


def check_days(days: pd.DataFrame) -> pd.DataFrame:
    """Validate a customer-day table; merge rows of one customer and day; sort.

    >>> check_days(pd.DataFrame({"customer_key": ["a", "a"], "day": ["2024-01-02"] * 2,
    ...                          "revenue": [1.0, 2.5]}))
      customer_key        day  revenue
    0            a 2024-01-02      3.5
    """
    missing = {"customer_key", "day", "revenue"} - set(days.columns)
    if missing:
        raise ClustomerError(
            f"the transactions lack column(s) {', '.join(sorted(missing))}: expected one row "
            "per customer and day with customer_key, day and revenue (see customer_days)"
        )
    out = days[["customer_key", "day", "revenue"]].copy()
    out["day"] = pd.to_datetime(out["day"]).dt.normalize()
    out["revenue"] = pd.to_numeric(out["revenue"]).astype(float)
    if out["day"].isna().any() or out["customer_key"].isna().any():
        raise ClustomerError("the transactions have rows without a customer or a day")
    if out.duplicated(["customer_key", "day"]).any():
        out = out.groupby(["customer_key", "day"], as_index=False, sort=False).agg(
            revenue=("revenue", "sum")
        )
    return out.sort_values(["customer_key", "day"], kind="stable").reset_index(drop=True)


def _until(days: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return days[days["day"] <= cutoff]


def rfm_summary(days: pd.DataFrame, cutoff: DateLike, *, unit_days: float = 1) -> pd.DataFrame:
    """Frequency, recency, T and monetary value per customer, at a cutoff day.

    Parameters
    ----------
    days : DataFrame
        One row per customer-day (``customer_key``, ``day``, ``revenue``).
    cutoff : date-like
        The last day of the calibration period (its purchases count).
    unit_days : float
        Length of the time unit of recency and T, in days (7 for weeks).

    Returns
    -------
    DataFrame
        Indexed by ``customer_key`` (sorted): ``frequency``, ``recency``, ``T``,
        ``monetary`` (see the module docstring), for every customer with at least one
        purchase day on or before the cutoff.

    Examples
    --------
    >>> days = pd.DataFrame({"customer_key": ["a", "a", "a", "b", "c"],
    ...     "day": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-08", "2024-01-06",
    ...                            "2024-01-20"]), "revenue": [10.0, 20.0, 40.0, 7.0, 1.0]})
    >>> rfm_summary(days, "2024-01-10")  # doctest: +NORMALIZE_WHITESPACE
                  frequency  recency    T  monetary
    customer_key
    a                   2.0      7.0  9.0      30.0
    b                   0.0      0.0  4.0       0.0
    """
    if unit_days <= 0:
        raise ClustomerError(f"unit_days must be > 0, not {unit_days}")
    cut = as_day(cutoff)
    d = _until(check_days(days), cut)
    g = d.groupby("customer_key", sort=True)
    first, last = g["day"].min(), g["day"].max()
    n = g.size().astype(float)
    repeat_revenue = g["revenue"].sum() - g["revenue"].first()
    frequency = n - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        monetary = np.where(frequency > 0, repeat_revenue / frequency, 0.0)
    out = pd.DataFrame(
        {
            "frequency": frequency,
            "recency": (last - first).dt.days / unit_days,
            "T": (cut - first).dt.days / unit_days,
            "monetary": monetary,
        }
    )
    out.index.name = "customer_key"
    return out.astype(float)


def holdout_summary(
    days: pd.DataFrame,
    cutoff: DateLike,
    horizon_days: int,
    *,
    customers: pd.Index | None = None,
) -> pd.DataFrame:
    """What each customer did in the holdout window (cutoff, cutoff + horizon_days].

    Parameters
    ----------
    days : DataFrame
        One row per customer-day.
    cutoff : date-like
        The last calibration day; the window starts the day after.
    horizon_days : int
        Length of the window in days.
    customers : Index, optional
        Report exactly these customers (0 orders for those who did not buy); by default
        the customers who bought in the window.

    Returns
    -------
    DataFrame
        Indexed by ``customer_key``: ``orders`` (purchase days in the window, float),
        ``revenue`` (their revenue) and ``active`` (bool, orders > 0).

    Examples
    --------
    >>> days = pd.DataFrame({"customer_key": ["a", "a", "a", "b"],
    ...     "day": pd.to_datetime(["2024-01-10", "2024-01-11", "2024-01-13", "2024-01-14"]),
    ...     "revenue": [5.0, 3.0, 4.0, 9.0]})
    >>> out = holdout_summary(days, "2024-01-10", 3, customers=pd.Index(["a", "b", "c"]))
    >>> out  # doctest: +NORMALIZE_WHITESPACE
                  orders  revenue  active
    customer_key
    a                2.0      7.0    True
    b                0.0      0.0   False
    c                0.0      0.0   False
    """
    if horizon_days < 1:
        raise ClustomerError(f"the holdout horizon must be at least 1 day, not {horizon_days}")
    cut = as_day(cutoff)
    d = check_days(days)
    d = d[(d["day"] > cut) & (d["day"] <= cut + pd.Timedelta(days=horizon_days))]
    g = d.groupby("customer_key", sort=True)
    out = pd.DataFrame({"orders": g.size().astype(float), "revenue": g["revenue"].sum()})
    if customers is not None:
        out = out.reindex(pd.Index(customers, name="customer_key"), fill_value=0.0)
    out["active"] = out["orders"] > 0
    out.index.name = "customer_key"
    return out
