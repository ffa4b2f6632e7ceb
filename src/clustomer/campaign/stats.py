"""The statistics of a treatment-versus-control comparison, on plain counts.

Everything here takes counts (conversions ``x`` out of ``n`` members) or two samples of
revenue, and returns plain numbers or ``None`` where a quantity is not defined (an arm
with no conversions has no risk ratio). Nothing here raises on zeros, and nothing
returns NaN or infinity.

Conventions: arm 1 is the treatment, arm 2 the control; a difference is
``treatment - control``.

References
----------
- Newcombe, R. G. (1998). Interval estimation for the difference between independent
  proportions: comparison of eleven methods. *Statistics in Medicine* 17, 873-890.
  (Method 10, the hybrid score interval built from Wilson intervals.)
- Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
  inference. *JASA* 22, 209-212.
- Katz, D., Baptista, J., Azen, S. P., Pike, M. C. (1978). Obtaining confidence
  intervals for the risk ratio in cohort studies. *Biometrics* 34, 469-474.
- Fisher, R. A. (1935). *The Design of Experiments*; the two-sided p-value sums the
  probabilities of all tables no more likely than the observed one (as
  ``scipy.stats.fisher_exact`` does).
- Welch, B. L. (1947). The generalization of "Student's" problem when several
  different population variances are involved. *Biometrika* 34, 28-35.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps
from scipy.special import gammaln

#: Below this expected count in any cell of the 2x2 table the z-test's normal
#: approximation is poor, and Fisher's exact test is used instead (Cochran's rule).
MIN_EXPECTED = 5.0


def z_quantile(confidence: float) -> float:
    """The two-sided standard-normal quantile for a confidence level.

    >>> round(z_quantile(0.95), 4)
    1.96
    """
    _check_confidence(confidence)
    return float(sps.norm.ppf(0.5 + confidence / 2))


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard-normal statistic, ``P(|Z| >= |z|)``.

    >>> round(normal_two_sided_p(1.959964), 4)
    0.05
    """
    return math.erfc(abs(z) / math.sqrt(2.0))


@dataclass(frozen=True)
class TestResult:
    """A test of "the two conversion rates are equal".

    Attributes
    ----------
    method : str
        ``"z"`` (two-proportion z-test, pooled) or ``"fisher"`` (Fisher's exact test).
    p_value : float
        Two-sided.
    statistic : float or None
        The z statistic (``None`` for Fisher's test, or when every member converted or
        none did, so that the pooled variance is zero).
    reason : str
        Why this test was chosen, in plain words.
    """

    __test__ = False  # not a pytest class, despite the name

    method: str
    p_value: float
    statistic: float | None
    reason: str


def two_proportion_z(x1: int, n1: int, x2: int, n2: int) -> tuple[float | None, float]:
    """The pooled two-proportion z-test: ``(z, two-sided p)``.

    ``z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with ``p`` the pooled rate. When
    the pooled rate is 0 or 1 the rates are identical and ``z`` is undefined: the
    result is ``(None, 1.0)``.

    Examples
    --------
    >>> z, p = two_proportion_z(80, 1000, 50, 1000)
    >>> round(z, 3), round(p, 4)
    (2.721, 0.0065)
    """
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return None, 1.0
    z = (x1 / n1 - x2 / n2) / math.sqrt(var)
    return z, normal_two_sided_p(z)


def fisher_exact_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on the table ``[[x1, n1-x1], [x2, n2-x2]]``.

    Conditional on the margins, ``x1`` is hypergeometric; the p-value sums the
    probabilities of every table no more likely than the one observed (with a relative
    tolerance of 1e-7, as SciPy does, so ties are not lost to rounding).

    Examples
    --------
    >>> round(fisher_exact_p(1, 10, 9, 10), 6)   # Fisher's lady tasting tea, reshaped
    0.001093
    """
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    total = n1 + n2
    converted = x1 + x2
    lo = max(0, n1 + converted - total)
    hi = min(converted, n1)
    ks = np.arange(lo, hi + 1)
    logp = _log_hypergeom(ks, total, converted, n1)
    observed = logp[x1 - lo]
    keep = logp <= observed + math.log1p(1e-7)
    # sum in probability space relative to the largest term, for accuracy
    top = float(logp.max())
    p = float(np.exp(logp[keep] - top).sum() * math.exp(top))
    return min(1.0, p)


def proportion_test(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Test equal conversion rates: the z-test, or Fisher's test when counts are small.

    The rule: if any expected count of the 2x2 table (converted / not, by arm) under
    equal rates is below :data:`MIN_EXPECTED` (5), use Fisher's exact test; otherwise the
    pooled two-proportion z-test.

    Examples
    --------
    >>> proportion_test(80, 1000, 50, 1000).method
    'z'
    >>> proportion_test(3, 40, 0, 40).method
    'fisher'
    """
    small = min_expected_count(x1, n1, x2, n2)
    if small < MIN_EXPECTED:
        return TestResult(
            "fisher",
            fisher_exact_p(x1, n1, x2, n2),
            None,
            f"Fisher's exact test: an expected cell count is {small:.1f} (< 5)",
        )
    z, p = two_proportion_z(x1, n1, x2, n2)
    return TestResult("z", p, z, "two-proportion z-test (pooled): every expected count >= 5")


