"""The BG/NBD customer-base model, fitted by maximum likelihood.

While alive a customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)``;
after each repeat purchase they drop out for good with probability ``p ~ Beta(a, b)``
(Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
Pareto/NBD model", *Marketing Science* 24(2):275-284). A customer is summarised by the
number of repeat purchases ``x``, the age at the last one ``t_x`` and the age ``T``.

Numerics. The likelihood (FHL eq. 6) and P(alive) (Fader, Hardie & Lee 2008, "Computing
P(alive) using the BG/NBD model") are evaluated in logs. The conditional expectation
(FHL eq. 10) is ``P(alive) * M(r+x, alpha+T, a, b+x, t)``, with ``M`` the expected
purchases in ``t`` of a customer alive now whose ``lambda ~ Gamma(r', alpha')`` and
``p ~ Beta(a, b')`` (FHL eq. 7 is ``M`` at the prior). Its closed form
``(a+b'-1)/(a-1) [1 - (alpha'/(alpha'+t))^r' 2F1(...)]`` is a difference of two huge or
nearly equal numbers (negative for ``a < 1``, 0/0 at ``a = 1``; scipy's 2F1 overflows
for large ``x`` and returns NaN for large ``b`` or integer ``c-a-b``), so ``M`` is
computed instead as the one-dimensional integral ``M = E_p[(1 - (1+c p)^-r') / p]``,
``c = t/alpha'``, by the trapezoidal rule in ``theta = logit(p)``: the integrand is
smooth and decays exponentially at both ends (rates ``a`` and ``b'``), so the rule on
an infinite grid converges geometrically; the grid is cut where the integrand is
exponential to 1e-10 and the tails are summed as geometric series (a first coarse pass
finds where the integrand is within e^-50 of its maximum; 48 + 128 nodes per distinct
``(x, T, t)``). For ``c (r'+1) < 1e-12`` a two-term Taylor series is used. ``M`` is finite
and positive for every ``x``, ``T`` (0 included) and ``t > 0``, relative error below 1e-9
against independent quadrature and series over ``a`` in [1e-5, 200], ``b'`` up to 3e5,
``r'`` up to 2000 and ``c`` in [1e-8, 1e5].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, expit, gammaln, log_expit

from clustomer.clv._fit import check_horizon, check_summary, fit_mle
from clustomer.errors import ClustomerError

__all__ = ["BetaGeo"]

Array = NDArray[np.float64]
_NAMES = ("r", "alpha", "a", "b")
_SUBSAMPLE = 20_000  # above this many distinct customers, multi-start on a subsample
_MIN_DROPOUT = 1e-3  # rule: mean dropout probability per repeat purchase a/(a+b)
_LR_CRIT = 2.71  # rule: 2 (LL - LL of the no-dropout NBD limit); 5% level, boundary test
_ALIVE_P, _ALIVE_SHARE = 0.99, 0.99  # rule: P(alive) > 0.99 for > 99% of repeat buyers
_EPS = 1e-10  # relative error allowed where the quadrature's tails are taken as exponential
_N1, _N2 = 48, 128  # nodes of the locating pass and of the integrating pass
_DROP = 50.0  # nodes more than this below the maximum log-integrand are dropped


def _unique_rows(*cols: Array) -> tuple[list[Array], NDArray[np.intp], Array]:
    """Distinct rows of equal-length columns, the row -> distinct-row map and the counts."""
    order = np.lexsort(cols[::-1])
    srt = [c[order] for c in cols]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in srt])
    group = np.cumsum(new) - 1
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = group
    return [c[new] for c in srt], inverse, np.bincount(group).astype(np.float64)


def _wsum(w: Array, v: Array) -> float:
    """Weighted sum without BLAS (a threaded BLAS dot stalls on a busy shared machine)."""
    return float(np.sum(w * v))


@dataclass(frozen=True)
class _Data:
    """Distinct customers (x, t_x, T) with counts; x-only terms are computed per distinct x."""

    x: Array
    tx: Array
    T: Array
    w: Array
    ux: Array
    ix: NDArray[np.intp]

    @classmethod
    def build(cls, x: Array, tx: Array, T: Array) -> _Data:
        (ux,), _, _ = _unique_rows(x)
        (dx, dtx, dT), _, w = _unique_rows(x, tx, T)
        return cls(dx, dtx, dT, w, ux, np.searchsorted(ux, dx))

    def nll(self, theta: Array) -> tuple[float, Array]:
        """Total negative log-likelihood (FHL eq. 6) and its gradient in (r, alpha, a, b)."""
        r, alpha, a, b = (float(v) for v in theta)
        ux, i, rep = self.ux, self.ix, self.ux > 0
        b0 = betaln(a, b)
        b1 = betaln(a, b + ux) - b0
        b2 = np.full(len(ux), -np.inf)
        b2[rep] = betaln(a + 1.0, b + ux[rep] - 1.0) - b0
        dab = digamma(a + b) - digamma(a + b + ux)
        db2 = np.zeros(len(ux))
        db2[rep] = digamma(b + ux[rep] - 1.0) - digamma(b)
        s = r + self.x
        l_T, l_tx = np.log(alpha + self.T), np.log(alpha + self.tx)
        t1, t2 = b1[i] - s * l_T, b2[i] - s * l_tx
        m = np.maximum(t1, t2)
        e1, e2 = np.exp(t1 - m), np.exp(t2 - m)
        tot = e1 + e2
        w1, w2 = e1 / tot, e2 / tot
        n, la = self.w.sum(), np.log(alpha)
        hx, dr = gammaln(r + ux) - gammaln(r), digamma(r + ux) - digamma(r)
        db1 = digamma(b + ux) - digamma(b)
        ll = _wsum(self.w, hx[i] + m + np.log(tot)) + n * r * la
        g = np.array(
            [
                _wsum(self.w, dr[i] - w1 * l_T - w2 * l_tx) + n * la,
                n * r / alpha - _wsum(self.w, s * (w1 / (alpha + self.T) + w2 / (alpha + self.tx))),
                _wsum(self.w, dab[i] + w2 / a),
                _wsum(self.w, dab[i] + w1 * db1[i] + w2 * db2[i]),
            ]
        )
        return -float(ll), -g

    def nbd_nll(self, theta: Array) -> tuple[float, Array]:
        """The no-dropout limit (p = 0, the NBD model): negative log-likelihood, gradient."""
        r, alpha = (float(v) for v in theta)
        s, l_T, w = r + self.x, np.log(alpha + self.T), self.w
        ll = _wsum(w, gammaln(s) - gammaln(r) + r * np.log(alpha) - s * l_T)
        dr = _wsum(w, digamma(s) - digamma(r) + np.log(alpha) - l_T)
        da = _wsum(w, r / alpha - s / (alpha + self.T))
        return -float(ll), -np.array([dr, da])


def _loglik(p: Array, x: Array, tx: Array, T: Array) -> Array:
    """Per-customer log-likelihood (FHL eq. 6)."""
    r, alpha, a, b = p
    rep = x > 0
    t1 = betaln(a, b + x) - (r + x) * np.log(alpha + T)
    t2 = np.full(len(x), -np.inf)
    t2[rep] = betaln(a + 1.0, b + x[rep] - 1.0) - (r + x[rep]) * np.log(alpha + tx[rep])
    head = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    return np.asarray(head + np.logaddexp(t1, t2), dtype=np.float64)


def _log_dropout_odds(p: Array, x: Array, tx: Array, T: Array) -> Array:
    """log P(dropped out) / P(alive) at T; -inf for x = 0 (FHL 2008)."""
    r, alpha, a, b = p
    out = np.full(len(x), -np.inf)
    rep = x > 0
    xr = x[rep]
    growth = np.log1p((T[rep] - tx[rep]) / (alpha + tx[rep]))
    out[rep] = np.log(a) - np.log(b + xr - 1.0) + (r + xr) * growth
    return out


def _log_integrand(th: Array, s: Array, a: float, b: Array, c: Array, norm: Array) -> Array:
    """log of ``(1 - (1+c p)^-s) p^(a-1) (1-p)^b / B(a, b)`` at ``p = expit(th)``."""
    logp = log_expit(th)
    with np.errstate(divide="ignore"):  # log(0) = -inf where (1+c p)^-s underflows to 1
        log_g = np.log(-np.expm1(-s * np.log1p(c * np.exp(logp))))
    return np.asarray(log_g + (a - 1.0) * logp + b * (logp - th) - norm, dtype=np.float64)


def _alive_purchases(s: Array, a: float, b: Array, c: Array) -> Array:
    """``M = E[(1 - (1 + c p)^-s) / p]``, ``p ~ Beta(a, b)``: purchases of a live customer.

    ``c = t / alpha'``; vectorised over equal-length ``s``, ``b``, ``c`` (see the module
    docstring for the method).
    """
    # tiny c (t << alpha'): the Taylor series s c (1 - (s+1) c E[p] / 2) is exact to 1e-12
    out = s * c * (1.0 - 0.5 * (s + 1.0) * c * a / (a + b))
    todo = np.flatnonzero(c * (s + 1.0) >= 1e-12)
    step = max(1, 2**21 // _N2)
    for k in range(0, len(todo), step):
        j = todo[k : k + step]
        sj, bj, cj = s[j, None], b[j, None], c[j, None]
        norm = betaln(a, bj)
        lo = np.log(_EPS) - np.log((sj + 1.0) * cj + a + bj + 2.0)
        hi = np.log((bj + sj + abs(a - 1.0) + 2.0) / _EPS)
        th1 = lo + (hi - lo) * np.linspace(0.0, 1.0, _N1)
        lf1 = _log_integrand(th1, sj, a, bj, cj, norm)
        keep = lf1 >= lf1.max(axis=1, keepdims=True) - _DROP
        i0 = np.maximum(np.argmax(keep, axis=1) - 1, 0)
        i1 = np.minimum(_N1 - np.argmax(keep[:, ::-1], axis=1), _N1 - 1)
        rows = np.arange(len(j))
        lo2, hi2 = th1[rows, i0][:, None], th1[rows, i1][:, None]
        h = (hi2 - lo2) / (_N2 - 1)
        lf2 = _log_integrand(lo2 + h * np.arange(_N2), sj, a, bj, cj, norm)
        top = lf2.max(axis=1, keepdims=True)
        # tails beyond the grid: geometric sums of the exponential tail (rates a and b) where
        # the grid starts at the cut, else the (negligible) integral beyond the cut over h
        left = np.where(
            i0[:, None] == 0,
            np.exp(lf2[:, :1] - top - a * h) / -np.expm1(-a * h),
            np.exp(lf1[:, :1] - top) / (a * h),
        )
        right = np.where(
            i1[:, None] == _N1 - 1,
            np.exp(lf2[:, -1:] - top - bj * h) / -np.expm1(-bj * h),
            np.exp(lf1[:, -1:] - top) / (bj * h),
        )
        total = np.exp(lf2 - top).sum(axis=1, keepdims=True) + left + right
        out[j] = np.exp(top + np.log(h * total))[:, 0]
    return out


class BetaGeo:
    """BG/NBD model of repeat purchases and dropout (Fader, Hardie & Lee 2005).

    Parameters
    ----------
    n_starts : int, default 5
        Optimiser starts (see :func:`clustomer.clv._fit.fit_mle`); the best likelihood wins.
    penalizer : float, default 0.0
        Weight of an L2 penalty on the log parameters (``alpha`` in units of the mean age)
        added to the mean negative log-likelihood; 0 gives the plain MLE.
    random_state : int, default 0
        Seeds the jittered starts beyond five and, above 20,000 distinct customers, the
        subsample the starts run on before the best is polished on all customers.

    Attributes
    ----------
    params_ : dict
        ``r``, ``alpha``, ``a``, ``b`` (``alpha`` in the input's time unit).
    log_likelihood_ : float
        Total log-likelihood of the fitted data at ``params_``.
    converged_, fit_message_ : bool, str
        The optimiser's verdict on the final run.
    degenerate_, degenerate_reason_ : bool, str or None
        Whether the fit is one to distrust, and why (see :meth:`fit`).
    lr_statistic_ : float
        ``2 (LL - LL_NBD)``: likelihood ratio against the no-dropout (NBD) limit.

    Examples
    --------
    >>> data = BetaGeo.simulate({"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}, 2000, 40.0, 1)
    >>> model = BetaGeo(n_starts=2).fit(data["frequency"], data["recency"], data["T"])
    >>> sorted(model.params_), model.converged_, model.degenerate_
    (['a', 'alpha', 'b', 'r'], True, False)
    >>> p = model.probability_alive([0, 6, 6], [0.0, 39.0, 10.0], [40.0, 40.0, 40.0])
    >>> bool(p[0] == 1.0 and p[1] > p[2])
    True
    """

    def __init__(self, n_starts: int = 5, penalizer: float = 0.0, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.penalizer = penalizer
        self.random_state = random_state

    def fit(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BetaGeo:
        """Fit by maximum likelihood; flag degenerate fits.

        Times may be in any one unit. The fit is marked ``degenerate_`` (it never raises
        for it) when any rule holds: (1) nobody made a repeat purchase; (2) ``a`` ends
        within 5% of its lower search bound or ``b`` of its upper one (``exp(+-12)``): the
        dropout distribution ran off to ``p = 0``; (3) the mean dropout probability per
        repeat purchase ``a/(a+b)`` is below 1e-3; (4) the likelihood ratio
        ``2 (LL - LL_NBD)`` against the no-dropout limit (the NBD model, fitted too) is
        below 2.71 (5% level of the boundary test); (5) P(alive) > 0.99 for more than 99%
        of repeat buyers. Predictions stay finite in all these cases.
        """
        x, tx, age = check_summary(frequency, recency, T)
        scale = float(age.mean()) if age.mean() > 0 else 1.0
        full = _Data.build(x, tx / scale, age / scale)
        rng = np.random.default_rng(self.random_state)
        rate = max(float(x.mean()), 1e-3)  # r/alpha ~ mean repeat purchases per mean age
        start = {"r": 1.0, "alpha": 1.0 / rate, "a": 1.0, "b": 1.0}
        kw = {"n_starts": self.n_starts, "random_state": self.random_state}
        if len(full.x) > _SUBSAMPLE:
            idx = rng.choice(len(x), _SUBSAMPLE, replace=False)
            sub = _Data.build(x[idx], tx[idx] / scale, age[idx] / scale)
            pre = fit_mle(sub.nll, start, n_obs=_SUBSAMPLE, penalizer=self.penalizer, **kw)
            start, kw["n_starts"] = pre.params, 1
        res = fit_mle(full.nll, start, n_obs=len(x), penalizer=self.penalizer, **kw)
        p = np.array([res.params[k] for k in _NAMES]) * np.array([1.0, scale, 1.0, 1.0])
        self.params_ = dict(zip(_NAMES, (float(v) for v in p), strict=True))
        self.converged_ = res.converged
        self.fit_message_ = res.messages[0]
        self.log_likelihood_ = float(_loglik(p, x, tx, age).sum())
        nbd = fit_mle(full.nbd_nll, {"r": 1.0, "alpha": 1.0 / rate}, n_obs=len(x), n_starts=2)
        self.lr_statistic_ = max(2.0 * (res.log_likelihood - nbd.log_likelihood), 0.0)
        reasons = []
        if not (x > 0).any():
            reasons.append("no customer made a repeat purchase")
        if "a" in res.at_lower or ("b" in res.at_upper and "a" not in res.at_upper):
            reasons.append(f"a -> 0 or b -> infinity (a = {p[2]:.3g}, b = {p[3]:.3g})")
        if p[2] / (p[2] + p[3]) < _MIN_DROPOUT:
            reasons.append(f"mean dropout probability a/(a+b) = {p[2] / (p[2] + p[3]):.2g}")
        if self.lr_statistic_ < _LR_CRIT:
            reasons.append(
                f"dropout not supported: likelihood ratio {self.lr_statistic_:.2f} against "
                "the no-dropout NBD model"
            )
        alive = expit(-_log_dropout_odds(p, x, tx, age))[x > 0]
        if len(alive) and float((alive > _ALIVE_P).mean()) > _ALIVE_SHARE:
            share = float((alive > _ALIVE_P).mean())
            reasons.append(f"P(alive) > {_ALIVE_P} for {share:.1%} of repeat buyers")
        self.degenerate_ = bool(reasons)
        self.degenerate_reason_ = "; ".join(reasons) if reasons else None
        return self

    def _params(self) -> Array:
        if not hasattr(self, "params_"):
            raise ClustomerError("the BG/NBD model is not fitted yet: call fit first")
        return np.array([self.params_[k] for k in _NAMES], dtype=np.float64)

    def log_likelihood(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """Per-customer log-likelihood at the fitted parameters (FHL eq. 6)."""
        return _loglik(self._params(), *check_summary(frequency, recency, T))

    def probability_alive(self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> Array:
        """P(alive at T | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)).

        Computed from the log odds, so it never overflows (1 for one-time buyers).
        """
        p = self._params()
        return np.asarray(expit(-_log_dropout_odds(p, *check_summary(frequency, recency, T))))

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Array:
        """Expected repeat purchases in (T, T+t] given the history (FHL eq. 10).

        ``P(alive) * M(r+x, alpha+T, a, b+x, t)`` (see the module docstring); finite for
        every valid customer. ``t`` is a scalar or one horizon per customer, in the unit of
        the fitted data.
        """
        p = self._params()
        r, alpha, a, b = p
        x, tx, age = check_summary(frequency, recency, T)
        c = check_horizon(t, len(x)) / (alpha + age)
        (ux, uc), inv, _ = _unique_rows(x, c)
        m = _alive_purchases(r + ux, a, b + ux, uc)[inv]
        return np.asarray(expit(-_log_dropout_odds(p, x, tx, age)) * m, dtype=np.float64)

    def expected_purchases_new(self, t: ArrayLike) -> Array:
        """Expected repeat purchases in (0, t] of a new customer, E[X(t)] (FHL eq. 7)."""
        r, alpha, a, b = self._params()
        tt = check_horizon(t, np.size(t))
        n = len(tt)
        return _alive_purchases(np.full(n, r), a, np.full(n, b), tt / alpha)

    @staticmethod
    def simulate(
        params: Mapping[str, float],
        n: int,
        T: ArrayLike,
        rng: int | np.random.Generator | None = 0,
    ) -> pd.DataFrame:
        """Draw ``n`` customers of age(s) ``T`` from the BG/NBD model.

        Exact and vectorised: ``N(T) ~ Poisson(lambda T)`` purchase opportunities, the
        customer drops out after repeat purchase ``D ~ Geometric(p)``, ``x = min(N, D)``
        and, given ``N``, the ``x``-th arrival time is ``T * Beta(x, N - x + 1)``.

        Returns
        -------
        DataFrame
            Columns ``frequency``, ``recency``, ``T``.

        Examples
        --------
        >>> d = BetaGeo.simulate({"r": 1.0, "alpha": 2.0, "a": 1.0, "b": 3.0}, 5, 10.0)
        >>> list(d.columns), bool((d["recency"] <= d["T"]).all())
        (['frequency', 'recency', 'T'], True)
        """
        r, alpha, a, b = (float(params[k]) for k in _NAMES)
        gen = np.random.default_rng(rng)
        age = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
        lam = gen.gamma(r, 1.0 / alpha, n)
        p = gen.beta(a, b, n)
        count = gen.poisson(lam * age).astype(np.float64)
        with np.errstate(divide="ignore"):
            life = np.floor(np.log(gen.uniform(size=n)) / np.log1p(-p)) + 1.0
        x = np.minimum(count, life)
        tx = np.where(x > 0, age * gen.beta(np.maximum(x, 1.0), count - x + 1.0), 0.0)
        return pd.DataFrame({"frequency": x, "recency": tx, "T": age})
