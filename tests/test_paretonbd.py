"""Pareto/NBD: published CDNOW estimates, the likelihood against its defining integrals,
parameter recovery on simulated data, finite predictions in edge cases, degenerate fits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import dblquad, quad
from scipy.special import gammaln, hyp2f1

from clustomer.clv import paretonbd
from clustomer.clv.paretonbd import ParetoNBD, simulate_paretonbd
from clustomer.errors import ClustomerError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary.csv"
NAMES = ("r", "alpha", "s", "beta")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: pd.DataFrame) -> ParetoNBD:
    return ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def _model(**params: float) -> ParetoNBD:
    """A model with the given parameters, as if fitted."""
    m = ParetoNBD()
    m.params_ = dict(params)
    return m


def test_cdnow_reproduces_published_estimates(cdnow_fit: ParetoNBD) -> None:
    # Published Pareto/NBD MLE on the CDNOW 1/10 sample, 39-week calibration (2,357
    # customers): r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, LL = -9595.0
    # (Fader, Hardie & Lee 2005, "Counting your customers the easy way", Marketing Science
    # 24(2):275-284, Table 1; Fader & Hardie's notes); see tests/data/cdnow/README.md.
    published = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
    for name, value in published.items():
        assert cdnow_fit.params_[name] == pytest.approx(value, rel=0.005), name
    assert cdnow_fit.log_likelihood_ == pytest.approx(-9595.0, abs=0.5)
    assert cdnow_fit.converged_ and not cdnow_fit.degenerate_
    assert cdnow_fit.degenerate_reason_ is None


def test_cdnow_predictions_finite_and_sensible(cdnow: pd.DataFrame, cdnow_fit: ParetoNBD) -> None:
    x, tx, T = cdnow["frequency"], cdnow["recency"], cdnow["T"]
    alive = cdnow_fit.probability_alive(x, tx, T)
    expected = cdnow_fit.expected_purchases(39.0, x, tx, T)
    ll = cdnow_fit.log_likelihood(x, tx, T)
    assert np.isfinite(alive).all() and np.isfinite(expected).all() and np.isfinite(ll).all()
    assert ((alive > 0) & (alive <= 1)).all() and (expected >= 0).all()
    assert ll.sum() == pytest.approx(cdnow_fit.log_likelihood_, rel=1e-12)
    # A customer whose last purchase is at T is surely alive; a long-silent frequent buyer
    # much less so than a silent one-time buyer of the same age.
    p = cdnow_fit.probability_alive([3, 10, 0], [38.86, 5.0, 0.0], [38.86, 38.86, 38.86])
    assert p[0] == pytest.approx(1.0) and p[1] < 0.01 < p[2]
    assert cdnow_fit.expected_purchases(0.0, x, tx, T) == pytest.approx(np.zeros(len(x)))


def test_time_unit_does_not_matter(cdnow: pd.DataFrame, cdnow_fit: ParetoNBD) -> None:
    days = ParetoNBD().fit(cdnow["frequency"], 7 * cdnow["recency"], 7 * cdnow["T"])
    for name, factor in zip(NAMES, (1, 7, 1, 7), strict=True):
        assert days.params_[name] == pytest.approx(factor * cdnow_fit.params_[name], rel=2e-3)
    # A density of x purchase times picks up 1/7 per purchase when time is in days.
    shift = float(cdnow["frequency"].sum()) * np.log(7.0)
    assert days.log_likelihood_ == pytest.approx(cdnow_fit.log_likelihood_ - shift, abs=0.01)


def _integrand(u: float, r: float, a: float, s: float, b: float, x: float) -> float:
    return float((a + u) ** -(r + x) * (b + u) ** -(s + 1))


def test_likelihood_matches_its_defining_integral() -> None:
    # L = G(r+x) a^r b^s / G(r) [(a+T)^-(r+x) (b+T)^-s + s int_tx^T (a+u)^-(r+x) (b+u)^-(s+1) du]
    x = np.array([0, 1, 4, 30, 2, 7])
    tx = np.array([0.0, 3.0, 20.0, 35.0, 0.5, 39.0])
    T = np.array([39.0, 39.0, 39.0, 39.0, 0.6, 39.0])
    for p in [(0.55, 10.6, 0.61, 11.7), (2.0, 3.0, 0.2, 40.0), (0.3, 50.0, 3.0, 1.0), (1, 5, 1, 5)]:
        r, a, s, b = p
        got = _model(**dict(zip(NAMES, p, strict=True))).log_likelihood(x, tx, T)
        for i in range(len(x)):
            xi, ti, Ti = x[i], tx[i], T[i]
            integral = quad(_integrand, ti, Ti, args=(r, a, s, b, xi))[0]
            bracket = (a + Ti) ** -(r + xi) * (b + Ti) ** -s + s * integral
            head = gammaln(r + xi) - gammaln(r) + r * np.log(a) + s * np.log(b)
            assert got[i] == pytest.approx(head + np.log(bracket), rel=1e-9, abs=1e-9)


def test_posterior_quantities_match_double_integrals() -> None:
    # Mixing the individual-level model over lambda ~ Gamma(r, a), mu ~ Gamma(s, b) directly:
    # L = E[lam^x e^-(lam+mu)T + mu/(lam+mu) lam^x (e^-(lam+mu)tx - e^-(lam+mu)T)],
    # P(alive) = E[lam^x e^-(lam+mu)T] / L, E[Y(t)] = E[lam^x e^-(lam+mu)T lam/mu (1-e^-mu t)] / L.
    r, a, s, b = 1.3, 4.0, 1.5, 6.0  # shapes > 1: smooth integrands; prior mass > 6 ~ 1e-9
    m = _model(r=r, alpha=a, s=s, beta=b)

    def prior(lam: float, mu: float) -> float:
        log_lam = r * np.log(a) + (r - 1) * np.log(lam) - a * lam - gammaln(r)
        return float(np.exp(log_lam + s * np.log(b) + (s - 1) * np.log(mu) - b * mu - gammaln(s)))

    for x, tx, T, t in [(2, 10.0, 20.0, 15.0), (0, 0.0, 8.0, 5.0), (5, 3.0, 12.0, 10.0)]:

        def mix(f: Callable[[float, float], float], x: int = x) -> float:
            def g(mu: float, lam: float) -> float:
                return f(lam, mu) * lam**x * prior(lam, mu)

            return float(dblquad(g, 0, 6, 0, 6, epsabs=1e-14, epsrel=1e-9)[0])

        def alive(lam: float, mu: float, T: float = T) -> float:
            return float(np.exp(-(lam + mu) * T))

        def dead(lam: float, mu: float, tx: float = tx, T: float = T) -> float:
            k = lam + mu
            return float(mu / k * (np.exp(-k * tx) - np.exp(-k * T)))

        def future(lam: float, mu: float, T: float = T, t: float = t) -> float:
            return float(np.exp(-(lam + mu) * T) * lam / mu * -np.expm1(-mu * t))

        alive_part = mix(alive)
        lik = alive_part + mix(dead)
        assert m.log_likelihood([x], [tx], [T])[0] == pytest.approx(np.log(lik), rel=1e-6)
        assert m.probability_alive([x], [tx], [T])[0] == pytest.approx(alive_part / lik, rel=1e-6)
        got = m.expected_purchases(t, [x], [tx], [T])[0]
        assert got == pytest.approx(mix(future) / lik, rel=1e-6)

    # New customer: E[X(t)] = (r/alpha) E[(1 - exp(-mu t)) / mu], mu ~ Gamma(s, beta).
    def mu_term(mu: float) -> float:
        dens = np.exp(s * np.log(b) + (s - 1) * np.log(mu) - b * mu - gammaln(s))
        return float(-np.expm1(-mu * 10.0) / mu * dens)

    want = r / a * quad(mu_term, 0, np.inf, epsabs=0, epsrel=1e-12)[0]
    assert m.expected_purchases_new(10.0) == pytest.approx(want, rel=1e-8)


def test_quadrature_path_agrees_with_hyp2f1() -> None:
    # The fallback quadrature for log J against Fader & Hardie's 2F1 where scipy's 2F1 is good.
    rng = np.random.default_rng(3)
    a = np.exp(rng.uniform(-4, 5, 3000))
    e = rng.uniform(0.01, 0.99, 3000) * (a + 1)
    z = rng.uniform(0, 0.9, 3000)
    log_om = np.log1p(-z)
    via_hyp = (1 - e) * log_om + np.log(hyp2f1(1.0, a + 1 - e, a + 1, z)) - np.log(a)
    got = paretonbd._log_j_quad(a, e, z, log_om)
    assert got == pytest.approx(via_hyp, rel=1e-10, abs=1e-10)


PARAM_SETS = [
    (0.55, 10.6, 0.6, 11.7),
    (1.0, 5.0, 1.0, 5.0),  # alpha == beta: 2F1 argument 0
    (1.0, 5.0, 1.0, 5.0 * (1 + 1e-13)),  # alpha ~ beta
    (0.5, 3.0, 1.0, 4.0),  # s == 1: the expectation's limit
    (0.5, 3.0, 1.0 + 1e-12, 4.0),
    (1e-5, 1e5, 1e-5, 1e-5),
    (1e-5, 1e-5, 1e5, 1e5),
    (100.0, 1e-4, 1e-5, 1e5),
    (0.5, 1e5, 1e-5, 1e-5),
    (1e5, 1e5, 1e5, 1e5),
]


@pytest.mark.parametrize("params", PARAM_SETS)
def test_no_customer_gets_nan_or_inf(params: tuple[float, ...]) -> None:
    # One-time buyers, first seen at the cutoff (T = 0 or tiny), last purchase at T, large x.
    x = [0, 0, 0, 1, 5, 1000, 10_000, 3, 2, 50, 1]
    tx = [0, 0, 0, 1e-9, 1e-6, 39.0, 38.0, 39.0, 0.5, 38.99, 1e-300]
    T = [0, 1e-12, 39, 1e-9, 1e-6, 39.0, 39.0, 39.0, 0.5, 39.0, 1e-300]
    m = _model(**dict(zip(NAMES, params, strict=True)))
    ll = m.log_likelihood(x, tx, T)
    alive = m.probability_alive(x, tx, T)
    future = m.expected_purchases(52.0, x, tx, T)
    new = m.expected_purchases_new([0.0, 1.0, 1e6])
    for out in (ll, alive, future, new):
        assert np.isfinite(out).all()
    assert ((alive >= 0) & (alive <= 1)).all() and (future >= 0).all() and (new >= 0).all()


def test_s_equal_one_is_continuous() -> None:
    args = (20.0, [3, 0], [10.0, 0.0], [30.0, 30.0])
    at_one = _model(r=0.5, alpha=3.0, s=1.0, beta=4.0).expected_purchases(*args)
    for s in (1 - 1e-7, 1 + 1e-7):
        near = _model(r=0.5, alpha=3.0, s=s, beta=4.0).expected_purchases(*args)
        assert near == pytest.approx(at_one, rel=1e-6)


def _simulate_with_holdout(
    n: int, T: float, t: float, p: tuple[float, ...], seed: int
) -> tuple[np.ndarray, ...]:
    """Purchase times of n Pareto/NBD customers; the summary up to T and counts in (T, T+t]."""
    r, a, s, b = p
    rng = np.random.default_rng(seed)
    lam, mu = rng.gamma(r, 1 / a, n), rng.gamma(s, 1 / b, n)
    death = rng.exponential(1.0, n) / mu
    end = np.minimum(death, T + t)
    count = rng.poisson(lam * end)
    owner = np.repeat(np.arange(n), count)
    times = rng.uniform(0, 1, owner.size) * end[owner]
    calib = times <= T
    x = np.bincount(owner[calib], minlength=n).astype(float)
    tx = np.zeros(n)
    np.maximum.at(tx, owner[calib], times[calib])
    holdout = np.bincount(owner[~calib], minlength=n).astype(float)
    return x, tx, np.full(n, T), holdout, death > T


def test_conditional_expectation_and_alive_match_simulation() -> None:
    p = (0.6, 8.0, 0.8, 12.0)
    x, tx, T, holdout, alive = _simulate_with_holdout(20_000, 40.0, 30.0, p, seed=11)
    m = _model(**dict(zip(NAMES, p, strict=True)))
    expected = m.expected_purchases(30.0, x, tx, T)
    assert expected.sum() == pytest.approx(holdout.sum(), rel=0.05)
    for group in (x == 0, (x > 0) & (x < 4), x >= 4):
        assert expected[group].sum() == pytest.approx(holdout[group].sum(), rel=0.1)
    assert m.probability_alive(x, tx, T).mean() == pytest.approx(alive.mean(), abs=0.02)


def test_parameter_recovery_on_simulated_data() -> None:
    # 10,000 customers of ages 52-104 weeks from known parameters. Tolerance: every fitted
    # log-parameter within 4 standard errors (observed information, numerical Hessian) of
    # the truth, with those errors small enough to matter (< 30%), and the mean purchase
    # rate r/alpha within 5%.
    true = {"r": 0.5, "alpha": 6.0, "s": 1.0, "beta": 12.0}
    rng = np.random.default_rng(4)
    age = rng.integers(52 * 7, 104 * 7, 10_000) / 7
    x, tx, T = simulate_paretonbd(age, **true, random_state=4)
    fit = ParetoNBD(n_starts=2).fit(x, tx, T)
    assert fit.converged_ and not fit.degenerate_
    theta = np.log([fit.params_[k] for k in NAMES])

    def ll(th: np.ndarray) -> float:
        return float(
            _model(**dict(zip(NAMES, np.exp(th), strict=True))).log_likelihood(x, tx, T).sum()
        )

    h, hess = 1e-3, np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            di, dj = np.eye(4)[i] * h, np.eye(4)[j] * h
            hess[i, j] = (
                ll(theta + di + dj)
                - ll(theta + di - dj)
                - ll(theta - di + dj)
                + ll(theta - di - dj)
            ) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(-hess)))
    assert (se < 0.3).all()
    z = (theta - np.log([true[k] for k in NAMES])) / se
    assert (np.abs(z) < 4).all(), z
    rate = fit.params_["r"] / fit.params_["alpha"]
    assert rate == pytest.approx(true["r"] / true["alpha"], rel=0.05)
    assert fit.expected_purchases_new(T).mean() == pytest.approx(x.mean(), rel=0.05)


def test_subsampled_start_screening_finds_the_same_optimum(
    cdnow: pd.DataFrame, cdnow_fit: ParetoNBD, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paretonbd, "_SUBSAMPLE", 300)
    fit = ParetoNBD().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    for name in NAMES:
        assert fit.params_[name] == pytest.approx(cdnow_fit.params_[name], rel=2e-3)
    assert fit.log_likelihood_ == pytest.approx(cdnow_fit.log_likelihood_, abs=1e-3)


def test_deterministic_and_penalizer_shrinks(cdnow: pd.DataFrame, cdnow_fit: ParetoNBD) -> None:
    args = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert ParetoNBD().fit(*args).params_ == cdnow_fit.params_
    pen = ParetoNBD(penalizer=0.1).fit(*args)
    assert pen.log_likelihood_ < cdnow_fit.log_likelihood_
    assert all(np.isfinite(v) for v in pen.params_.values())


def test_degenerate_no_dropout() -> None:
    # Nobody ever drops out (mu = 0): the Pareto/NBD cannot beat its NBD limit s/beta -> 0.
    rng = np.random.default_rng(0)
    age = rng.uniform(20, 52, 1500)
    x, tx, T = simulate_paretonbd(age, 2.0, 10.0, 1.0, 1e12, random_state=0)
    fit = ParetoNBD(n_starts=2).fit(x, tx, T)
    assert fit.degenerate_ and "no dropout identified" in str(fit.degenerate_reason_)
    assert np.isfinite(fit.expected_purchases(52.0, x, tx, T)).all()
    assert np.isfinite(fit.probability_alive(x, tx, T)).all()


def test_degenerate_one_time_buyers_only() -> None:
    T = np.linspace(1.0, 52.0, 300)
    fit = ParetoNBD(n_starts=2).fit(np.zeros(300), np.zeros(300), T)
    assert fit.degenerate_ and "no customer made a repeat purchase" in str(fit.degenerate_reason_)
    assert np.isfinite(fit.expected_purchases(10.0, np.zeros(300), np.zeros(300), T)).all()
    assert np.isfinite(fit.expected_purchases_new(10.0)).all()


def test_degenerate_everyone_new_at_cutoff() -> None:
    zeros = np.zeros(50)
    fit = ParetoNBD(n_starts=1).fit(zeros, zeros, zeros)
    assert fit.degenerate_ and "P(alive) >= 0.99" in str(fit.degenerate_reason_)
    assert fit.probability_alive(zeros, zeros, zeros) == pytest.approx(np.ones(50))
    assert np.isfinite(fit.expected_purchases(5.0, zeros, zeros, zeros)).all()


def test_degenerate_parameter_at_bound(
    cdnow: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # alpha in units of the mean age (10.6 / 32.7 weeks, log -1.1) is out of reach
    monkeypatch.setattr(paretonbd, "_LOG_BOUND", 0.5)
    fit = ParetoNBD(n_starts=1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert fit.degenerate_ and "alpha is at its search bound" in str(fit.degenerate_reason_)


@pytest.mark.parametrize(
    ("x", "tx", "T", "message"),
    [
        ([1, -1], [1.0, 0.0], [2.0, 2.0], "frequency has negative values"),
        ([1, 1], [-1.0, 1.0], [2.0, 2.0], "recency has negative values"),
        ([1, 1], [3.0, 1.0], [2.0, 2.0], "recency is greater than T"),
        ([1.5, 1], [1.0, 1.0], [2.0, 2.0], "whole numbers"),
        ([1, 1], [1.0, 1.0], [2.0], "lengths differ"),
        ([1, 0], [1.0, 1.0], [2.0, 2.0], "recency must be 0 for customers with frequency 0"),
        ([1, np.nan], [1.0, 0.0], [2.0, 2.0], "missing or infinite"),
        ([], [], [], "no customers"),
        ([[1]], [[1.0]], [[2.0]], "1-D"),
    ],
)
def test_bad_input_is_rejected(x: list, tx: list, T: list, message: str) -> None:
    with pytest.raises(ClustomerError, match=message):
        ParetoNBD().fit(x, tx, T)


def test_bad_settings_and_unfitted_use_are_rejected() -> None:
    with pytest.raises(ClustomerError, match="n_starts"):
        ParetoNBD(n_starts=0).fit([1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="penalizer"):
        ParetoNBD(penalizer=-1.0).fit([1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="not fitted"):
        ParetoNBD().probability_alive([1], [1.0], [2.0])
    m = _model(r=1.0, alpha=1.0, s=1.0, beta=1.0)
    with pytest.raises(ClustomerError, match="horizon"):
        m.expected_purchases(-1.0, [1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="one value per customer"):
        m.expected_purchases([1.0, 2.0, 3.0], [1, 2], [1.0, 1.0], [2.0, 2.0])


def test_scalars_and_per_customer_horizons() -> None:
    m = _model(r=0.55, alpha=10.6, s=0.6, beta=11.7)
    one = m.expected_purchases(10.0, 2, 30.0, 38.0)
    both = m.expected_purchases([10.0, 20.0], [2, 2], [30.0, 30.0], [38.0, 38.0])
    assert one.shape == (1,) and both[0] == pytest.approx(one[0]) and both[1] > both[0]
    # Repeat purchases on the first day (recency 0 with frequency > 0) are valid data.
    assert np.isfinite(m.probability_alive([2], [0.0], [10.0])).all()
