"""Per-customer scores the plan ranks with: expected value, value at risk, "was valuable".

Definitions (per customer; a segment's expected value is the sum over its customers):

* **expected value** = ``p_active_90d × expected_revenue_90d``: the next 90 days'
  expected revenue, weighted again by the probability that the customer buys at all, so
  that revenue resting on customers unlikely to come back counts for less. It is a score
  to rank segments by, not a revenue forecast (the forecast is the sum of
  ``expected_revenue_90d``, given beside it).
* **value at risk** = ``clv_12m × (1 − p_active_90d)``: the 12-month value the shop loses
  if the customer does not come back, weighted by how likely that is.
* **was valuable**: the customer's net spend so far (``monetary``) is positive and at
  least the :data:`VALUABLE_QUANTILE` quantile of the positive spends (the top quarter);
  without a ``monetary`` column, the same rule on ``clv_12m``.

The three value columns come from the run's value model (``customer_values``). Without
them the **RFM proxy** stands in, computed from recency ``r``, frequency ``f``, net spend
``m`` and tenure ``t`` (days):

* pace: ``t' = max(t, 90)`` days; recency decay ``d = 0.5 ** (r / 90)`` (halves every
  90 days without a purchase);
* ``expected_orders_90d = f × 90 / t' × d`` (the order pace so far, decayed);
* ``expected_revenue_90d = m × 90 / t' × d`` (spend per day as a customer × 90 days,
  decayed — equal to spend per order × the decayed order count);
* ``p_active_90d = 1 − exp(−expected_orders_90d)`` (at least one order, Poisson);
* ``clv_12m = expected_revenue_90d × 365.25 / 90``.

It is a proxy: no model is fitted and nothing is backtested, so it only ranks.

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"recency_days": [0.0, 90.0], "frequency": [3, 3],
...                   "monetary": [300.0, 300.0], "tenure_days": [180.0, 180.0]})
>>> rfm_proxy(f)["expected_revenue_90d"].tolist()
[150.0, 75.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "BASIS_MODEL",
    "BASIS_PROXY",
    "MODEL_COLUMNS",
    "PROXY_HALF_LIFE_DAYS",
    "PROXY_MIN_TENURE_DAYS",
    "RFM_COLUMNS",
    "VALUABLE_QUANTILE",
    "customer_scores",
    "rfm_proxy",
    "valuable",
]

#: The value columns of a run that the plan reads (``store/values.py``).
MODEL_COLUMNS: tuple[str, ...] = ("p_active_90d", "expected_revenue_90d", "clv_12m")
#: The feature columns the RFM proxy reads.
RFM_COLUMNS: tuple[str, ...] = ("recency_days", "frequency", "monetary", "tenure_days")
#: The proxy's recency decay halves every this many days without a purchase.
PROXY_HALF_LIFE_DAYS = 90.0
#: The proxy's order pace counts at least this many days of tenure.
PROXY_MIN_TENURE_DAYS = 90.0
#: Customers at or above this quantile of positive spend "were valuable".
VALUABLE_QUANTILE = 0.75
#: ``basis`` of scores from the run's value model, and from the RFM proxy.
BASIS_MODEL = "value model"
BASIS_PROXY = "RFM proxy"

_HORIZON_DAYS = 90.0
_YEAR_DAYS = 365.25


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric column as floats, missing values as 0."""
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=0.0)
    return np.where(np.isfinite(values), values, 0.0)


def _present(frame: pd.DataFrame, columns: tuple[str, ...]) -> bool:
    if not set(columns) <= set(frame.columns) or frame.empty:
        return False
    block = frame[list(columns)].apply(pd.to_numeric, errors="coerce")
    return bool(np.isfinite(block.to_numpy(dtype=np.float64, na_value=np.nan)).any())


