"""Aggregates of a backtest for its report: weekly tracking, P(alive) histograms.

Only counts and sums leave here, never customer keys.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["P_ALIVE_BINS", "p_alive_histograms", "weekly_tracking"]

#: Bins of the stored P(alive) histograms (equal width over 0..1).
P_ALIVE_BINS = 10


def p_alive_histograms(
    preds: dict[str, pd.DataFrame], degenerate: dict[str, str]
) -> dict[str, Any]:
    """Histograms of each BTYD model's P(alive), flagged when its fit is degenerate.

    >>> p = {"bgnbd": pd.DataFrame({"p_alive": [0.05, 0.95, 1.0]}), "naive": pd.DataFrame()}
    >>> p_alive_histograms(p, {})["bgnbd"]["counts"]
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    """
    edges = np.linspace(0.0, 1.0, P_ALIVE_BINS + 1)
    out: dict[str, Any] = {}
    for name, p in preds.items():
        if "p_alive" not in p:
            continue
        alive = p["p_alive"].to_numpy(dtype=np.float64)
        counts, _ = np.histogram(np.clip(alive[np.isfinite(alive)], 0.0, 1.0), bins=edges)
        out[name] = {
            "edges": [round(float(e), 2) for e in edges],
            "counts": [int(c) for c in counts],
            "degenerate": name in degenerate,
        }
    return out


def weekly_tracking(
    days: pd.DataFrame,
    population: pd.Index,
    cutoff: pd.Timestamp,
    horizon: int,
    preds: dict[str, pd.DataFrame],
) -> dict[str, Any]:
    """Weekly purchase days, actual and (in the holdout) predicted: aggregates only.

    Weeks start on ``cutoff + 1 + 7 i``, so the holdout begins a week; each model's
    expected holdout purchase days are spread evenly over the holdout days, so a week
    gets its share by the holdout days it holds (a partial last week gets less).
    """
    start = cutoff + pd.Timedelta(days=1)
    offset = (days["day"] - start).dt.days.to_numpy()
    week = np.floor_divide(offset, 7)
    lo, hi = int(week.min()), int(week.max())
    n_weeks = hi - lo + 1
    actual = np.bincount(week - lo, minlength=n_weeks)
    cohort = days["customer_key"].isin(population).to_numpy()
    actual_cohort = np.bincount(week[cohort] - lo, minlength=n_weeks)
    holdout_weeks = -(-horizon // 7)
    in_week = np.array([min(7, horizon - 7 * i) for i in range(holdout_weeks)], dtype=float)
    return {
        "weeks": [(start + pd.Timedelta(days=7 * i)).date().isoformat() for i in range(lo, hi + 1)],
        "actual": [int(v) for v in actual],
        "actual_cohort": [int(v) for v in actual_cohort],
        "holdout_start": start.date().isoformat(),
        "holdout_weeks": holdout_weeks,
        "predicted": {
            name: [round(float(v), 2) for v in p["orders"].sum() * in_week / horizon]
            for name, p in preds.items()
        },
    }
