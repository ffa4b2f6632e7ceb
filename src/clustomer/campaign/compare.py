"""Treatment against control for one group of members: rates, lifts, tests, revenue.

:func:`compare_arms` takes each member's arm, conversion and revenue and returns a
:class:`Comparison`: plain, JSON-ready numbers (``None`` where a quantity is undefined,
with the reason in words) and a one-sentence summary. No customer keys leave here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clustomer.campaign.stats import (
    difference_interval,
    proportion_test,
    relative_lift,
    welch_interval,
)


@dataclass(frozen=True)
class ArmStats:
    """One arm: members, conversions, rate, revenue and revenue per customer."""

    customers: int
    conversions: int
    conversion_rate: float | None
    revenue: float
    revenue_per_customer: float | None


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one group (the whole campaign or one segment).

    Intervals are ``[lower, upper]`` at the report's confidence level; lifts are
    treatment minus (or over) control. ``measurable`` is false when there is no control
    group (or no treatment), and then every lift, test and interval is ``None``.
    """

    label: str
    treatment: ArmStats
    control: ArmStats
    measurable: bool
    confidence: float
    abs_lift: float | None = None
    abs_lift_ci: list[float] | None = None
    rel_lift: float | None = None
    rel_lift_ci: list[float] | None = None
    test: str | None = None
    test_reason: str | None = None
    z: float | None = None
    p_value: float | None = None
    revenue_diff: float | None = None
    revenue_diff_ci: list[float] | None = None
    notes: list[str] = field(default_factory=list)
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def arm_stats(converted: np.ndarray, revenue: np.ndarray) -> ArmStats:
    """Counts and means of one arm (rates ``None`` for an empty arm).

    >>> arm = arm_stats(np.array([True, False, False, True]), np.array([10.0, 0.0, -2.0, 8.0]))
    >>> arm.customers, arm.conversions, arm.conversion_rate, arm.revenue_per_customer
    (4, 2, 0.5, 4.0)
    """
    n = len(converted)
    total = float(np.sum(revenue)) if n else 0.0
    return ArmStats(
        customers=n,
        conversions=int(np.sum(converted)),
        conversion_rate=float(np.mean(converted)) if n else None,
        revenue=round(total, 10),
        revenue_per_customer=total / n if n else None,
    )


def compare_arms(label: str, members: pd.DataFrame, *, confidence: float = 0.95) -> Comparison:
    """Compare the arms of ``members`` (columns ``arm``, ``converted``, ``revenue``).

    ``arm`` is ``"treatment"`` or ``"control"``. The p-value comes from
    :func:`~clustomer.campaign.stats.proportion_test` (z-test, or Fisher's exact test
    when an expected count is below 5); the absolute lift's interval is Newcombe's hybrid
    score interval, the relative lift's Katz's log risk-ratio interval, and the revenue
    difference's Welch's t interval.

    Examples
    --------
    >>> members = pd.DataFrame({
    ...     "arm": ["treatment"] * 1000 + ["control"] * 1000,
    ...     "converted": [True] * 80 + [False] * 920 + [True] * 50 + [False] * 950,
    ...     "revenue": [20.0] * 80 + [0.0] * 920 + [20.0] * 50 + [0.0] * 950,
    ... })
    >>> c = compare_arms("overall", members)
    >>> round(c.abs_lift, 3), [round(v, 4) for v in c.abs_lift_ci], c.test
    (0.03, [0.0084, 0.052], 'z')
    >>> print(c.summary)  # doctest: +NORMALIZE_WHITESPACE
    overall: 8.0% of 1,000 converted with the campaign vs 5.0% of 1,000 without: +3.0pp
    (95% CI +0.8pp to +5.2pp), relative +60% (95% CI +14% to +125%), p = 0.0065 (z-test).
    """
    arm = members["arm"].astype(str).to_numpy()
    conv = members["converted"].astype(bool).to_numpy()
    rev = members["revenue"].astype(float).fillna(0.0).to_numpy()
    is_t = arm == "treatment"
    is_c = arm == "control"
    t = arm_stats(conv[is_t], rev[is_t])
    c = arm_stats(conv[is_c], rev[is_c])
    level = f"{confidence:.0%}"
    if c.customers == 0 or t.customers == 0:
        missing = "control group (nobody was held out)" if c.customers == 0 else "treatment"
        note = f"no {missing}: the lift cannot be measured"
        rate = t.conversion_rate if t.customers else c.conversion_rate
        who = t.customers or c.customers
        summary = f"{label}: {_pct(rate)} of {who:,} converted; {note}."
        return Comparison(label, t, c, False, confidence, notes=[note], summary=summary)

    x1, n1, x2, n2 = t.conversions, t.customers, c.conversions, c.customers
    notes: list[str] = []
    abs_lift = x1 / n1 - x2 / n2
    abs_ci = list(difference_interval(x1, n1, x2, n2, confidence))
    rel, rel_ci, rel_note = relative_lift(x1, n1, x2, n2, confidence)
    if rel_note:
        notes.append(rel_note)
    test = proportion_test(x1, n1, x2, n2)
    welch = welch_interval(rev[is_t], rev[is_c], confidence)
    if welch.reason:
        notes.append(f"revenue interval: {welch.reason}")
    rev_ci = None if welch.lower is None or welch.upper is None else [welch.lower, welch.upper]

    test_name = "z-test" if test.method == "z" else "Fisher's exact test"
    summary = (
        f"{label}: {_pct(t.conversion_rate)} of {n1:,} converted with the campaign vs "
        f"{_pct(c.conversion_rate)} of {n2:,} without: {_pp(abs_lift)} ({level} CI "
        f"{_pp(abs_ci[0])} to {_pp(abs_ci[1])})"
    )
    if rel is not None and rel_ci is not None:
        summary += f", relative {_rel(rel)} ({level} CI {_rel(rel_ci[0])} to {_rel(rel_ci[1])})"
    summary += f", p = {_p(test.p_value)} ({test_name})."
    return Comparison(
        label=label,
        treatment=t,
        control=c,
        measurable=True,
        confidence=confidence,
        abs_lift=abs_lift,
        abs_lift_ci=abs_ci,
        rel_lift=rel,
        rel_lift_ci=None if rel_ci is None else list(rel_ci),
        test=test.method,
        test_reason=test.reason,
        z=test.statistic,
        p_value=test.p_value,
        revenue_diff=welch.difference,
        revenue_diff_ci=rev_ci,
        notes=notes,
        summary=summary,
    )


def _pct(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _pp(diff: float) -> str:
    return f"{diff * 100:+.1f}pp"


def _rel(value: float) -> str:
    return f"{value:+.0%}"


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}" if p >= 0.01 else f"{p:.4f}"
