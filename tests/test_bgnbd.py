"""BG/NBD: published CDNOW estimates, numerics at the edges, recovery, degeneracy, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import betainc, betaln, hyp2f1, logsumexp
from scipy.stats import chi2

from clustomer.clv import BetaGeo
from clustomer.clv.bgnbd import _Data
from clustomer.errors import ClustomerError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary.csv"
# Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing Science
# 24(2):275-284, section 5 (CDNOW 1/10 sample, 39-week calibration).
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4


def _model(**params: float) -> BetaGeo:
    model = BetaGeo()
    model.params_ = dict(params)
    return model


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: pd.DataFrame) -> BetaGeo:
    return BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


def test_cdnow_reproduces_published_estimates(cdnow_fit: BetaGeo) -> None:
    # FHL (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4
    for name, value in PUBLISHED.items():
        assert cdnow_fit.params_[name] == pytest.approx(value, rel=0.005), name
    assert abs(cdnow_fit.log_likelihood_ - PUBLISHED_LL) < 0.5
    assert cdnow_fit.converged_
    assert not cdnow_fit.degenerate_ and cdnow_fit.degenerate_reason_ is None


def test_cdnow_published_conditional_expectation(cdnow_fit: BetaGeo) -> None:
    # FHL (2005), section 5: a customer with x = 2, t_x = 30.43, T = 38.86 is expected to
    # make 1.226 repeat purchases in the next 39 weeks.
    published = _model(**PUBLISHED).expected_purchases(39, 2, 30.43, 38.86)
    assert published[0] == pytest.approx(1.226, abs=5e-4)
    assert cdnow_fit.expected_purchases(39, 2, 30.43, 38.86)[0] == pytest.approx(1.226, abs=1e-3)


def test_per_customer_log_likelihood_sums_to_fit(cdnow: pd.DataFrame, cdnow_fit: BetaGeo) -> None:
    ll = cdnow_fit.log_likelihood(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert ll.shape == (len(cdnow),) and np.isfinite(ll).all()
    assert ll.sum() == pytest.approx(cdnow_fit.log_likelihood_, abs=1e-6)


def test_closed_form_agrees_where_it_is_well_conditioned(cdnow: pd.DataFrame) -> None:
    # FHL (2005) eq. 10 and eq. 7 with scipy's 2F1 are fine at the CDNOW estimates
    r, alpha, a, b = PUBLISHED.values()
    x, tx, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    t = 39.0
    num = (a + b + x - 1) / (a - 1)
    num *= 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, t / (alpha + T + t)
    )
    den = 1 + (x > 0) * a / (b + np.maximum(x, 1) - 1) * ((alpha + T) / (alpha + tx)) ** (r + x)
    model = _model(**PUBLISHED)
    np.testing.assert_allclose(model.expected_purchases(t, x, tx, T), num / den, rtol=1e-8)
    np.testing.assert_allclose(model.probability_alive(x, tx, T), 1 / den, rtol=1e-12)
    ts = np.array([0.5, 3.0, 39.0, 78.0])
    eq7 = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + ts)) ** r * hyp2f1(r, b, a + b - 1, ts / (alpha + ts)))
    )
    np.testing.assert_allclose(model.expected_purchases_new(ts), eq7, rtol=1e-8)


def _series_reference(r: float, alpha: float, a: float, b: float, t: float) -> float:
    """E[X(t)] of a live customer as an independent series of positive terms.

    ``E = r sum_n (r+1)_n (b)_n / ((a+b)_n n!) B_z(n+1, r)``, ``z = t/(alpha+t)``: integrate
    the purchase rate ``E[lambda (1+p u/alpha)^-(r+1)]`` over the horizon term by term.
    """
    n = np.arange(20_000, dtype=float)
    step = np.log((r + 1 + n[:-1]) * (b + n[:-1]) / ((a + b + n[:-1]) * (n[:-1] + 1)))
    log_coef = np.concatenate([[0.0], np.cumsum(step)])
    z = t / (alpha + t)
    with np.errstate(divide="ignore"):
        log_bz = betaln(n + 1, r) + np.log(betainc(n + 1, r, z))
    return float(r * np.exp(logsumexp(log_coef + log_bz)))


@pytest.mark.parametrize("a", [1e-4, 0.5, 1.0, 1.0 + 1e-9, 3.0])
@pytest.mark.parametrize("b", [0.05, 2.0, 1e4])
@pytest.mark.parametrize("r", [0.1, 30.0])
def test_live_customer_expectation_against_series(a: float, b: float, r: float) -> None:
    # a < 1 makes the closed form's bracket negative; a = 1 is 0/0; large b or r overflow
    ts = np.array([0.01, 1.0, 9.0])  # z = t / (alpha + t) = 0.0099, 0.5, 0.9
    got = _model(r=r, alpha=1.0, a=a, b=b).expected_purchases_new(ts)
    want = [_series_reference(r, 1.0, a, b, t) for t in ts]
    np.testing.assert_allclose(got, want, rtol=1e-8)


EDGE_PARAMS = [
    PUBLISHED,
    {"r": 0.243, "alpha": 4.414, "a": 1.0, "b": 2.426},  # the closed form's 0/0
    {"r": 2.0, "alpha": 0.05, "a": 3.0, "b": 1e4},  # integer c-a-b, scipy's 2F1 gives NaN
    {"r": 0.5, "alpha": 30.0, "a": np.exp(-12.0), "b": np.exp(12.0)},  # the degenerate edge
]


@pytest.mark.parametrize("params", EDGE_PARAMS)
def test_predictions_finite_for_every_kind_of_customer(params: dict[str, float]) -> None:
    model = _model(**params)
    # one-time buyers (old, new, first seen on the cutoff day or just before), heavy buyers
    x = np.array([0, 0, 0, 0, 1, 1, 2, 500, 500, 5000, 5000])
    tx = np.array([0, 0, 0, 0, 1e-9, 1.0, 30.43, 1.0, 365.0, 10.0, 700.0])
    T = np.array([0, 1e-9, 1.0, 700.0, 1e-9, 700.0, 38.86, 365.0, 365.0, 700.0, 700.0])
    for t in (0.0, 1e-9, 1.0, 39.0, 365.0, 1e6):
        e = model.expected_purchases(t, x, tx, T)
        assert np.isfinite(e).all() and (e >= 0).all(), (t, e)
        ceiling = (params["r"] + x) * t / (params["alpha"] + T)  # never dropping out
        assert (e <= ceiling * (1 + 1e-9)).all()
    p = model.probability_alive(x, tx, T)
    assert np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()
    assert (p[x == 0] == 1.0).all()
    grid = np.array([1.0, 39.0, 365.0, 1e4])
    new = model.expected_purchases_new(grid)
    assert np.isfinite(new).all() and (np.diff(new) > 0).all()
    assert np.isfinite(model.log_likelihood(x, tx, T)).all()


def test_expected_purchases_grow_with_horizon_and_take_array_horizons() -> None:
    model = _model(**PUBLISHED)
    e = [model.expected_purchases(t, [0, 3], [0.0, 20.0], [38.0, 38.0]) for t in (1, 10, 100)]
    assert (np.diff(np.array(e), axis=0) > 0).all()
    per = model.expected_purchases([10.0, 100.0], [0, 3], [0.0, 20.0], [38.0, 38.0])
    assert per == pytest.approx([e[1][0], e[2][1]])
    assert model.expected_purchases(0, [0, 3], [0.0, 20.0], [38.0, 38.0]).tolist() == [0.0, 0.0]


def test_probability_alive_does_not_overflow() -> None:
    model = _model(**PUBLISHED)
    p = model.probability_alive([10_000, 10_000], [0.001, 999.0], [1000.0, 1000.0])
    assert p[0] == 0.0 and 0 < p[1] <= 1


def test_gradient_matches_finite_differences(cdnow: pd.DataFrame) -> None:
    x, tx, T = (cdnow[c].to_numpy() for c in ("frequency", "recency", "T"))
    data = _Data.build(x, tx, T)
    theta = np.array([0.3, 5.0, 0.7, 2.0])
    _, grad = data.nll(theta)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6 * theta[k]
        numeric = (data.nll(theta + h)[0] - data.nll(theta - h)[0]) / (2 * h[k])
        assert grad[k] == pytest.approx(numeric, rel=1e-5)


def test_time_unit_only_rescales_alpha(cdnow: pd.DataFrame, cdnow_fit: BetaGeo) -> None:
    days = BetaGeo().fit(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert days.params_["alpha"] == pytest.approx(7 * cdnow_fit.params_["alpha"], rel=1e-4)
    for k in ("r", "a", "b"):
        assert days.params_[k] == pytest.approx(cdnow_fit.params_[k], rel=1e-4)
    # the density of times picks up the Jacobian 7^-x per customer
    shift = -np.log(7.0) * cdnow["frequency"].sum()
    assert days.log_likelihood_ == pytest.approx(cdnow_fit.log_likelihood_ + shift, abs=1e-3)


def test_parameter_recovery() -> None:
    # 10,000 simulated customers; over 12 seeds the relative errors had standard deviations
    # 1.7% (r), 2.8% (alpha), 6% (a), 7% (b): the tolerances are about 4 of them, and the
    # true parameters must lie in the 99.9% likelihood-ratio confidence region.
    true = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 2.5}
    rng = np.random.default_rng(7)
    d = BetaGeo.simulate(true, 10_000, rng.uniform(20, 60, 10_000), rng)
    model = BetaGeo().fit(d["frequency"], d["recency"], d["T"])
    for k, tol in {"r": 0.07, "alpha": 0.12, "a": 0.25, "b": 0.28}.items():
        assert model.params_[k] == pytest.approx(true[k], rel=tol), k
    at_truth = _model(**true).log_likelihood(d["frequency"], d["recency"], d["T"]).sum()
    assert 0 <= 2 * (model.log_likelihood_ - at_truth) < chi2.ppf(0.999, 4)
    assert model.converged_ and not model.degenerate_


def test_simulate_is_consistent() -> None:
    d = BetaGeo.simulate(PUBLISHED, 2000, 39.0, 3)
    assert list(d.columns) == ["frequency", "recency", "T"]
    assert (d["recency"] <= d["T"]).all() and (d.loc[d["frequency"] == 0, "recency"] == 0).all()
    assert ((d["frequency"] > 0) == (d["recency"] > 0)).all()
    again = BetaGeo.simulate(PUBLISHED, 2000, 39.0, 3)
    pd.testing.assert_frame_equal(d, again)


def _no_dropout(rates: np.ndarray, T: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    x = rng.poisson(rates * T).astype(float)
    tx = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T})


@pytest.mark.parametrize("heterogeneous", [False, True])
def test_degenerate_fit_without_dropout_is_flagged(heterogeneous: bool) -> None:
    # everybody alive and buying at a Poisson rate: maximum likelihood runs to p = 0
    rng = np.random.default_rng(11)
    n = 3000
    rates = rng.gamma(2.0, 0.25, n) if heterogeneous else np.full(n, 0.5)
    d = _no_dropout(rates, rng.uniform(10, 50, n), rng)
    model = BetaGeo().fit(d["frequency"], d["recency"], d["T"])
    assert model.degenerate_ and model.degenerate_reason_
    p = model.params_
    assert p["a"] / (p["a"] + p["b"]) < 1e-3
    e = model.expected_purchases(30, d["frequency"], d["recency"], d["T"])
    assert np.isfinite(e).all()
    assert np.isfinite(model.probability_alive(d["frequency"], d["recency"], d["T"])).all()


def test_nobody_repeats_is_degenerate_not_an_error() -> None:
    model = BetaGeo(n_starts=1).fit([0, 0, 0], [0.0, 0.0, 0.0], [5.0, 10.0, 20.0])
    assert model.degenerate_ and "no customer" in (model.degenerate_reason_ or "")
    assert np.isfinite(model.expected_purchases(10, [0], [0.0], [5.0])).all()


def test_penalizer_shrinks_the_log_parameters(cdnow: pd.DataFrame, cdnow_fit: BetaGeo) -> None:
    pen = BetaGeo(penalizer=0.1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert pen.log_likelihood_ < cdnow_fit.log_likelihood_
    assert abs(np.log(pen.params_["b"])) < abs(np.log(cdnow_fit.params_["b"]))


@pytest.mark.parametrize(
    ("frequency", "recency", "T", "message"),
    [
        ([1, -1], [1.0, 0.0], [2.0, 2.0], "frequency has 1 negative"),
        ([1, 1], [1.0, -1.0], [2.0, 2.0], "recency has 1 negative"),
        ([1, 1], [1.0, 3.0], [2.0, 2.0], "recency is greater than T"),
        ([1.5, 1], [1.0, 1.0], [2.0, 2.0], "whole numbers"),
        ([1, 2], [0.0, 1.0], [2.0, 2.0], "frequency > 0 with recency 0"),
        ([0, 2], [1.0, 1.0], [2.0, 2.0], "recency > 0 with frequency 0"),
        ([1, 2], [1.0, 1.0], [2.0], "lengths differ"),
        ([1, np.nan], [1.0, 1.0], [2.0, 2.0], "missing or infinite"),
        ([], [], [], "no customers"),
        (["a"], [1.0], [2.0], "must be numbers"),
    ],
)
def test_bad_input_is_named(frequency: list, recency: list, T: list, message: str) -> None:
    with pytest.raises(ClustomerError, match=message):
        BetaGeo().fit(frequency, recency, T)
    with pytest.raises(ClustomerError, match=message):
        _model(**PUBLISHED).expected_purchases(10, frequency, recency, T)


def test_bad_settings_and_unfitted_model() -> None:
    with pytest.raises(ClustomerError, match="not fitted"):
        BetaGeo().probability_alive([1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="n_starts"):
        BetaGeo(n_starts=0).fit([1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="penalizer"):
        BetaGeo(penalizer=-1.0).fit([1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="horizon"):
        _model(**PUBLISHED).expected_purchases(-1.0, [1], [1.0], [2.0])
    with pytest.raises(ClustomerError, match="one value per customer"):
        _model(**PUBLISHED).expected_purchases([1.0, 2.0, 3.0], [1, 1], [1.0, 1.0], [2.0, 2.0])
