"""Gamma-Gamma: published CDNOW estimates, expected spend, recovery, CLV by hand, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from clustomer.clv import BetaGeo, GammaGamma
from clustomer.errors import ClustomerError

CDNOW = Path(__file__).parent / "data" / "cdnow" / "cdnow_customers_summary_with_transactions.csv"
# Fader & Hardie (2013), "The Gamma-Gamma model of monetary value", on the 946 repeat buyers
# of the CDNOW 1/10 sample (39-week calibration): p = 6.25, q = 3.74, gamma = 15.44,
# LL = -4055.92.
PUBLISHED = {"p": 6.25, "q": 3.74, "v": 15.44}
PUBLISHED_LL = -4055.92


def _model(**params: float) -> GammaGamma:
    model = GammaGamma()
    model.params_ = dict(params)
    return model


class _Flat:
    """A transaction model that expects ``rate * t`` purchases from everybody."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def expected_purchases(self, t, frequency, recency, T):  # type: ignore[no-untyped-def]
        return np.full(len(np.atleast_1d(frequency)), self.rate * t)


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_fit(cdnow: pd.DataFrame) -> GammaGamma:
    return GammaGamma().fit(cdnow["x"], cdnow["zbar"])


def test_cdnow_reproduces_published_estimates(cdnow: pd.DataFrame, cdnow_fit: GammaGamma) -> None:
    for name, value in PUBLISHED.items():
        assert cdnow_fit.params_[name] == pytest.approx(value, rel=0.005), name
    assert cdnow_fit.log_likelihood_ == pytest.approx(PUBLISHED_LL, abs=0.01)
    assert cdnow_fit.n_ignored_ == len(cdnow) - 946
    assert cdnow_fit.converged_ and not cdnow_fit.degenerate_


def test_per_customer_log_likelihood(cdnow: pd.DataFrame, cdnow_fit: GammaGamma) -> None:
    ll = cdnow_fit.log_likelihood(cdnow["x"], cdnow["zbar"])
    repeat = (cdnow["x"] > 0).to_numpy()
    assert np.isnan(ll[~repeat]).all() and np.isfinite(ll[repeat]).all()
    assert ll[repeat].sum() == pytest.approx(cdnow_fit.log_likelihood_, abs=1e-8)


def test_expected_spend_by_hand() -> None:
    p, q, v = 6.25, 3.74, 15.44
    model = _model(p=p, q=q, v=v)
    population = p * v / (q - 1)
    got = model.expected_spend([0, 2, 2, 2, 0], [0.0, 30.0, 0.0, -5.0, np.nan])
    own = p * (v + 2 * 30.0) / (p * 2 + q - 1)  # Fader & Hardie (2013), eq. for E(M|x, m)
    np.testing.assert_allclose(got, [population, own, population, population, population])
    # a weighted average of the population mean and the customer's own mean
    w = (q - 1) / (p * 2 + q - 1)
    assert own == pytest.approx(w * population + (1 - w) * 30.0)


def test_expected_spend_undefined_when_q_at_most_one() -> None:
    model = _model(p=1.0, q=0.8, v=1.0)
    got = model.expected_spend([0, 3], [0.0, 10.0])
    assert np.isnan(got[0]) and np.isfinite(got[1])


def test_parameter_recovery() -> None:
    # 20,000 simulated repeat buyers; over 12 seeds the relative errors had standard
    # deviations 5% (p), 1.6% (q), 7% (v): the tolerances are about 4 of them, and the
    # true parameters must lie in the 99.9% likelihood-ratio confidence region.
    true = {"p": 6.0, "q": 4.0, "v": 15.0}
    rng = np.random.default_rng(5)
    x = 1 + rng.poisson(2.0, 20_000)
    m = GammaGamma.simulate(true, x, rng)
    model = GammaGamma().fit(x, m)
    for k, tol in {"p": 0.2, "q": 0.07, "v": 0.25}.items():
        assert model.params_[k] == pytest.approx(true[k], rel=tol), k
    at_truth = np.nansum(_model(**true).log_likelihood(x, m))
    assert 0 <= 2 * (model.log_likelihood_ - at_truth) < chi2.ppf(0.999, 3)
    # the mean spend is identified much more tightly than p and v separately
    mean = model.params_["p"] * model.params_["v"] / (model.params_["q"] - 1)
    assert mean == pytest.approx(30.0, rel=0.03)


def test_money_unit_only_rescales_v(cdnow: pd.DataFrame, cdnow_fit: GammaGamma) -> None:
    cents = GammaGamma().fit(cdnow["x"], cdnow["zbar"] * 100)
    assert cents.params_["v"] == pytest.approx(100 * cdnow_fit.params_["v"], rel=1e-4)
    assert cents.params_["p"] == pytest.approx(cdnow_fit.params_["p"], rel=1e-4)
    assert cents.params_["q"] == pytest.approx(cdnow_fit.params_["q"], rel=1e-4)


