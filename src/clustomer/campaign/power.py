"""Plan a campaign test: how many customers per arm to detect a lift, and what a list can.

The sample size is the standard normal-approximation formula for comparing two
proportions with a two-sided test (Fleiss, Levin & Paik 2003, *Statistical Methods for
Rates and Proportions*, 3rd ed., eq. 4.14; also Chow, Shao & Wang 2008, *Sample Size
Calculations in Clinical Research*, section 4.2), written for unequal arms::

    N = [z_a * sqrt(pbar qbar (1/t + 1/c)) + z_b * sqrt(p1 q1 / t + p0 q0 / c)]^2 / d^2

with ``N`` the whole list, ``t`` and ``c`` the treatment and control shares, ``p0`` the
baseline (control) rate, ``p1 = p0 + d`` and ``pbar = t p1 + c p0``. With equal arms
this is the textbook per-arm ``n = N / 2``. ``continuity=True`` applies the continuity
correction of Fleiss, Tytun & Ury (1980, *Biometrics* 36, 343-346), which the printed
tables of Fleiss use (0.05 vs 0.10 at 80% power: 474 per arm; 435 without).

Rates and lifts are parsed from what people type: ``"3%"`` or ``"0.03"`` for a rate;
``"2pp"`` (percentage points, absolute) or ``"20%"`` (relative to the baseline) for a
lift.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats as sps

from clustomer.errors import ClustomerError

_NUMBER = r"([+]?\d+(?:\.\d*)?|[+]?\.\d+)"


@dataclass(frozen=True)
class Lift:
    """A lift to detect: ``value`` in absolute rate units, or relative to the baseline.

    Examples
    --------
    >>> Lift(0.02).absolute(0.03)
    0.02
    >>> round(Lift(0.2, relative=True).absolute(0.03), 4)
    0.006
    """

    value: float
    relative: bool = False

    def absolute(self, baseline: float) -> float:
        """The lift in rate units (percentage points / 100) for a baseline rate."""
        return self.value * baseline if self.relative else self.value

    def describe(self) -> str:
        return f"{self.value:.0%} relative" if self.relative else f"{self.value * 100:g}pp"


def parse_rate(text: str | float) -> float:
    """A conversion rate from ``"3%"``, ``"3 %"`` or ``"0.03"`` (strictly between 0 and 1).

    A bare number of 1 or more is refused as ambiguous (``3`` could mean 3%).

    Examples
    --------
    >>> parse_rate("3%"), parse_rate("0.03"), parse_rate("2.5 %")
    (0.03, 0.03, 0.025)
    >>> parse_rate("3")
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: rate '3' is ambiguous: write 3% or 0.03
    """
    raw = str(text).strip()
    m = re.fullmatch(_NUMBER + r"\s*(%?)", raw)
    if not m:
        raise ClustomerError(f"cannot read {raw!r} as a rate: write e.g. 3% or 0.03")
    value = float(m.group(1))
    if m.group(2):
        value = round(value / 100, 12)
    elif value >= 1:
        raise ClustomerError(f"rate {raw!r} is ambiguous: write {raw}% or {value / 100:g}")
    if not 0 < value < 1:
        raise ClustomerError(f"rate {raw!r} must be above 0% and below 100%")
    return value


def parse_lift(text: str | float) -> Lift:
    """A lift from ``"2pp"`` (absolute percentage points) or ``"20%"`` (relative).

    A bare number is refused: say which kind of lift is meant.

    Examples
    --------
    >>> parse_lift("2pp")
    Lift(value=0.02, relative=False)
    >>> parse_lift("+20%")
    Lift(value=0.2, relative=True)
    >>> parse_lift("0.02")
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: lift '0.02' needs a unit: 2pp (percentage points) or ...
    """
    raw = str(text).strip()
    m = re.fullmatch(_NUMBER + r"\s*(pp|%)?", raw, flags=re.IGNORECASE)
    if not m:
        raise ClustomerError(
            f"cannot read {raw!r} as a lift: write e.g. 2pp (percentage points) "
            "or 20% (relative to the baseline)"
        )
    if not m.group(2):
        raise ClustomerError(
            f"lift {raw!r} needs a unit: 2pp (percentage points) or 20% (relative to the baseline)"
        )
    value = round(float(m.group(1)) / 100, 12)
    if value <= 0:
        raise ClustomerError(f"lift {raw!r} must be above zero")
    return Lift(value, relative=m.group(2) == "%")


def _z(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1:
        raise ClustomerError(f"alpha must be between 0 and 1 (got {alpha})")
    if not 0 < power < 1:
        raise ClustomerError(f"power must be between 0 and 1 (got {power})")
    return float(sps.norm.ppf(1 - alpha / 2)), float(sps.norm.ppf(power))


def _check_design(baseline: float, lift: float, control_share: float) -> None:
    if not 0 < baseline < 1:
        raise ClustomerError(f"the baseline rate must be between 0 and 1 (got {baseline})")
    if lift <= 0 or baseline + lift >= 1:
        raise ClustomerError(
            f"the lift must be above zero and keep the rate below 100% "
            f"(baseline {baseline:.2%} + lift {lift * 100:.3g}pp)"
        )
    if not 0 < control_share < 1:
        raise ClustomerError(f"the control share must be between 0 and 1 (got {control_share})")


def required_total(
    baseline: float,
    lift: float,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.5,
    continuity: bool = False,
) -> float:
    """The whole list (both arms) needed, unrounded; ``lift`` in absolute rate units.

    >>> round(required_total(0.05, 0.05), 1)   # 2 x 434.4 per arm
    868.9
    """
    _check_design(baseline, lift, control_share)
    za, zb = _z(alpha, power)
    t, c = 1 - control_share, control_share
    p0, p1 = baseline, baseline + lift
    pbar = t * p1 + c * p0
    root = za * math.sqrt(pbar * (1 - pbar) * (1 / t + 1 / c)) + zb * math.sqrt(
        p1 * (1 - p1) / t + p0 * (1 - p0) / c
    )
    total = (root / lift) ** 2
    if continuity:
        n1 = t * total  # treatment arm; r = control / treatment
        r = c / t
        n1 = n1 / 4 * (1 + math.sqrt(1 + 2 * (r + 1) / (n1 * r * lift))) ** 2
        total = n1 / t
    return total


@dataclass(frozen=True)
class SampleSize:
    """Customers needed in each arm (rounded up) and in all."""

    n_treatment: int
    n_control: int
    baseline: float
    lift: float
    power: float
    alpha: float
    continuity: bool

    @property
    def total(self) -> int:
        return self.n_treatment + self.n_control

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total}


def sample_size(
    baseline: float,
    lift: float | Lift,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.5,
    continuity: bool = False,
) -> SampleSize:
    """Customers per arm to detect ``lift`` over ``baseline`` (two-sided test).

    Parameters
    ----------
    baseline : float
        The control group's expected conversion rate (0.03 for 3%).
    lift : float or Lift
        The smallest lift worth detecting; a float is absolute (0.02 = 2 percentage
        points).
    power, alpha : float
        Chance of detecting a true lift of that size; two-sided significance level.
    control_share : float
        The share of the list held out as control (0.5: equal arms).
    continuity : bool
        Apply Fleiss-Tytun-Ury's continuity correction (larger, more conservative).

    Examples
    --------
    >>> sample_size(0.05, 0.05).n_treatment                    # Fleiss eq. 4.14
    435
    >>> sample_size(0.05, 0.05, continuity=True).n_treatment   # Fleiss table A.4
    474
    >>> s = sample_size(0.03, parse_lift("2pp"))
    >>> s.n_treatment, s.n_control
    (1506, 1506)
    """
    abs_lift = lift.absolute(baseline) if isinstance(lift, Lift) else float(lift)
    total = required_total(
        baseline,
        abs_lift,
        power=power,
        alpha=alpha,
        control_share=control_share,
        continuity=continuity,
    )
    eps = 1e-9  # so that 435.0000000001 from rounding noise is not 436
    return SampleSize(
        n_treatment=math.ceil(total * (1 - control_share) - eps),
        n_control=math.ceil(total * control_share - eps),
        baseline=baseline,
        lift=abs_lift,
        power=power,
        alpha=alpha,
        continuity=continuity,
    )


def power_of(
    baseline: float, lift: float, n_treatment: int, n_control: int, *, alpha: float = 0.05
) -> float:
    """The power of the pooled z-test to detect an absolute ``lift`` with these arms.

    >>> round(power_of(0.05, 0.05, 435, 435), 3)
    0.801
    """
    if n_treatment <= 0 or n_control <= 0:
        return 0.0
    za, _ = _z(alpha, 0.5)
    p0, p1 = baseline, baseline + lift
    pbar = (n_treatment * p1 + n_control * p0) / (n_treatment + n_control)
    null_se = math.sqrt(pbar * (1 - pbar) * (1 / n_treatment + 1 / n_control))
    alt_se = math.sqrt(p1 * (1 - p1) / n_treatment + p0 * (1 - p0) / n_control)
    return float(sps.norm.cdf((abs(lift) - za * null_se) / alt_se))


def minimum_detectable_lift(
    baseline: float,
    list_size: int,
    *,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.5,
    continuity: bool = False,
) -> float | None:
    """The smallest absolute lift a list of ``list_size`` can detect (None: none can).

    Solved by bisection on :func:`required_total` (which falls as the lift grows).

    >>> round(minimum_detectable_lift(0.05, 870), 3)   # 870 people: about the 5pp of 435/arm
    0.05
    """
    if list_size < 4:
        return None
    hi = (1 - baseline) * (1 - 1e-9)
    options: dict[str, Any] = {
        "power": power,
        "alpha": alpha,
        "control_share": control_share,
        "continuity": continuity,
    }
    if required_total(baseline, hi, **options) > list_size:
        return None
    lo = 0.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if required_total(baseline, mid, **options) > list_size:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-7:
            break
    return hi


@dataclass(frozen=True)
class Plan:
    """The answer of ``clustomer campaign plan``: plain data and one plain sentence."""

    baseline: float
    lift: float
    lift_text: str
    power: float
    alpha: float
    control_share: float
    needed: SampleSize
    list_size: int | None
    enough: bool | None
    power_at_list: float | None
    detectable_lift: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["needed"] = self.needed.to_dict()
        return out


def plan(
    baseline: float,
    lift: float | Lift,
    *,
    list_size: int | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    control_share: float = 0.5,
    continuity: bool = False,
    list_name: str | None = None,
) -> Plan:
    """Sample size for a lift, and whether a list of ``list_size`` is big enough.

    With a list size, the list is split by ``control_share``; the plan says whether it
    reaches the power asked for and, if not, which lift it *can* detect. ``list_name``
    names the list in the message (e.g. ``"segment Champions"``).

    Examples
    --------
    >>> p = plan(0.03, parse_lift("2pp"), list_size=1000)
    >>> p.enough, round(p.detectable_lift * 100, 2)
    (False, 3.83)
    >>> print(p.message)  # doctest: +NORMALIZE_WHITESPACE
    To detect a lift of 2pp over a 3% baseline (80% power, alpha 0.05, two-sided) you need
    1,506 customers per arm (3,012 in all). A list of 1,000 is too small: it has 36% power
    for that lift; the smallest lift it can detect with 80% power is 3.83pp (3% -> 6.83%).
    """
    lift_obj = lift if isinstance(lift, Lift) else Lift(float(lift))
    abs_lift = lift_obj.absolute(baseline)
    needed = sample_size(
        baseline,
        abs_lift,
        power=power,
        alpha=alpha,
        control_share=control_share,
        continuity=continuity,
    )
    arms = (
        f"{needed.n_treatment:,} customers per arm ({needed.total:,} in all)"
        if needed.n_treatment == needed.n_control
        else f"{needed.n_treatment:,} treatment and {needed.n_control:,} control customers "
        f"({needed.total:,} in all)"
    )
    message = (
        f"To detect a lift of {_pp(abs_lift)}"
        + (f" ({lift_obj.describe()})" if lift_obj.relative else "")
        + f" over a {_pct(baseline)} baseline ({power:.0%} power, alpha {alpha:g}, two-sided)"
        f" you need {arms}."
    )
    enough = power_at = detectable = None
    if list_size is not None:
        if list_size < 0:
            raise ClustomerError(f"the list size must be zero or more (got {list_size})")
        n_c = round(list_size * control_share)
        n_t = list_size - n_c
        power_at = power_of(baseline, abs_lift, n_t, n_c, alpha=alpha)
        enough = list_size >= needed.total
        detectable = minimum_detectable_lift(
            baseline,
            list_size,
            power=power,
            alpha=alpha,
            control_share=control_share,
            continuity=continuity,
        )
        what = f"{list_name} ({list_size:,} customers)" if list_name else f"A list of {list_size:,}"
        if enough:
            message += f" {what} is enough ({_share(power_at)} power)."
        else:
            message += f" {what} is too small: it has {_share(power_at)} power for that lift; "
            if detectable is None:
                message += f"it cannot reliably detect any lift with {power:.0%} power."
            else:
                message += (
                    f"the smallest lift it can detect with {power:.0%} power is "
                    f"{_pp(detectable)} ({_pct(baseline)} -> {_pct(baseline + detectable)})."
                )
    return Plan(
        baseline=baseline,
        lift=abs_lift,
        lift_text=lift_obj.describe(),
        power=power,
        alpha=alpha,
        control_share=control_share,
        needed=needed,
        list_size=list_size,
        enough=enough,
        power_at_list=power_at,
        detectable_lift=detectable,
        message=message,
    )


def _share(p: float) -> str:
    if p > 0.99:
        return "over 99%"
    if p < 0.01:
        return "under 1%"
    return f"{p:.0%}"


def _pct(rate: float) -> str:
    return f"{rate * 100:.3g}%"


def _pp(lift: float) -> str:
    return f"{lift * 100:.3g}pp"
