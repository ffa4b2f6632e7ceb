"""Each customer's value, as of a date, with the model the backtest chose.

:func:`customer_values` predicts, for every customer with a clean purchase before the
as-of date, over the next 90 days: the probability of buying at all (``p_active_90d``),
the expected purchase days (``expected_orders_90d``) and revenue
(``expected_revenue_90d``); and ``clv_12m``, the expected revenue of the next 12 months
discounted at 1% a month. The model is one of the backtest's
(:data:`clustomer.clv.backtest.MODELS`), fitted on everything up to the as-of date — the
same model, the same features, one split later than in the backtest.

How ``clv_12m`` is made per model: BG/NBD and Pareto/NBD sum the expected revenue of each
quarter (Gamma-Gamma spend × expected purchases in that quarter), spread evenly over its
three months and discounted month by month;
the naive, gradient-boosting and ensemble models carry their 90-day revenue pace over the
12 months, discounted the same way (they know no dropout beyond their horizon).

``value_confidence`` is per customer: ``high`` with at least 3 purchase days over at least
180 days of history, ``medium`` with at least 2 purchase days, ``low`` otherwise (one
purchase day says little about a pace); never above ``low`` when the shop has fewer than
200 customers with purchases, or when the chosen model's backtest fit was degenerate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from clustomer.clv.baselines import (
    features_at,
    gbm_predict,
    naive_rate,
    pace_forecast,
    seasonal_uplift,
)
from clustomer.clv.transactions import as_day, check_days, rfm_summary
from clustomer.errors import ClustomerError

__all__ = ["HORIZON_DAYS", "customer_values", "pace_value", "value_confidence"]

#: The window of ``p_active_90d``, ``expected_orders_90d`` and ``expected_revenue_90d``.
HORIZON_DAYS = 90
#: Monthly discount rate of ``clv_12m``.
MONTHLY_DISCOUNT = 0.01
_MONTH_DAYS = 365.25 / 12


def _discounted_months(monthly_revenue: Any) -> Any:
    """Twelve months of ``monthly_revenue`` (a number, array or Series), discounted."""
    factor = sum(1 / (1 + MONTHLY_DISCOUNT) ** m for m in range(1, 13))
    return monthly_revenue * factor


def _btyd(name: str, days: pd.DataFrame, cut: pd.Timestamp, random_state: int) -> pd.DataFrame:
    from clustomer.clv.backtest import fit_btyd_model, repeat_spend

    unit = 7.0
    rfm = rfm_summary(days, cut, unit_days=unit)
    spend = np.asarray(repeat_spend(rfm, []), dtype=np.float64)
    model = fit_btyd_model(name, rfm, random_state)
    f, r, age = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))

    def upto(days_ahead: float) -> np.ndarray:
        return np.asarray(model.expected_purchases(days_ahead / unit, f, r, age), dtype=float)

    orders = upto(HORIZON_DAYS)
    clv = np.zeros(len(rfm))
    previous = np.zeros(len(rfm))
    for q in range(1, 5):  # each quarter's expected purchases × spend, spread over its
        now = upto(3 * q * _MONTH_DAYS)  # three months and discounted month by month
        per_month = (now - previous) * spend / 3
        for m in range(3 * q - 2, 3 * q + 1):
            clv += per_month / (1 + MONTHLY_DISCOUNT) ** m
        previous = now
    out = pd.DataFrame({"orders": orders, "revenue": orders * spend}, index=rfm.index)
    out["activity"] = -np.expm1(-out["orders"])
    out["clv"] = clv
    return out


def customer_values(
    days: pd.DataFrame,
    as_of: Any,
    *,
    model: str = "naive",
    random_state: int = 0,
    degenerate: bool = False,
) -> pd.DataFrame:
    """Value columns for every customer who bought before ``as_of``.

    Parameters
    ----------
    days : DataFrame
        Customer-days (:func:`clustomer.clv.transactions.customer_days`).
    as_of : date-like
        Predictions start the day after; only days before it are read.
    model : str
        ``naive``, ``naive_pace``, ``gbm``, ``ensemble``, ``bgnbd`` or ``paretonbd``.
    degenerate : bool
        Whether the model's backtest fit was degenerate (caps the confidence at low).

    Returns
    -------
    DataFrame
        ``customer_key, p_active_90d, expected_orders_90d, expected_revenue_90d,
        clv_12m, value_confidence``; finite numbers, never negative.

    Examples
    --------
    >>> days = pd.DataFrame({"customer_key": ["a", "a", "b"],
    ...     "day": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-02-01"]),
    ...     "revenue": [20.0, 30.0, 10.0]})
    >>> v = customer_values(days, "2024-04-01")
    >>> v[["customer_key", "expected_orders_90d", "value_confidence"]].round(2).values.tolist()
    [['a', 2.0, 'low'], ['b', 1.0, 'low']]
    """
    cut = as_day(pd.Timestamp(as_of) - pd.Timedelta(days=1))
    d = check_days(days)
    d = d[d["day"] <= cut]
    if d.empty:
        raise ClustomerError("no clean purchase before the as-of date: no customer value")
    if model in ("bgnbd", "paretonbd"):
        pred = _btyd(model, d, cut, random_state)
    else:
        if model == "naive_pace":
            pred = naive_rate(d, cut, HORIZON_DAYS, since="first")
        elif model == "gbm":
            pred = gbm_predict(d, cut, HORIZON_DAYS, random_state=random_state)
        elif model == "gbm_seasonal":
            pred = gbm_predict(d, cut, HORIZON_DAYS, random_state=random_state)
            uplift = seasonal_uplift(d, cut, HORIZON_DAYS)
            if uplift is not None:  # else: the data no longer covers a year earlier
                pred[["orders", "revenue"]] *= uplift
        elif model == "ensemble":
            a = naive_rate(d, cut, HORIZON_DAYS)
            b = gbm_predict(d, cut, HORIZON_DAYS, random_state=random_state).reindex(a.index)
            pred = (a + b) / 2
        elif model == "naive":
            pred = naive_rate(d, cut, HORIZON_DAYS)
        elif model == "hybrid":
            from clustomer.clv.hybrid import hybrid_predict

            pred = hybrid_predict(d, cut, HORIZON_DAYS, random_state=random_state)
            pred = pred.drop(columns="orders_median")
        else:
            raise ClustomerError(f"no value model called {model!r}")
        pred["clv"] = _discounted_months(pred["revenue"] / HORIZON_DAYS * _MONTH_DAYS)
    feats = features_at(d, cut).reindex(pred.index)
    conf = value_confidence(feats, n_customers=len(pred), degenerate=degenerate)

    def clean(values: pd.Series) -> np.ndarray:
        arr = np.nan_to_num(values.to_numpy(dtype=np.float64), nan=0.0, posinf=0.0)
        return np.clip(arr, 0.0, None)

    return pd.DataFrame(
        {
            "customer_key": pred.index.astype(str),
            "p_active_90d": np.clip(clean(pred["activity"]), 0.0, 1.0),
            "expected_orders_90d": clean(pred["orders"]),
            "expected_revenue_90d": clean(pred["revenue"]),
            "clv_12m": clean(pred["clv"]),
            "value_confidence": conf.to_numpy(),
        }
    ).sort_values("customer_key", kind="stable", ignore_index=True)


def value_confidence(
    features: pd.DataFrame, *, n_customers: int, degenerate: bool = False
) -> pd.Series:
    """``high`` / ``medium`` / ``low`` per customer (rules in the module docstring).

    >>> f = pd.DataFrame({"frequency": [0, 1, 4], "T": [10.0, 50, 400]})
    >>> value_confidence(f, n_customers=500).tolist()
    ['low', 'medium', 'high']
    """
    label = _confidence(
        features["frequency"].to_numpy() + 1,
        features["T"].to_numpy(),
        n_customers=n_customers,
        degenerate=degenerate,
    )
    return pd.Series(label, index=features.index, dtype="object")


def _confidence(
    purchase_days: np.ndarray, history: np.ndarray, *, n_customers: int, degenerate: bool
) -> np.ndarray:
    label = np.where(
        (purchase_days >= 3) & (history >= 180),
        "high",
        np.where(purchase_days >= 2, "medium", "low"),
    )
    if n_customers < 200 or degenerate:
        label = np.full(len(label), "low")
    return label


def pace_value(
    days: np.ndarray,
    revenue: np.ndarray,
    as_of: Any,
    *,
    n_customers: int,
    degenerate: bool = False,
) -> dict[str, Any] | None:
    """One customer's value columns with the ``naive_pace`` model, in plain numpy.

    The real-time scoring path's twin of ``customer_values(..., model="naive_pace")``
    for a single customer (same formula, :func:`~clustomer.clv.baselines.pace_forecast`;
    the tests check they agree), about a hundred times faster for one customer.

    Parameters
    ----------
    days : ndarray
        The customer's purchase days (anything ``numpy.datetime64`` takes; a day may
        repeat: its rows are one purchase day).
    revenue : ndarray
        The revenue of each row of ``days``.
    as_of : date-like
        Predictions start here; only days before it count.
    n_customers : int
        Customers with purchases in the shop (the confidence rule needs 200).
    degenerate : bool
        As in :func:`customer_values`.

    Returns
    -------
    dict or None
        The columns of :func:`customer_values` but ``customer_key``; None without a
        purchase day before ``as_of``.

    Examples
    --------
    >>> import numpy as np
    >>> v = pace_value(np.array(["2024-01-01", "2024-03-01"], dtype="datetime64[D]"),
    ...                np.array([20.0, 30.0]), "2024-04-01", n_customers=500)
    >>> round(v["expected_orders_90d"], 3), v["value_confidence"]
    (2.0, 'medium')
    """
    if isinstance(as_of, datetime) and as_of.tzinfo is None:  # the scoring path's: no parse
        start = np.datetime64(as_of.date(), "D")
    else:
        start = np.datetime64(as_day(as_of).date(), "D")
    cut = start - np.timedelta64(1, "D")
    day = np.asarray(days, dtype="datetime64[D]")
    keep = day <= cut
    if not keep.any():
        return None
    day, spend = day[keep], np.asarray(revenue, dtype=np.float64)[keep]
    purchase_days = float(np.unique(day).size)
    history = float((cut - day.min()).astype(np.int64))
    orders, rev, activity = pace_forecast(
        purchase_days, float(spend.sum()), max(history, float(HORIZON_DAYS)), HORIZON_DAYS
    )
    clv = _discounted_months(float(rev) / HORIZON_DAYS * _MONTH_DAYS)

    def clean(value: Any) -> float:
        x = float(value)
        return 0.0 if not np.isfinite(x) else max(x, 0.0)

    label = _confidence(
        np.array([purchase_days]),
        np.array([history]),
        n_customers=n_customers,
        degenerate=degenerate,
    )
    return {
        "p_active_90d": min(clean(activity), 1.0),
        "expected_orders_90d": clean(orders),
        "expected_revenue_90d": clean(rev),
        "clv_12m": clean(clv),
        "value_confidence": str(label[0]),
    }