def test_clv_by_hand_with_a_flat_transaction_model() -> None:
    # 0.1 purchases per day, 30 days a month: 3 purchases a month; spend from E(M|x, m)
    gg = _model(p=6.0, q=4.0, v=15.0)
    spend = 6.0 * (15.0 + 2 * 30.0) / (6.0 * 2 + 4.0 - 1)  # = 30
    clv = gg.customer_lifetime_value(
        _Flat(0.1), [2], [5.0], [9.0], [30.0], horizon=12, discount_rate=0.01
    )
    by_hand = sum(spend * 3.0 / 1.01**k for k in range(1, 13))
    assert clv[0] == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(spend * 3.0 * (1 - 1.01**-12) / 0.01)
    weekly = gg.customer_lifetime_value(
        _Flat(0.7), [2], [5.0], [9.0], [30.0], horizon=12, freq_per_period=30 / 7
    )
    assert weekly[0] == pytest.approx(by_hand, rel=1e-12)  # a model fitted in weeks


def test_clv_with_bgnbd_by_hand() -> None:
    # CDNOW is in weeks: 4.345 weeks a month, 6 months, 1% a month
    bg = BetaGeo()
    bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    gg = _model(**PUBLISHED)
    x, tx, T, m = np.array([0, 2, 7]), np.array([0.0, 30.43, 20.0]), 38.86, [0.0, 22.35, 40.0]
    T3 = np.full(3, T)
    clv = gg.customer_lifetime_value(bg, x, tx, T3, m, horizon=6, freq_per_period=4.345)
    spend = gg.expected_spend(x, m)
    cum = [bg.expected_purchases(4.345 * k, x, tx, T3) for k in range(7)]
    by_hand = sum(spend * (cum[k] - cum[k - 1]) / 1.01**k for k in range(1, 7))
    np.testing.assert_allclose(clv, by_hand, rtol=1e-12)
    undiscounted = gg.customer_lifetime_value(
        bg, x, tx, T3, m, horizon=6, discount_rate=0.0, freq_per_period=4.345
    )
    np.testing.assert_allclose(undiscounted, spend * cum[6], rtol=1e-12)
    assert (clv < undiscounted).all() and (clv > 0).all()


def test_simulate_means_have_the_model_mean() -> None:
    m = GammaGamma.simulate({"p": 6.0, "q": 4.0, "v": 15.0}, np.full(50_000, 3), 2)
    assert m.mean() == pytest.approx(6.0 * 15.0 / 3.0, rel=0.02) and (m > 0).all()


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([1, 2], [10.0], "lengths differ"),
        ([1.5, 2], [10.0, 10.0], "whole numbers"),
        ([1, -2], [10.0, 10.0], "negative"),
        ([1, 2], [10.0, np.nan], "monetary has 1 missing"),
        ([1, 2], [10.0, np.inf], "monetary has 1 missing"),
        ([0, 0, 1], [0.0, 0.0, 5.0], "needs repeat buyers"),
        ([1, 2], ["a", "b"], "monetary must be numbers"),
    ],
)
def test_bad_input_is_named(frequency: list, monetary: list, message: str) -> None:
    with pytest.raises(ClustomerError, match=message):
        GammaGamma().fit(frequency, monetary)


def test_rows_that_are_not_repeat_buyers_are_ignored() -> None:
    rng = np.random.default_rng(1)
    x = 1 + rng.poisson(2.0, 500)
    m = GammaGamma.simulate(PUBLISHED, x, rng)
    base = GammaGamma(n_starts=1).fit(x, m)
    xs = np.concatenate([x, [0, 0, 3]])
    ms = np.concatenate([m, [np.nan, 0.0, -4.0]])
    more = GammaGamma(n_starts=1).fit(xs, ms)
    assert more.n_ignored_ == 3 and base.n_ignored_ == 0
    assert more.params_ == pytest.approx(base.params_)


def test_bad_clv_settings_and_unfitted_model() -> None:
    with pytest.raises(ClustomerError, match="not fitted"):
        GammaGamma().expected_spend([1], [10.0])
    gg = _model(**PUBLISHED)
    args = (_Flat(0.1), [2], [5.0], [9.0], [30.0])
    for kwargs, message in [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 2.5}, "horizon"),
        ({"discount_rate": -1.0}, "discount_rate"),
        ({"freq_per_period": 0.0}, "freq_per_period"),
    ]:
        with pytest.raises(ClustomerError, match=message):
            gg.customer_lifetime_value(*args, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ClustomerError, match="expected_purchases"):
        gg.customer_lifetime_value(object(), [2], [5.0], [9.0], [30.0])  # type: ignore[arg-type]