def rfm_proxy(features: pd.DataFrame) -> pd.DataFrame:
    """The RFM proxy of the value columns, for runs without a value model.

    Parameters
    ----------
    features : DataFrame
        ``recency_days``, ``frequency``, ``monetary``, ``tenure_days`` (missing values
        count as 0; negative spend and frequency as 0).

    Returns
    -------
    DataFrame
        Indexed like ``features``: ``expected_orders_90d``, ``expected_revenue_90d``,
        ``p_active_90d``, ``clv_12m`` (see the module's definition).

    Examples
    --------
    >>> f = pd.DataFrame({"recency_days": [10.0], "frequency": [1], "monetary": [50.0],
    ...                   "tenure_days": [10.0]})
    >>> rfm_proxy(f).round(3).loc[0, ["expected_orders_90d", "p_active_90d"]].tolist()
    [0.926, 0.604]
    """
    r = np.maximum(_column(features, "recency_days"), 0.0)
    f = np.maximum(_column(features, "frequency"), 0.0)
    m = np.maximum(_column(features, "monetary"), 0.0)
    t = np.maximum(_column(features, "tenure_days"), PROXY_MIN_TENURE_DAYS)
    decay = 0.5 ** (r / PROXY_HALF_LIFE_DAYS)
    orders = f * _HORIZON_DAYS / t * decay
    revenue = m * _HORIZON_DAYS / t * decay
    return pd.DataFrame(
        {
            "expected_orders_90d": orders,
            "expected_revenue_90d": revenue,
            "p_active_90d": -np.expm1(-orders),
            "clv_12m": revenue * _YEAR_DAYS / _HORIZON_DAYS,
        },
        index=features.index,
    )


def valuable(frame: pd.DataFrame, quantile: float = VALUABLE_QUANTILE) -> np.ndarray:
    """Which customers "were valuable": positive spend at or above its ``quantile``.

    Parameters
    ----------
    frame : DataFrame
        With ``monetary`` (net spend so far) or, failing that, ``clv_12m``.
    quantile : float
        Between 0 and 1 (0 keeps every customer with a positive spend).

    Returns
    -------
    ndarray of bool

    Examples
    --------
    >>> valuable(pd.DataFrame({"monetary": [0.0, 10, 20, 30, 40, 50]})).tolist()
    [False, False, False, False, True, True]
    """
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be between 0 and 1, got {quantile}")
    column = "monetary" if "monetary" in frame.columns else "clv_12m"
    if column not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    spend = _column(frame, column)
    positive = spend > 0
    if not positive.any():
        return positive
    return positive & (spend >= np.quantile(spend[positive], quantile))


def customer_scores(frame: pd.DataFrame) -> tuple[pd.DataFrame, str | None]:
    """The value columns (model, else proxy), expected value and value at risk.

    Parameters
    ----------
    frame : DataFrame
        One row per customer with the model's ``p_active_90d``, ``expected_revenue_90d``
        and ``clv_12m`` when the run has values, else the :data:`RFM_COLUMNS`.

    Returns
    -------
    scores : DataFrame
        Indexed like ``frame``: ``p_active_90d`` (clipped to 0..1),
        ``expected_revenue_90d``, ``clv_12m``, ``expected_value``, ``value_at_risk``;
        all 0 when there is no basis.
    basis : str or None
        :data:`BASIS_MODEL`, :data:`BASIS_PROXY`, or None (neither is available).

    Examples
    --------
    >>> f = pd.DataFrame({"p_active_90d": [0.5, 1.0], "expected_revenue_90d": [10.0, 4.0],
    ...                   "clv_12m": [100.0, 40.0]})
    >>> s, basis = customer_scores(f)
    >>> s["expected_value"].tolist(), s["value_at_risk"].tolist(), basis
    ([5.0, 4.0], [50.0, 0.0], 'value model')
    """
    if _present(frame, MODEL_COLUMNS):
        basis: str | None = BASIS_MODEL
        source = pd.DataFrame({c: _column(frame, c) for c in MODEL_COLUMNS}, index=frame.index)
    elif _present(frame, RFM_COLUMNS):
        basis = BASIS_PROXY
        source = rfm_proxy(frame)
    else:
        basis = None
        source = pd.DataFrame(0.0, index=frame.index, columns=list(MODEL_COLUMNS))
    p = np.clip(source["p_active_90d"].to_numpy(dtype=np.float64), 0.0, 1.0)
    revenue = source["expected_revenue_90d"].to_numpy(dtype=np.float64)
    clv = source["clv_12m"].to_numpy(dtype=np.float64)
    scores = pd.DataFrame(
        {
            "p_active_90d": p,
            "expected_revenue_90d": revenue,
            "clv_12m": clv,
            "expected_value": p * revenue,
            "value_at_risk": clv * (1.0 - p),
        },
        index=frame.index,
    )
    return scores, basis
