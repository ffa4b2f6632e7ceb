"""How well predicted customer values match what customers then did.

Each metric compares a prediction per customer with the holdout outcome of the same
customers, in the same order:

======================  ===========================================================
metric                  definition
======================  ===========================================================
orders_mae              mean absolute error of predicted vs actual purchase days
orders_rmse             root mean squared error of the same
orders_spearman         Spearman rank correlation of the same
revenue_mae             mean absolute error of predicted vs actual revenue
revenue_spearman        Spearman rank correlation of predicted vs actual revenue
top_decile_capture      share of holdout revenue earned by the 10% of customers ranked
                        highest by predicted revenue (ties share the last places)
auc_active              ROC AUC of the activity score against "bought in the holdout"
======================  ===========================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from clustomer.errors import ClustomerError

METRICS = (
    "orders_mae",
    "orders_rmse",
    "orders_spearman",
    "revenue_mae",
    "revenue_spearman",
    "top_decile_capture",
    "auc_active",
)


def _arrays(*values: ArrayLike) -> list[np.ndarray[Any, np.dtype[np.float64]]]:
    out = [np.asarray(v, dtype=np.float64) for v in values]
    if len({a.shape for a in out}) != 1 or out[0].ndim != 1:
        raise ClustomerError("predictions and outcomes must be 1-D and of the same length")
    if any(not np.isfinite(a).all() for a in out):
        raise ClustomerError("predictions or outcomes hold missing or infinite values")
    return out


def top_decile_capture(predicted: ArrayLike, actual: ArrayLike, share: float = 0.1) -> float:
    """Share of the actual total earned by the top ``share`` of customers by prediction.

    The top group has ``max(1, round(share × n))`` customers. Customers tied with the last
    one in share its remaining places equally (the mean over every order of the ties), so
    a constant prediction captures exactly ``share`` of any total.

    Examples
    --------
    Ten customers; the model ranks customer 0 (actual 50 of 100) first:

    >>> top_decile_capture([9, 1, 1, 1, 1, 1, 1, 1, 1, 2], [50, 0, 0, 0, 0, 0, 0, 0, 0, 50])
    0.5
    >>> top_decile_capture([1] * 10, [50, 0, 0, 0, 0, 0, 0, 0, 0, 50])
    0.1
    """
    pred, act = _arrays(predicted, actual)
    if not 0 < share <= 1:
        raise ClustomerError(f"share must be in (0, 1], not {share}")
    total = act.sum()
    if len(act) == 0 or total <= 0:
        return math.nan
    k = max(1, round(share * len(pred)))
    threshold = np.sort(pred)[::-1][k - 1]
    above = pred > threshold
    tied = pred == threshold
    weight = (k - above.sum()) / tied.sum()
    return float((act[above].sum() + weight * act[tied].sum()) / total)


def spearman(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman rank correlation; NaN when either side is constant.

    >>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 6)
    0.8
    """
    from scipy.stats import spearmanr

    x, y = _arrays(a, b)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def auc(score: ArrayLike, active: ArrayLike) -> float:
    """ROC AUC (scikit-learn's) of a score against a yes/no outcome; NaN for one class.

    >>> auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    from sklearn.metrics import roc_auc_score

    s, y = _arrays(score, active)
    if len(np.unique(y)) < 2:
        return math.nan
    return float(roc_auc_score(y > 0, s))


def score_predictions(
    orders: ArrayLike,
    revenue: ArrayLike,
    activity: ArrayLike,
    actual_orders: ArrayLike,
    actual_revenue: ArrayLike,
) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one model's predictions.

    >>> m = score_predictions([1, 0], [10, 0], [0.6, 0.1], [2, 0], [30, 0])
    >>> m["orders_mae"], m["revenue_mae"], m["auc_active"]
    (0.5, 10.0, 1.0)
    """
    o, r, a, yo, yr = _arrays(orders, revenue, activity, actual_orders, actual_revenue)
    return {
        "orders_mae": float(np.mean(np.abs(o - yo))),
        "orders_rmse": float(np.sqrt(np.mean((o - yo) ** 2))),
        "orders_spearman": spearman(o, yo),
        "revenue_mae": float(np.mean(np.abs(r - yr))),
        "revenue_spearman": spearman(r, yr),
        "top_decile_capture": top_decile_capture(r, yr),
        "auc_active": auc(a, yo > 0),
    }