def min_expected_count(x1: int, n1: int, x2: int, n2: int) -> float:
    """The smallest expected cell count of the 2x2 table under equal rates.

    >>> min_expected_count(3, 40, 0, 40)
    1.5
    """
    total = n1 + n2
    conv = x1 + x2
    return min(r * c / total for r in (n1, n2) for c in (conv, total - conv))


def wilson_interval(x: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion ``x / n``.

    >>> [round(v, 4) for v in wilson_interval(0, 10)]
    [0.0, 0.2775]
    """
    _check_counts(x, n)
    z = z_quantile(confidence)
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for ``p1 - p2`` (Newcombe 1998, method 10).

    Built from the two Wilson intervals ``(l1, u1)`` and ``(l2, u2)``::

        lower = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)
        upper = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)

    Unlike Wald's interval it stays inside [-1, 1], is defined when an arm has no
    conversions, and keeps close to its nominal coverage at small rates (Newcombe's
    table II; the first example is checked in the tests).

    Examples
    --------
    >>> [round(v, 4) for v in difference_interval(56, 70, 48, 80)]
    [0.0524, 0.3339]
    """
    l1, u1 = wilson_interval(x1, n1, confidence)
    l2, u2 = wilson_interval(x2, n2, confidence)
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    lower = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return max(-1.0, lower), min(1.0, upper)


def relative_lift(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> tuple[float | None, tuple[float, float] | None, str | None]:
    """Relative lift ``p1 / p2 - 1`` with Katz's log risk-ratio interval.

    ``log(RR) +/- z * sqrt(1/x1 - 1/n1 + 1/x2 - 1/n2)``, exponentiated, minus one.
    Returns ``(lift, (lower, upper), None)``, or ``None`` parts and a reason when the
    ratio or its interval is undefined (no conversions in an arm).

    Examples
    --------
    >>> lift, (lo, hi), why = relative_lift(80, 1000, 50, 1000)
    >>> round(lift, 2), round(lo, 3), round(hi, 3), why
    (0.6, 0.136, 1.253, None)
    >>> relative_lift(4, 100, 0, 100)[2]
    'no conversions in the control group: the relative lift is undefined'
    """
    _check_counts(x1, n1)
    _check_counts(x2, n2)
    if x2 == 0:
        return None, None, "no conversions in the control group: the relative lift is undefined"
    lift = (x1 / n1) / (x2 / n2) - 1
    if x1 == 0:
        return (
            lift,
            None,
            "no conversions in the treatment group: no interval for the relative lift",
        )
    z = z_quantile(confidence)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
    log_rr = math.log((x1 / n1) / (x2 / n2))
    return lift, (math.exp(log_rr - z * se) - 1, math.exp(log_rr + z * se) - 1), None


@dataclass(frozen=True)
class MeanDifference:
    """A difference of means with Welch's interval (``None`` parts when undefined)."""

    difference: float
    lower: float | None
    upper: float | None
    df: float | None
    reason: str | None = None


def welch_interval(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> MeanDifference:
    """``mean(a) - mean(b)`` with Welch's t interval (unequal variances).

    ``se = sqrt(s1^2/n1 + s2^2/n2)``; degrees of freedom by Welch-Satterthwaite. Needs
    two values in each sample; when both samples are constant the interval is the
    difference itself.

    Examples
    --------
    >>> r = welch_interval([1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 2.0, 2.0])
    >>> round(r.difference, 2), round(r.lower, 3), round(r.upper, 3), round(r.df, 2)
    (1.0, -0.935, 2.935, 4.15)
    """
    _check_confidence(confidence)
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("welch_interval needs two non-empty samples")
    diff = float(x.mean() - y.mean())
    if len(x) < 2 or len(y) < 2:
        return MeanDifference(diff, None, None, None, "an arm has fewer than 2 customers")
    v1 = float(x.var(ddof=1)) / len(x)
    v2 = float(y.var(ddof=1)) / len(y)
    se2 = v1 + v2
    if se2 <= 0:
        return MeanDifference(diff, diff, diff, None, "no spread in either arm")
    df = se2 * se2 / (v1 * v1 / (len(x) - 1) + v2 * v2 / (len(y) - 1))
    t = float(sps.t.ppf(0.5 + confidence / 2, df))
    half = t * math.sqrt(se2)
    return MeanDifference(diff, diff - half, diff + half, df)


def _log_hypergeom(k: np.ndarray, total: int, converted: int, drawn: int) -> np.ndarray:
    """log P(K = k) for K ~ Hypergeometric(total, converted, drawn)."""

    def log_comb(n: float | np.ndarray, r: float | np.ndarray) -> np.ndarray:
        return np.asarray(gammaln(np.add(n, 1)) - gammaln(np.add(r, 1)) - gammaln(np.add(n, 1) - r))

    return log_comb(converted, k) + log_comb(total - converted, drawn - k) - log_comb(total, drawn)


def _check_counts(x: int, n: int) -> None:
    if n <= 0 or x < 0 or x > n:
        raise ValueError(f"need 0 <= conversions <= members and members > 0 (got {x} of {n})")


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (got {confidence})")
