"""The Pareto/NBD customer-base model, fitted by maximum likelihood.

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``
and stays alive for an exponential lifetime with rate ``mu ~ Gamma(s, beta)``
(Schmittlein, Morrison & Colombo 1987, "Counting your customers: who are they and what
will they do next?", *Management Science* 33(1):1-24). A customer is summarised by the
number of repeat purchases ``x``, the time of the last one ``t_x`` and the age ``T``.

The likelihood follows Fader & Hardie (2005), "A note on deriving the Pareto/NBD model and
related expressions": ``L = Gamma(r+x) alpha^r beta^s / Gamma(r) * {(alpha+T)^-(r+x)
(beta+T)^-s + s/(r+s+x) A0}``, with ``A0 / (r+s+x) = F(t_x) - F(T)`` and ``F(t)`` the tail
integral of ``(alpha+u)^-(r+x) (beta+u)^-(s+1)`` from ``t``. ``F`` is the note's Gauss
2F1, taken around ``max(alpha, beta)`` (their two cases ``alpha >= beta`` and ``alpha <
beta``) so that its argument ``z = |alpha-beta| / (max+t)`` stays in [0, 1), and
Euler-transformed to ``2F1(1, b; c; z)`` with ``c > b``: a series of positive terms between
1 and ``1/(1-z)``, which cannot overflow. For ``z > 0.9``, where scipy's 2F1 is slow and
fails for large ``x``, and wherever it breaks those bounds, ``F`` comes from a quadrature
instead (:func:`_log_j_quad`, agreeing with the 2F1 to ~1e-13). Everything is in logs,
the difference ``F(t_x) - F(T)`` as ``log F(t_x) + log(-expm1(.))``, so no customer
(one-time buyers, ``T = 0``, ``alpha = beta``, large ``x``) gets NaN or inf. P(alive) and
the conditional expectation are the same notes' expressions, in the same terms.

Fitting works on distinct ``(x, t_x, T)`` rows with counts and evaluates ``F`` once per
distinct ``(x, t)``; time is rescaled to units of the mean age, so ``alpha``, ``beta`` and
the search box are unit-free. L-BFGS-B runs in log-parameter space from several starts; on
more than 10,000 distinct customers the starts are screened on a random subsample of
10,000 and only the best is polished on all customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import expit, gammaln, hyp2f1

from clustomer.errors import ClustomerError

__all__ = ["ParetoNBD", "simulate_paretonbd"]

Array = NDArray[np.float64]
_NAMES = ("r", "alpha", "s", "beta")
_LOG_BOUND = 12.0  # |log parameter| limit; alpha and beta are in units of the mean age
_AT_BOUND = 0.05  # log-distance from a bound that counts as "at the bound"
_SUBSAMPLE = 10_000  # above this many distinct customers, multi-start on a subsample
_MIN_DROPOUT = 0.01  # rule: share expected to drop out by the oldest age
_LR_CRIT = 2.71  # rule: 2 (LL - LL of the no-dropout NBD limit); 5% level, boundary test
_ALIVE_P, _ALIVE_SHARE = 0.99, 0.99  # rule: P(alive) >= _ALIVE_P for >= _ALIVE_SHARE
_Z_MAX = 0.9  # above this 2F1 argument, quadrature replaces scipy's hyp2f1


def _check(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[Array, Array, Array]:
    """Validate the customer summary and return it as three float arrays."""
    arrays = []
    for name, raw in (("frequency", frequency), ("recency", recency), ("T", T)):
        try:
            a = np.atleast_1d(np.asarray(raw, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ClustomerError(f"{name} must be numbers: {exc}") from None
        if a.ndim != 1:
            raise ClustomerError(f"{name} must be one value per customer (1-D), got {a.ndim}-D")
        if not np.isfinite(a).all():
            raise ClustomerError(f"{name} has missing or infinite values")
        if (a < 0).any():
            raise ClustomerError(f"{name} has negative values ({int((a < 0).sum())} customers)")
        arrays.append(a)
    x, tx, age = arrays
    if not len(x) == len(tx) == len(age):
        raise ClustomerError(
            f"frequency, recency and T lengths differ ({len(x)}, {len(tx)}, {len(age)})"
        )
    if len(x) == 0:
        raise ClustomerError("no customers: frequency, recency and T are empty")
    if (x != np.round(x)).any():
        raise ClustomerError("frequency must be whole numbers of repeat purchases")
    if (tx > age).any():
        raise ClustomerError(f"recency is greater than T for {int((tx > age).sum())} customers")
    if ((x == 0) & (tx > 0)).any():
        raise ClustomerError("recency must be 0 for customers with frequency 0")
    return x, tx, age


def _check_t(t: ArrayLike, n: int | None = None) -> Array:
    """Validate a horizon: finite, >= 0 and, with ``n`` customers, a scalar or n values."""
    a = np.asarray(t, dtype=np.float64)
    if not np.isfinite(a).all() or (a < 0).any():
        raise ClustomerError("the horizon t must be finite and non-negative")
    if n is not None and a.ndim > 0 and a.shape != (n,):
        raise ClustomerError(f"t must be a scalar or one value per customer ({n}): {a.shape}")
    return a


def _log_f(p: Array, x: Array, t: Array) -> Array:
    """log F(t): log of the integral of (alpha+u)^-(r+x) (beta+u)^-(s+1) over u > t.

    ``F = (hi+t)^-a J`` with ``a = r+s+x``, ``hi = max(alpha, beta)``, ``omega = (lo+t) /
    (hi+t)``, ``z = 1 - omega`` and ``J = omega^(1-e) 2F1(1, a+1-e; a+1; z) / a``, where
    ``e = s+1`` if ``alpha >= beta`` else ``r+x`` (Fader & Hardie's A0, Euler-transformed).
    For ``z > 0.9`` (scipy's 2F1 there is slow, loses ``omega = 1-z`` near 1 and fails for
    large ``a``; its Pfaff-transformed form is silently wrong for ``a > 20``) and wherever
    the 2F1 breaks its bounds ``1 <= 2F1 <= 1/omega`` (``<= a/(e-1)`` if e > 1), ``J``
    comes from quadrature instead.
    """
    r, alpha, s, beta = p
    a = r + s + x
    e = np.broadcast_to(s + 1.0 if alpha >= beta else r + x, a.shape)
    lo, hi = min(alpha, beta), max(alpha, beta)
    log_hi = np.log(hi + t)
    log_om = np.log(lo + t) - log_hi
    z = (hi - lo) / (hi + t)
    with np.errstate(all="ignore"):
        log_s = np.log(hyp2f1(1.0, a + 1.0 - e, a + 1.0, np.minimum(z, _Z_MAX)))
        cap = np.where(e > 1.0, np.minimum(-log_om, np.log(a / (e - 1.0))), -log_om)
        bad = (z > _Z_MAX) | ~((log_s >= -1e-12) & (log_s <= cap + 1e-9))
    log_j = (1.0 - e) * log_om + log_s - np.log(a)
    if bad.any():
        log_j[bad] = _log_j_quad(a[bad], e[bad], z[bad], log_om[bad])
    return np.asarray(-a * log_hi + log_j, dtype=np.float64)


def _log_j_quad(a: Array, e: Array, z: Array, log_om: Array) -> Array:
    """``log J = log int_0^inf f(v) dv``, ``f = exp(-a v) (omega + z (1 - exp(-v)))^-e``.

    Midpoint rule in ``q = log v`` (step <= 0.3; the integrand decays doubly exponentially
    for large v, so the rule converges geometrically) from ``v0 = 1e-8 / kappa`` to
    ``40 / a``, where ``kappa = a + e z / omega = -f'(0) / f(0)``; the piece below ``v0``
    is ``v0 f(0) (1 - kappa v0 / 2)``, less the rule's Euler-Maclaurin end term.
    """
    with np.errstate(divide="ignore"):
        log_z = np.log(z)
    log_v0 = np.maximum(np.log(1e-8) - np.log(a + e * np.exp(log_z - log_om)), -690.0)
    q_hi = np.log(40.0 / a)
    out = np.empty(len(a))
    for i in range(0, len(a), 1024):
        c = slice(i, i + 1024)
        width = q_hi[c] - log_v0[c]
        n = int(np.ceil(width.max() / 0.3)) + 8
        q = log_v0[c, None] + width[:, None] * ((np.arange(n) + 0.5) / n)
        v = np.exp(q)
        if (log_om[c] > -700.0).all():  # omega + z (1 - e^-v), directly
            rise = np.log(np.exp(log_om[c, None]) - z[c, None] * np.expm1(-v))
        else:  # omega underflows: in logs
            with np.errstate(divide="ignore"):
                rise = np.logaddexp(log_om[c, None], log_z[c, None] + np.log(-np.expm1(-v)))
        phi = q - a[c, None] * v - e[c, None] * rise
        top = phi.max(axis=1)
        body = top + np.log(np.exp(phi - top[:, None]).sum(axis=1) * (width / n))
        head = log_v0[c] - e[c] * log_om[c] + np.log1p(-0.5e-8 - (width / n) ** 2 / 24.0)
        out[c] = np.logaddexp(body, head)
    return out


def _unique_rows(*cols: Array) -> tuple[Array, NDArray[np.intp], Array]:
    """Distinct rows of the columns (lexsort; much faster than ``np.unique(axis=0)``)."""
    order = np.lexsort(cols[::-1])
    srt = np.column_stack([c[order] for c in cols])
    new = np.ones(len(srt), dtype=bool)
    new[1:] = (srt[1:] != srt[:-1]).any(axis=1)
    group = np.cumsum(new) - 1
    inverse = np.empty(len(srt), dtype=np.intp)
    inverse[order] = group
    return srt[new], inverse, np.bincount(group).astype(np.float64)


@dataclass(frozen=True)
class _Data:
    """Distinct customers (with counts) and the distinct (x, t) points F is needed at."""

    x: Array
    tx: Array
    T: Array
    weight: Array
    px: Array
    pt: Array
    i_tx: NDArray[np.intp]
    i_T: NDArray[np.intp]

    @classmethod
    def build(cls, x: Array, tx: Array, T: Array) -> _Data:
        rows, _, cnt = _unique_rows(x, tx, T)
        n = len(rows)
        both_x = np.concatenate([rows[:, 0], rows[:, 0]])
        pts, pinv, _ = _unique_rows(both_x, np.concatenate([rows[:, 1], rows[:, 2]]))
        return cls(
            rows[:, 0], rows[:, 1], rows[:, 2], cnt, pts[:, 0], pts[:, 1], pinv[:n], pinv[n:]
        )

    def parts(self, p: Array) -> tuple[Array, Array]:
        """log of the two likelihood terms (alive at T; dropped out in (t_x, T])."""
        r, alpha, s, beta = p
        lf = _log_f(p, self.px, self.pt)
        lf_tx, lf_T = lf[self.i_tx], lf[self.i_T]
        with np.errstate(divide="ignore"):
            log_i = lf_tx + np.log(-np.expm1(np.minimum(lf_T - lf_tx, 0.0)))
        first = -(r + self.x) * np.log(alpha + self.T) - s * np.log(beta + self.T)
        return first, np.log(s) + log_i

    def loglik(self, p: Array) -> Array:
        r, alpha, s, beta = p
        first, second = self.parts(p)
        head = gammaln(r + self.x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        return np.asarray(head + np.logaddexp(first, second), dtype=np.float64)


def _minimise(
    data: _Data, starts: list[Array], penalizer: float, ftol: float = 2.2e-9
) -> tuple[Array, Any]:
    """L-BFGS-B in log-parameter space from each start; the best result."""
    total = float(data.weight.sum())

    def objective(theta: Array) -> float:
        ll = float(data.weight @ data.loglik(np.exp(theta)))
        value = -ll / total + penalizer * float(theta @ theta)
        return value if np.isfinite(value) else 1e10

    best: Any = None
    for start in starts:
        res = minimize(
            objective,
            np.clip(start, -_LOG_BOUND, _LOG_BOUND),
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options={"maxiter": 1000, "ftol": ftol},
        )
        if best is None or res.fun < best.fun:
            best = res
    return np.asarray(best.x, dtype=np.float64), best


def _nbd_loglik(data: _Data, start: float) -> float:
    """Maximised log-likelihood of the no-dropout limit ``s/beta -> 0`` (the NBD model)."""
    x, age, w = data.x, data.T, data.weight

    def nll(th: Array) -> float:
        r, alpha = np.exp(th)
        ll = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + age)
        return float(-(w @ ll) / w.sum())

    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * 2
    res = minimize(nll, np.array([0.0, start]), method="L-BFGS-B", bounds=bounds)
    return float(-res.fun * w.sum())


def _degenerate_reasons(
    x: Array, age: Array, theta: Array, p: Array, lr_stat: float, n_alive: float
) -> list[str]:
    """The rules of :meth:`ParetoNBD.fit` that hold, in words."""
    reasons = []
    if not (x > 0).any():
        reasons.append("no customer made a repeat purchase")
    for name, th in zip(_NAMES, theta, strict=True):
        if _LOG_BOUND - abs(th) < _AT_BOUND:
            reasons.append(f"{name} is at its search bound")
    dropped = -np.expm1(-p[2] * np.log1p(age.max() / p[3]))
    if dropped < _MIN_DROPOUT or lr_stat < _LR_CRIT:
        reasons.append(
            f"no dropout identified ({dropped:.2%} expected to drop out by the oldest age; "
            f"likelihood ratio {lr_stat:.2f} against no dropout)"
        )
    share = n_alive / len(x)
    if share >= _ALIVE_SHARE:
        reasons.append(f"P(alive) >= {_ALIVE_P} for {share:.1%} of customers")
    return reasons


class ParetoNBD:
    """Pareto/NBD model of purchase counts and dropout (Schmittlein et al. 1987).

    Parameters
    ----------
    n_starts : int, default 5
        Deterministic optimiser starts (the first five fixed, any further ones jittered by
        ``random_state``); the best likelihood wins.
    penalizer : float, default 0.0
        Weight ``c`` of the penalty ``c * sum(log(theta)**2)`` (``alpha``, ``beta`` in units
        of the mean age) added to the mean negative log-likelihood, shrinking every parameter
        toward 1; 0 gives the plain MLE.
    random_state : int, default 0
        Seeds the extra starts and, above 10,000 distinct customers, the subsample the starts
        are screened on before the best is polished on all customers.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``s``, ``beta`` (``alpha``, ``beta`` in the input's time unit).
    log_likelihood_ : float
        Total log-likelihood of the fitted data at ``params_``.
    converged_, fit_message_ : bool, str
        The optimiser's verdict on the final run.
    degenerate_, degenerate_reason_ : bool, str or None
        Whether the fit is one to distrust, and why (see ``fit``).

    Examples
    --------
    >>> import numpy as np
    >>> x, tx, T = simulate_paretonbd(np.full(2000, 52.0), 0.5, 8.0, 0.5, 12.0, random_state=1)
    >>> model = ParetoNBD(n_starts=2).fit(x, tx, T)
    >>> sorted(model.params_), model.converged_, model.degenerate_
    (['alpha', 'beta', 'r', 's'], True, False)
    >>> p = model.probability_alive([0, 6, 6], [0.0, 50.0, 10.0], [52.0, 52.0, 52.0])
    >>> bool(p[1] > p[0] > p[2])
    True
    """

    def __init__(self, n_starts: int = 5, penalizer: float = 0.0, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.penalizer = penalizer
        self.random_state = random_state

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> ParetoNBD:
        """Fit by maximum likelihood; flag degenerate fits.

        The fit is marked ``degenerate_`` when any rule holds: (1) nobody made a repeat
        purchase (rates are not identified); (2) a parameter ends within 5% of its search
        bound (``exp(+-12)``, ``alpha``/``beta`` in units of the mean age): the optimum lies
        at infinity or zero; (3) no dropout is identified (``s/beta -> 0``): fewer than 1% of
        customers are expected to have dropped out by the oldest age, ``1 - (beta/(beta +
        max T))^s < 0.01``, or the likelihood ratio ``2 (LL - LL_NBD)`` against the
        no-dropout limit (the NBD model, fitted too) is below 2.71 (a 5% boundary test);
        (4) P(alive) >= 0.99 for at least 99% of customers.
        Predictions stay finite in all these cases.
        """
        if not isinstance(self.n_starts, int | np.integer) or self.n_starts < 1:
            raise ClustomerError(f"n_starts must be a positive integer, got {self.n_starts!r}")
        if not np.isfinite(self.penalizer) or self.penalizer < 0:
            raise ClustomerError(f"penalizer must be >= 0, got {self.penalizer!r}")
        x, tx, age = _check(frequency, recency, T)
        scale = float(age.mean()) if age.mean() > 0 else 1.0
        full = _Data.build(x, tx / scale, age / scale)
        rng = np.random.default_rng(self.random_state)
        lr = np.log(max(float(x.mean()), 1e-3))  # r/alpha ~ mean repeat purchases per unit
        fixed = [(0, 0, 0, 0), (-0.7, -0.7, -0.7, -0.7), (0.7, 0.7, 0.7, 0.7), (0, 0, -1, 1)]
        fixed.append((0, 0, 1, -1))
        starts = [np.array([0.0, -lr, 0.0, 0.0]) + d for d in fixed[: self.n_starts]]
        for _ in range(self.n_starts - len(starts)):
            starts.append(starts[0] + rng.normal(0.0, 1.0, 4))
        if len(full.x) > _SUBSAMPLE:  # screen the starts loosely on a subsample
            idx = rng.choice(len(x), _SUBSAMPLE, replace=False)
            sub = _Data.build(x[idx], tx[idx] / scale, age[idx] / scale)
            starts = [_minimise(sub, starts, self.penalizer, ftol=1e-6)[0]]
        theta, res = _minimise(full, starts, self.penalizer)
        p = np.exp(theta) * np.array([1.0, scale, 1.0, scale])
        self.params_ = dict(zip(_NAMES, (float(v) for v in p), strict=True))
        self.converged_ = bool(res.success)
        self.fit_message_ = str(res.message)
        ll_scaled = float(full.weight @ full.loglik(np.exp(theta)))
        # The density of x purchase times carries scale^-x when time is rescaled.
        self.log_likelihood_ = ll_scaled - float(x.sum()) * np.log(scale)
        lr_stat = 2.0 * (ll_scaled - _nbd_loglik(full, -lr))
        alive = expit(np.subtract(*full.parts(np.exp(theta))))
        n_alive = float(full.weight @ (alive >= _ALIVE_P))
        reasons = _degenerate_reasons(x, age, theta, p, lr_stat, n_alive)
        self.degenerate_ = bool(reasons)
        self.degenerate_reason_ = "; ".join(reasons) if reasons else None
        return self

    def _params(self) -> Array:
        if not hasattr(self, "params_"):
            raise ClustomerError("the Pareto/NBD model is not fitted yet: call fit first")
        return np.array([self.params_[k] for k in _NAMES], dtype=np.float64)

    def _customers(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> _Data:
        x, tx, age = _check(frequency, recency, T)
        n = np.arange(len(x))  # no dedup for predictions: keep customer order
        both_t = np.concatenate([tx, age])
        return _Data(x, tx, age, np.ones(len(x)), np.concatenate([x, x]), both_t, n, n + len(x))

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """Per-customer log-likelihood at the fitted parameters."""
        return self._customers(frequency, recency, T).loglik(self._params())

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """P(still alive at T | x, t_x, T) for each customer."""
        first, second = self._customers(frequency, recency, T).parts(self._params())
        return np.asarray(expit(first - second), dtype=np.float64)

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Array:
        """Expected purchases in (T, T+t] given the customer's history.

        ``E = P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]``
        (Schmittlein et al. 1987; Fader & Hardie 2005), with its limit at s = 1.
        ``t`` is a scalar or one horizon per customer.
        """
        p = self._params()
        data = self._customers(frequency, recency, T)
        alive = expit(np.subtract(*data.parts(p)))
        growth = _dropout_growth(p[2], p[3] + data.T, _check_t(t, len(data.x)))
        return np.asarray(alive * (p[0] + data.x) / (p[1] + data.T) * growth, dtype=np.float64)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """Expected purchases in (0, t] of a new customer: ``r beta / (alpha (s-1)) [...]``."""
        r, alpha, s, beta = self._params()
        return np.asarray(r / alpha * _dropout_growth(s, beta, _check_t(t)), dtype=np.float64)


def _dropout_growth(s: float, b: Array | float, t: Array) -> Array:
    """``b / (s-1) [1 - (b/(b+t))^(s-1)]``, the expected alive time in (0, t], s=1 safe."""
    lq = np.log1p(t / b)  # -log(b/(b+t)) >= 0
    sm1 = s - 1.0
    if abs(sm1) < 1e-10:
        return np.asarray(b * lq, dtype=np.float64)
    return np.asarray(-b * np.expm1(-sm1 * lq) / sm1, dtype=np.float64)


def simulate_paretonbd(
    T: ArrayLike, r: float, alpha: float, s: float, beta: float, random_state: int = 0
) -> tuple[Array, Array, Array]:
    """Draw (frequency, recency, T) from the Pareto/NBD model for customers of ages ``T``.

    Examples
    --------
    >>> x, tx, T = simulate_paretonbd([10.0, 20.0], 1.0, 1.0, 0.5, 5.0)
    >>> bool((tx <= T).all()) and bool((x >= 0).all())
    True
    """
    rng = np.random.default_rng(random_state)
    age = np.asarray(T, dtype=np.float64)
    lam = rng.gamma(r, 1.0 / alpha, age.shape)
    mu = rng.gamma(s, 1.0 / beta, age.shape)
    active = np.minimum(rng.exponential(1.0, age.shape) / mu, age)
    x = rng.poisson(lam * active).astype(np.float64)
    u = rng.uniform(size=age.shape)
    tx = np.where(x > 0, active * u ** (1.0 / np.maximum(x, 1.0)), 0.0)
    return x, tx, age
