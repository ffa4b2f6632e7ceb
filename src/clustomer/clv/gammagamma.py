"""The Gamma-Gamma model of spend per transaction, fitted by maximum likelihood.

A customer's transaction values are ``z_i ~ Gamma(p, nu)`` (shape ``p``, rate ``nu``) with
``nu ~ Gamma(q, v)`` across customers (``v`` is the paper's gamma), independent of the
purchase process. Fitted on repeat buyers, each summarised by the number of repeat
transactions ``x`` and their mean value ``m`` (Fader & Hardie 2013, "The Gamma-Gamma model
of monetary value"; Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for
customer base analysis", *Journal of Marketing Research* 42(4):415-430). The density of
``m`` is ``Gamma(px+q) / (Gamma(px) Gamma(q)) v^q x^px m^(px-1) / (v + m x)^(px+q)``.

Customer lifetime value (:meth:`GammaGamma.customer_lifetime_value`) follows the
``lifetimes`` convention: the horizon is counted in *periods* (months by default), the
discount rate is per period, and ``freq_per_period`` says how many time units of the
transaction model make one period (30 for a model fitted in days, 4.345 for weeks, 1 if
the model's unit is the period itself)::

    CLV = sum_{k=1..horizon} spend * (E[X(k f)] - E[X((k-1) f)]) / (1 + d)^k

with ``f = freq_per_period``, ``E[X(t)]`` the transaction model's conditional expected
purchases in ``(T, T+t]`` and ``spend`` the conditional expected spend per purchase.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from clustomer.clv._fit import check_vector, fit_mle
from clustomer.errors import ClustomerError

__all__ = ["GammaGamma", "TransactionModel"]

Array = NDArray[np.float64]
_NAMES = ("p", "q", "v")
_SUBSAMPLE = 20_000  # above this many repeat buyers, multi-start on a subsample


class TransactionModel(Protocol):
    """Anything with BG/NBD-style conditional expected purchases (e.g. ``BetaGeo``)."""

    def expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> Array: ...


def _wsum(w: Array, v: Array) -> float:
    return float(np.sum(w * v))  # no BLAS dot: a threaded BLAS stalls on busy machines


def _loglik(theta: Array, x: Array, m: Array) -> Array:
    """Per-customer log density of the mean repeat spend ``m`` given ``x`` (x, m > 0)."""
    p, q, v = theta
    px = p * x
    head = gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
    tail = (px - 1.0) * np.log(m) + px * np.log(x) - (px + q) * np.log(v + m * x)
    return np.asarray(head + tail, dtype=np.float64)


def _nll(x: Array, m: Array) -> Callable[[Array], tuple[float, Array]]:
    """Negative log-likelihood and gradient in (p, q, v) over the distinct (x, m) pairs."""
    order = np.lexsort((m, x))
    xs, ms = x[order], m[order]
    new = np.ones(len(xs), dtype=bool)
    new[1:] = (xs[1:] != xs[:-1]) | (ms[1:] != ms[:-1])
    w = np.bincount(np.cumsum(new) - 1).astype(np.float64)
    xs, ms = xs[new], ms[new]
    n, l_mx = w.sum(), np.log(ms * xs)

    def nll(theta: Array) -> tuple[float, Array]:
        p, q, v = (float(t) for t in theta)
        px = p * xs
        l_vm = np.log(v + ms * xs)
        d_all = digamma(px + q)
        g = np.array(
            [
                _wsum(w, xs * (d_all - digamma(px) + l_mx - l_vm)),
                _wsum(w, d_all - l_vm) + n * (np.log(v) - digamma(q)),
                n * q / v - _wsum(w, (px + q) / (v + ms * xs)),
            ]
        )
        return -_wsum(w, _loglik(theta, xs, ms)), -g

    return nll


def _check_spend(frequency: ArrayLike, monetary: ArrayLike) -> tuple[Array, Array]:
    """Validate ``frequency`` (whole, >= 0) and ``monetary`` (finite where frequency > 0)."""
    x = check_vector("frequency", frequency)
    try:
        m = np.atleast_1d(np.asarray(monetary, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ClustomerError(f"monetary must be numbers: {exc}") from None
    if m.ndim != 1 or len(m) != len(x):
        raise ClustomerError(
            f"frequency and monetary lengths differ ({len(x)}, {m.size}) or are not 1-D"
        )
    if (x != np.round(x)).any():
        raise ClustomerError("frequency must be whole numbers of repeat purchases")
    bad = ~np.isfinite(m) & ((x > 0) | np.isinf(m))
    if bad.any():
        raise ClustomerError(
            f"monetary has {int(bad.sum())} missing or infinite values for customers with "
            f"repeat purchases (row {int(np.argmax(bad))})"
        )
    return x, m


class GammaGamma:
    """Gamma-Gamma model of the mean spend per repeat transaction (Fader & Hardie 2013).

    Parameters
    ----------
    n_starts : int, default 5
        Optimiser starts (see :func:`clustomer.clv._fit.fit_mle`); the best likelihood wins.
    penalizer : float, default 0.0
        Weight of an L2 penalty on the log parameters (``v`` in units of the mean spend)
        added to the mean negative log-likelihood; 0 gives the plain MLE.
    random_state : int, default 0
        Seeds the jittered starts beyond five and, above 20,000 repeat buyers, the
        subsample the starts run on before the best is polished on all of them.

    Attributes
    ----------
    params_ : dict
        ``p``, ``q``, ``v`` (``v``, the paper's gamma, in money units).
    log_likelihood_ : float
        Total log-likelihood of the fitted repeat buyers.
    converged_, fit_message_ : bool, str
        The optimiser's verdict.
    n_ignored_ : int
        Rows left out of the fit (frequency 0 or monetary <= 0 or missing).
    degenerate_, degenerate_reason_ : bool, str or None
        Set when ``q <= 1`` (the population mean spend ``p v / (q-1)`` is infinite) or a
        parameter ends at its search bound.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).integers(1, 10, 3000)
    >>> m = GammaGamma.simulate({"p": 6.0, "q": 4.0, "v": 15.0}, x, 1)
    >>> gg = GammaGamma(n_starts=2).fit(x, m)
    >>> sorted(gg.params_), gg.converged_, gg.n_ignored_
    (['p', 'q', 'v'], True, 0)
    >>> spend = gg.expected_spend([0, 5], [0.0, 40.0])
    >>> bool(spend[0] < spend[1] < 40.0)
    True
    """

    def __init__(self, n_starts: int = 5, penalizer: float = 0.0, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.penalizer = penalizer
        self.random_state = random_state

    def fit(self, frequency: ArrayLike, monetary: ArrayLike) -> GammaGamma:
        """Fit on the repeat buyers (``frequency > 0`` and ``monetary > 0``); count the rest.

        ``monetary`` is each customer's mean value of the repeat transactions (the first
        purchase excluded, as in the papers). The model assumes spend is independent of
        purchase frequency; check the correlation of the two before relying on it.
        """
        x, m = _check_spend(frequency, monetary)
        use = (x > 0) & (m > 0)
        self.n_ignored_ = int((~use).sum())
        if use.sum() < 2:
            raise ClustomerError(
                f"Gamma-Gamma needs repeat buyers with positive spend; found {int(use.sum())}"
            )
        x, m = x[use], m[use]
        scale = float(m.mean())
        start = {"p": 1.0, "q": 2.0, "v": 1.0}
        kw = {"n_starts": self.n_starts, "random_state": self.random_state}
        if len(x) > _SUBSAMPLE:  # multi-start on a subsample, polish the best on everybody
            idx = np.random.default_rng(self.random_state).choice(len(x), _SUBSAMPLE, False)
            sub = _nll(x[idx], m[idx] / scale)
            pre = fit_mle(sub, start, n_obs=_SUBSAMPLE, penalizer=self.penalizer, **kw)
            start, kw["n_starts"] = pre.params, 1
        res = fit_mle(_nll(x, m / scale), start, n_obs=len(x), penalizer=self.penalizer, **kw)
        theta = np.array([res.params["p"], res.params["q"], res.params["v"] * scale])
        self.params_ = dict(zip(_NAMES, (float(t) for t in theta), strict=True))
        self.log_likelihood_ = float(_loglik(theta, x, m).sum())
        self.converged_ = res.converged
        self.fit_message_ = res.messages[0]
        reasons = [f"{k} is at its search bound" for k in res.at_lower + res.at_upper]
        if theta[1] <= 1.0:
            reasons.append(f"q = {theta[1]:.3g} <= 1: the population mean spend is infinite")
        self.degenerate_ = bool(reasons)
        self.degenerate_reason_ = "; ".join(reasons) if reasons else None
        return self

    def _params(self) -> Array:
        if not hasattr(self, "params_"):
            raise ClustomerError("the Gamma-Gamma model is not fitted yet: call fit first")
        return np.array([self.params_[k] for k in _NAMES], dtype=np.float64)

    def log_likelihood(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        """Per-customer log-likelihood; NaN for rows the fit would ignore."""
        x, m = _check_spend(frequency, monetary)
        use = (x > 0) & (m > 0)
        out = np.full(len(x), np.nan)
        out[use] = _loglik(self._params(), x[use], m[use])
        return out

    def expected_spend(self, frequency: ArrayLike, monetary: ArrayLike) -> Array:
        """Conditional expected mean spend per transaction, ``E[M | x, m]``.

        ``(q-1)/(px+q-1) * pv/(q-1) + px/(px+q-1) * m``: a weighted average of the
        population mean ``p v / (q-1)`` and the customer's own mean ``m``. Customers with
        frequency 0 or monetary <= 0 (or missing) get the population mean. Where the
        expectation does not exist (``p x + q <= 1``, e.g. any such customer when
        ``q <= 1``) the result is NaN.
        """
        p, q, v = self._params()
        x, m = _check_spend(frequency, monetary)
        use = (x > 0) & (m > 0)
        pop = p * v / (q - 1.0) if q > 1.0 else np.nan
        out = np.full(len(x), pop, dtype=np.float64)
        px = p * x[use]
        with np.errstate(divide="ignore", invalid="ignore"):
            cond = p * (v + m[use] * x[use]) / (px + q - 1.0)
        out[use] = np.where(px + q > 1.0, cond, np.nan)
        return out

    def customer_lifetime_value(
        self,
        transaction_model: TransactionModel,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary: ArrayLike,
        horizon: int = 12,
        discount_rate: float = 0.01,
        freq_per_period: float = 30.0,
    ) -> Array:
        """Discounted expected revenue over the next ``horizon`` periods (see module docs).

        Parameters
        ----------
        transaction_model : BetaGeo or similar
            Fitted model with ``expected_purchases(t, frequency, recency, T)``.
        frequency, recency, T, monetary : array-like
            Customer summary in the transaction model's time unit; ``monetary`` is the mean
            value of the repeat purchases.
        horizon : int, default 12
            Number of periods (months by default).
        discount_rate : float, default 0.01
            Discount rate per period (0.01 a month is about 12.7% a year).
        freq_per_period : float, default 30.0
            Transaction-model time units per period: 30 for days -> months, 4.345 for
            weeks -> months, 1 when the model's unit is the period.

        Examples
        --------
        >>> class Flat:  # one purchase every 10 time units, whoever the customer
        ...     def expected_purchases(self, t, frequency, recency, T):
        ...         return np.full(len(frequency), t / 10.0)
        >>> gg = GammaGamma()
        >>> gg.params_ = {"p": 6.0, "q": 4.0, "v": 15.0}
        >>> clv = gg.customer_lifetime_value(Flat(), [2], [5.0], [9.0], [30.0], horizon=2)
        >>> round(float(clv[0]), 2)  # 3 purchases a month at 6 (15 + 2 * 30) / 15 = 30
        177.34
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
            raise ClustomerError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
        if not np.isfinite(discount_rate) or discount_rate <= -1.0:
            raise ClustomerError(f"discount_rate must be > -1, got {discount_rate!r}")
        if not np.isfinite(freq_per_period) or freq_per_period <= 0:
            raise ClustomerError(f"freq_per_period must be > 0, got {freq_per_period!r}")
        if not hasattr(transaction_model, "expected_purchases"):
            raise ClustomerError("transaction_model needs an expected_purchases method")
        spend = self.expected_spend(frequency, monetary)
        clv = np.zeros(len(spend))
        before = np.zeros(len(spend))
        for k in range(1, int(horizon) + 1):
            cum = np.asarray(
                transaction_model.expected_purchases(k * freq_per_period, frequency, recency, T),
                dtype=np.float64,
            )
            clv += spend * (cum - before) / (1.0 + discount_rate) ** k
            before = cum
        return clv

    @staticmethod
    def simulate(
        params: Mapping[str, float],
        frequency: ArrayLike,
        rng: int | np.random.Generator | None = 0,
    ) -> Array:
        """Draw each customer's mean spend over ``frequency`` (>= 1) transactions.

        ``nu ~ Gamma(q, rate v)``; the mean of ``x`` values ``Gamma(p, rate nu)`` is
        ``Gamma(p x, rate x nu)``.

        Examples
        --------
        >>> GammaGamma.simulate({"p": 6.0, "q": 4.0, "v": 15.0}, [1, 3], 0).shape
        (2,)
        """
        p, q, v = (float(params[k]) for k in _NAMES)
        x = check_vector("frequency", frequency)
        if (x < 1).any():
            raise ClustomerError("simulate needs frequency >= 1 for every customer")
        gen = np.random.default_rng(rng)
        nu = gen.gamma(q, 1.0 / v, len(x))
        return np.asarray(gen.gamma(p * x, 1.0 / (x * nu)), dtype=np.float64)
