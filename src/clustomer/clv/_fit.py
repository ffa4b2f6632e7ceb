"""Shared maximum-likelihood machinery of the customer-value models.

:func:`fit_mle` minimises a negative log-likelihood over positive parameters in
log-parameter space (L-BFGS-B with box bounds) from several deterministic starts and
reports the best run as an :class:`MLEResult`. A model supplies the likelihood, a start and
(optionally) the gradient; rescaling of time or money units is the model's business (the
bounds ``exp(+-LOG_BOUND)`` are meant for parameters of order one, e.g. time measured in
units of the mean customer age). :func:`check_summary` and :func:`check_horizon` validate
the ``(frequency, recency, T)`` summary that BG/NBD and Pareto/NBD share.

Examples
--------
>>> import numpy as np
>>> def nll(theta):  # an exponential sample of rate 2: NLL = -(n log lam - lam sum)
...     lam = theta[0]
...     return -(100 * np.log(lam) - lam * 50.0), np.array([-(100 / lam - 50.0)])
>>> res = fit_mle(nll, {"lam": 1.0}, n_obs=100, n_starts=2)
>>> round(res.params["lam"], 4), res.converged, res.n_starts
(2.0, True, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize

from clustomer.errors import ClustomerError

__all__ = [
    "AT_BOUND",
    "LOG_BOUND",
    "MLEResult",
    "check_horizon",
    "check_summary",
    "check_vector",
    "fit_mle",
]

Array = NDArray[np.float64]
#: Search box of every log-parameter: ``-LOG_BOUND <= log(theta) <= LOG_BOUND``.
LOG_BOUND = 12.0
#: A log-parameter within this distance of a bound counts as "at the bound".
AT_BOUND = 0.05
#: Fixed log-space offsets of the first starts (added to the model's start); more are jittered.
_OFFSETS = ((0.0, 0.0), (-0.7, -0.7), (0.7, 0.7), (-1.0, 1.0), (1.0, -1.0))


@dataclass(frozen=True)
class MLEResult:
    """Outcome of :func:`fit_mle`.

    Attributes
    ----------
    params : dict of str to float
        Best parameters, natural scale, in the order of the ``start`` mapping.
    log_likelihood : float
        ``-nll(params)``: total log-likelihood, without the penalty.
    converged : bool
        scipy's ``success`` flag of the best run.
    n_starts : int
        Number of optimiser runs made.
    messages : tuple of str
        scipy's message of each run, best run first.
    n_agree : int
        Runs whose objective is within ``1e-6`` (relative) of the best (1 = only the best).
    at_lower, at_upper : tuple of str
        Names of parameters within :data:`AT_BOUND` of the lower / upper log bound.
    """

    params: dict[str, float]
    log_likelihood: float
    converged: bool
    n_starts: int
    messages: tuple[str, ...]
    n_agree: int
    at_lower: tuple[str, ...]
    at_upper: tuple[str, ...]


def fit_mle(
    nll: Callable[[Array], float | tuple[float, Array]],
    start: Mapping[str, float],
    *,
    n_obs: float,
    n_starts: int = 5,
    random_state: int | None = 0,
    penalizer: float = 0.0,
    jitter: float = 1.0,
) -> MLEResult:
    """Maximum likelihood over positive parameters, in log space, from several starts.

    Parameters
    ----------
    nll : callable
        ``nll(theta)`` with ``theta`` a float array of the natural (positive) parameters in
        the order of ``start``; returns the total negative log-likelihood, or a pair
        ``(value, gradient)`` with the gradient with respect to ``theta`` (then the
        optimiser uses it; otherwise finite differences). A non-finite value is treated as
        a very bad point (``1e10``), so the likelihood may return NaN/inf off its domain.
    start : mapping of str to float
        Parameter names and the first starting point (natural scale, > 0).
    n_obs : float
        Number of observations (or total weight): the objective is the *mean* negative
        log-likelihood, which keeps the optimiser's tolerances independent of data size.
    n_starts : int, default 5
        Optimiser runs. Run ``k`` starts at ``log(start) + offset_k`` with five fixed
        offsets (0; all -0.7; all +0.7; -1 for the first half of the parameters and +1 for
        the rest; the reverse); runs beyond five add ``Normal(0, jitter)`` noise drawn from
        ``numpy.random.default_rng(random_state)``. The best objective wins.
    random_state : int or None, default 0
        Seed of the jitter (results are deterministic for a fixed seed).
    penalizer : float, default 0.0
        Weight ``c`` of the L2 penalty ``c * sum(log(theta)**2)`` added to the mean
        negative log-likelihood (shrinks every parameter toward 1); 0 gives the plain MLE.
    jitter : float, default 1.0
        Standard deviation of the log-space noise of the random starts.

    Returns
    -------
    MLEResult

    Raises
    ------
    ClustomerError
        On a bad ``n_starts``, ``penalizer`` or ``start``.
    """
    if isinstance(n_starts, bool) or not isinstance(n_starts, int | np.integer) or n_starts < 1:
        raise ClustomerError(f"n_starts must be a positive integer, got {n_starts!r}")
    if not np.isfinite(penalizer) or penalizer < 0:
        raise ClustomerError(f"penalizer must be a number >= 0, got {penalizer!r}")
    names = tuple(start)
    x0 = np.array([start[k] for k in names], dtype=np.float64)
    if not (np.isfinite(x0).all() and (x0 > 0).all()):
        raise ClustomerError(f"start values must be positive and finite, got {dict(start)}")
    k, scale = len(names), 1.0 / max(float(n_obs), 1.0)

    def objective(phi: Array) -> tuple[float, Array]:
        theta = np.exp(phi)
        out = nll(theta)
        value, grad = out if isinstance(out, tuple) else (out, None)
        f = float(value) * scale + penalizer * float(phi @ phi)
        if not np.isfinite(f):
            return 1e10, np.zeros(k)
        if grad is None:
            return f, np.full(k, np.nan)
        g = np.asarray(grad, dtype=np.float64) * theta * scale + 2.0 * penalizer * phi
        return f, (g if np.isfinite(g).all() else np.zeros(k))

    probe = nll(x0)
    has_grad = isinstance(probe, tuple)
    rng = np.random.default_rng(random_state)
    bounds = [(-LOG_BOUND, LOG_BOUND)] * k
    runs = []
    for i in range(int(n_starts)):
        off = _OFFSETS[i] if i < len(_OFFSETS) else (0.0, 0.0)
        phi0 = np.log(x0) + np.where(np.arange(k) < (k + 1) // 2, off[0], off[1])
        if i >= len(_OFFSETS):
            phi0 = phi0 + rng.normal(0.0, jitter, k)
        fun = objective if has_grad else (lambda p: objective(p)[0])
        res = minimize(
            fun,
            np.clip(phi0, -LOG_BOUND, LOG_BOUND),
            jac=has_grad,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-9},
        )
        runs.append(res)
    runs.sort(key=lambda r: float(r.fun))
    best = runs[0]
    phi = np.asarray(best.x, dtype=np.float64)
    theta = np.exp(phi)
    final = nll(theta)
    value = float(final[0] if isinstance(final, tuple) else final)
    tol = 1e-6 * max(1.0, abs(float(best.fun)))
    return MLEResult(
        params={n: float(v) for n, v in zip(names, theta, strict=True)},
        log_likelihood=-value,
        converged=bool(best.success),
        n_starts=len(runs),
        messages=tuple(str(r.message) for r in runs),
        n_agree=sum(1 for r in runs if float(r.fun) - float(best.fun) <= tol),
        at_lower=tuple(n for n, p in zip(names, phi, strict=True) if p <= AT_BOUND - LOG_BOUND),
        at_upper=tuple(n for n, p in zip(names, phi, strict=True) if p >= LOG_BOUND - AT_BOUND),
    )


def check_vector(name: str, raw: ArrayLike) -> Array:
    """``raw`` as a 1-D float array (scalars become length 1): finite and >= 0, or raise."""
    try:
        a = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ClustomerError(f"{name} must be numbers: {exc}") from None
    a = np.atleast_1d(a)
    if a.ndim != 1:
        raise ClustomerError(f"{name} must be one value per customer (1-D), got {a.ndim}-D")
    bad = ~np.isfinite(a)
    if bad.any():
        raise ClustomerError(f"{name} has {int(bad.sum())} missing or infinite values")
    neg = a < 0
    if neg.any():
        i = int(np.argmax(neg))
        raise ClustomerError(f"{name} has {int(neg.sum())} negative values (row {i}: {a[i]})")
    return a


def check_summary(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[Array, ...]:
    """Validate a ``(frequency, recency, T)`` customer summary; return three float arrays.

    ``frequency`` is the number of repeat purchases ``x`` (whole numbers), ``recency`` the
    customer's age at the last repeat purchase ``t_x`` (0 when ``x = 0``; *not* the RFM
    "time since the last purchase") and ``T`` the age at the end of the observation period,
    all in one time unit. Scalars count as one customer.

    Raises
    ------
    ClustomerError
        Naming the problem: not numbers, not 1-D, missing or infinite values, negative
        values, lengths differ, no customers, frequency not whole, recency > T, frequency
        > 0 with recency 0, or frequency 0 with recency > 0.

    Examples
    --------
    >>> x, tx, T = check_summary([0, 2], [0.0, 30.4], [38.9, 38.9])
    >>> x.tolist()
    [0.0, 2.0]
    >>> check_summary([1], [40.0], [38.9])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: recency is greater than T for 1 customer(s) (row 0: ...
    """
    x = check_vector("frequency", frequency)
    tx = check_vector("recency", recency)
    age = check_vector("T", T)
    if not len(x) == len(tx) == len(age):
        raise ClustomerError(
            f"frequency, recency and T lengths differ ({len(x)}, {len(tx)}, {len(age)})"
        )
    if len(x) == 0:
        raise ClustomerError("no customers: frequency, recency and T are empty")
    hint = (
        "; recency is the age at the last repeat purchase (0 without one), not the time "
        "since the last purchase"
    )
    rules = (
        (x != np.round(x), "frequency must be whole numbers of repeat purchases", ""),
        (tx > age, "recency is greater than T", hint),
        ((x > 0) & (tx == 0), "frequency > 0 with recency 0", hint),
        ((x == 0) & (tx > 0), "recency > 0 with frequency 0", hint),
    )
    for bad, what, why in rules:
        if bad.any():
            i = int(np.argmax(bad))
            raise ClustomerError(
                f"{what} for {int(bad.sum())} customer(s) (row {i}: frequency {x[i]:g}, "
                f"recency {tx[i]:g}, T {age[i]:g}){why}"
            )
    return x, tx, age


def check_horizon(t: ArrayLike, n: int) -> Array:
    """Validate a prediction horizon: a scalar or one value per customer (``n``), >= 0.

    Examples
    --------
    >>> check_horizon(39, 3).tolist()
    [39.0, 39.0, 39.0]
    """
    a = check_vector("t (the horizon)", t)
    if len(a) not in (1, n):
        raise ClustomerError(f"t must be a scalar or one value per customer ({n}), got {len(a)}")
    return np.broadcast_to(a, (n,)).astype(np.float64)
