"""Campaign statistics and planning: tests, intervals and sample sizes against published
values and SciPy, and the coverage of the intervals on seeded simulations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from clustomer.campaign import (
    compare_arms,
    minimum_detectable_lift,
    parse_lift,
    parse_rate,
    plan,
    power_of,
    sample_size,
)
from clustomer.campaign.stats import (
    difference_interval,
    fisher_exact_p,
    min_expected_count,
    proportion_test,
    relative_lift,
    two_proportion_z,
    welch_interval,
    wilson_interval,
)
from clustomer.errors import ClustomerError

# -- intervals and tests ------------------------------------------------------------

# Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score,
# no continuity correction): (x1, n1, x2, n2) -> (lower, upper)
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((6, 7, 2, 7), (0.0582, 0.8062)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_difference_interval_matches_newcombe_table(counts, expected):
    lower, upper = difference_interval(*counts)
    assert lower == pytest.approx(expected[0], abs=5e-5)
    assert upper == pytest.approx(expected[1], abs=5e-5)


def test_wilson_interval_matches_scipy():
    for x, n in [(0, 10), (3, 10), (10, 10), (47, 1000), (1, 3)]:
        ci = sps.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(x, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_fisher_matches_scipy_on_random_tables():
    rng = np.random.default_rng(11)
    tables = [(0, 5, 0, 7), (5, 5, 0, 5), (1, 10, 9, 10), (3, 2000, 0, 2000), (0, 1, 1, 1)]
    for _ in range(150):
        n1, n2 = (int(v) for v in rng.integers(1, 60, size=2))
        tables.append((int(rng.integers(0, n1 + 1)), n1, int(rng.integers(0, n2 + 1)), n2))
    for x1, n1, x2, n2 in tables:
        expected = sps.fisher_exact([[x1, n1 - x1], [x2, n2 - x2]]).pvalue
        assert fisher_exact_p(x1, n1, x2, n2) == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_z_test_matches_hand_computation_and_scipy():
    x1, n1, x2, n2 = 240, 3000, 150, 3000
    p1, p2, pooled = x1 / n1, x2 / n2, (x1 + x2) / (n1 + n2)
    z_hand = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z, p = two_proportion_z(x1, n1, x2, n2)
    assert z == pytest.approx(z_hand, rel=1e-12)
    assert p == pytest.approx(2 * sps.norm.sf(abs(z_hand)), rel=1e-9)
    # the pooled z-test is Pearson's chi-square test without Yates' correction: z^2 = X^2
    chi2, p_chi2, _, _ = sps.chi2_contingency([[x1, n1 - x1], [x2, n2 - x2]], correction=False)
    assert z * z == pytest.approx(chi2, rel=1e-9)
    assert p == pytest.approx(p_chi2, rel=1e-6)
    # sign follows treatment - control
    assert two_proportion_z(x2, n2, x1, n1)[0] == pytest.approx(-z_hand)


def test_z_test_without_variance_is_not_nan():
    assert two_proportion_z(0, 50, 0, 70) == (None, 1.0)
    assert two_proportion_z(50, 50, 70, 70) == (None, 1.0)


def test_small_counts_switch_to_fisher_by_the_expected_count_rule():
    # expected converted in each arm = 10 * 100 / 200 = 5: not below 5 -> z-test
    assert min_expected_count(6, 100, 4, 100) == 5.0
    assert proportion_test(6, 100, 4, 100).method == "z"
    # 9 conversions in all: expected 4.5 -> Fisher, with SciPy's p-value
    small = proportion_test(6, 100, 3, 100)
    assert small.method == "fisher" and small.statistic is None
    assert small.p_value == pytest.approx(sps.fisher_exact([[6, 94], [3, 97]]).pvalue)
    assert "4.5" in small.reason


def test_relative_lift_katz_interval_and_zeros():
    lift, (lo, hi), why = relative_lift(240, 3000, 150, 3000)
    se = math.sqrt(1 / 240 - 1 / 3000 + 1 / 150 - 1 / 3000)
    rr = 240 / 150
    assert why is None and lift == pytest.approx(rr - 1)
    assert lo == pytest.approx(rr * math.exp(-1.959964 * se) - 1, rel=1e-5)
    assert hi == pytest.approx(rr * math.exp(1.959964 * se) - 1, rel=1e-5)
    assert relative_lift(5, 100, 0, 100)[:2] == (None, None)
    lift0, ci0, why0 = relative_lift(0, 100, 5, 100)
    assert lift0 == -1.0 and ci0 is None and "treatment" in str(why0)


def test_welch_interval_matches_scipy():
    rng = np.random.default_rng(3)
    a = rng.gamma(0.3, 40, size=400)
    b = rng.gamma(0.3, 30, size=90)
    res = sps.ttest_ind(a, b, equal_var=False)
    ci = res.confidence_interval(0.95)
    got = welch_interval(a, b)
    assert got.difference == pytest.approx(a.mean() - b.mean())
    assert (got.lower, got.upper) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert got.df == pytest.approx(res.df)
    one = welch_interval([5.0], [1.0, 2.0])
    assert one.lower is None and one.reason
    flat = welch_interval([0.0, 0.0], [0.0, 0.0, 0.0])
    assert (flat.lower, flat.upper) == (0.0, 0.0)


def _simulated_arms(rng: np.random.Generator, n: int, p_t: float, p_c: float) -> pd.DataFrame:
    conv_t = rng.random(n) < p_t
    conv_c = rng.random(n) < p_c
    spend = rng.gamma(2.0, 25.0, size=2 * n)
    conv = np.concatenate([conv_t, conv_c])
    return pd.DataFrame(
        {
            "arm": ["treatment"] * n + ["control"] * n,
            "converted": conv,
            "revenue": np.where(conv, spend, 0.0),
        }
    )


def test_a_known_lift_is_recovered_within_its_interval():
    rng = np.random.default_rng(2024)
    c = compare_arms("sim", _simulated_arms(rng, 4000, 0.08, 0.05))
    assert c.measurable and c.test == "z"
    assert c.abs_lift_ci[0] <= 0.03 <= c.abs_lift_ci[1]
    assert c.rel_lift_ci[0] <= 0.6 <= c.rel_lift_ci[1]
    assert c.abs_lift_ci[0] > 0 and c.p_value < 0.05  # 4,000 per arm: ~99% power
    # true revenue per customer: p * 50 (gamma mean) -> difference 1.5
    assert c.revenue_diff_ci[0] <= 1.5 <= c.revenue_diff_ci[1]


def test_interval_coverage_over_seeded_simulations():
    rng = np.random.default_rng(99)
    n, p_t, p_c, sims = 2000, 0.08, 0.05, 300
    x_t = rng.binomial(n, p_t, size=sims)
    x_c = rng.binomial(n, p_c, size=sims)
    abs_hits = rel_hits = 0
    for x1, x2 in zip(x_t, x_c, strict=True):
        lo, hi = difference_interval(int(x1), n, int(x2), n)
        abs_hits += lo <= p_t - p_c <= hi
        _, rel_ci, _ = relative_lift(int(x1), n, int(x2), n)
        assert rel_ci is not None
        rel_hits += rel_ci[0] <= p_t / p_c - 1 <= rel_ci[1]
    assert 0.90 <= abs_hits / sims <= 0.99
    assert 0.90 <= rel_hits / sims <= 0.99


def test_no_lift_gives_uniformish_p_values():
    rng = np.random.default_rng(5)
    sims = 300
    x = rng.binomial(1500, 0.05, size=(sims, 2))
    rejections = sum(proportion_test(int(a), 1500, int(b), 1500).p_value < 0.05 for a, b in x)
    assert 0.01 <= rejections / sims <= 0.10


def test_zero_conversions_give_none_not_nan():
    frame = pd.DataFrame(
        {"arm": ["treatment"] * 30 + ["control"] * 30, "converted": False, "revenue": 0.0}
    )
    c = compare_arms("empty", frame)
    d = c.to_dict()
    assert c.rel_lift is None and c.rel_lift_ci is None and c.test == "fisher"
    assert c.p_value == 1.0 and c.abs_lift == 0.0
    assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in d.values())
    assert any("control" in n for n in c.notes)


def test_no_control_group_is_said_plainly():
    frame = pd.DataFrame({"arm": ["treatment"] * 5, "converted": True, "revenue": 1.0})
    c = compare_arms("all", frame)
    assert not c.measurable and c.abs_lift is None and c.p_value is None
    assert "no control group" in c.summary and "cannot be measured" in c.summary


# -- planning --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p_control", "p_treatment", "corrected", "uncorrected"),
    [
        # Fleiss, Levin & Paik (2003), Table A.4 (two-sided alpha 0.05, power 0.80,
        # continuity-corrected); uncorrected: their eq. 4.14 without the correction
        (0.05, 0.10, 474, 435),
        (0.10, 0.20, 219, 199),
    ],
)
def test_sample_size_matches_fleiss(p_control, p_treatment, corrected, uncorrected):
    lift = p_treatment - p_control
    assert sample_size(p_control, lift, continuity=True).n_treatment == corrected
    plain = sample_size(p_control, lift)
    assert plain.n_treatment == plain.n_control == uncorrected
    assert plain.total == 2 * uncorrected


def test_sample_size_is_close_to_cohens_h():
    # statsmodels' NormalIndPower with Cohen's h: h / sqrt(2 / n) = z_a + z_b per arm
    for p0, d in [(0.03, 0.02), (0.05, 0.03), (0.2, 0.05), (0.5, 0.1)]:
        h = 2 * math.asin(math.sqrt(p0 + d)) - 2 * math.asin(math.sqrt(p0))
        n_h = 2 * ((sps.norm.ppf(0.975) + sps.norm.ppf(0.8)) / h) ** 2
        assert sample_size(p0, d).n_treatment == pytest.approx(n_h, rel=0.04)


def test_sample_size_gives_the_power_asked_for():
    for power in (0.8, 0.9):
        s = sample_size(0.03, 0.02, power=power)
        assert power_of(0.03, 0.02, s.n_treatment, s.n_control) >= power - 1e-3
        assert power_of(0.03, 0.02, s.n_treatment - 40, s.n_control - 40) < power
    unequal = sample_size(0.03, 0.02, control_share=0.1)
    assert unequal.n_control == pytest.approx(unequal.n_treatment / 9, rel=0.01)
    assert power_of(0.03, 0.02, unequal.n_treatment, unequal.n_control) >= 0.799
    assert sample_size(0.03, 0.02, alpha=0.01).n_treatment > sample_size(0.03, 0.02).n_treatment


def test_minimum_detectable_lift_inverts_the_sample_size():
    mde = minimum_detectable_lift(0.03, 2000)
    assert mde is not None and 0.02 < mde < 0.05
    assert sample_size(0.03, mde).total == pytest.approx(2000, abs=2)
    assert minimum_detectable_lift(0.03, 3) is None


def test_plan_says_when_a_list_is_too_small():
    small = plan(0.03, parse_lift("2pp"), list_size=1200, list_name="segment Champions")
    assert small.enough is False and small.power_at_list < 0.8
    assert "segment Champions (1,200 customers) is too small" in small.message
    assert f"{small.detectable_lift * 100:.3g}pp" in small.message
    big = plan(0.03, parse_lift("2pp"), list_size=10_000)
    assert big.enough is True and "is enough" in big.message and big.power_at_list > 0.8
    assert plan(0.03, parse_lift("2pp")).enough is None
    assert plan(0.03, parse_lift("2pp")).to_dict()["needed"]["total"] == 2 * 1506


@pytest.mark.parametrize(
    ("text", "rate"), [("3%", 0.03), ("0.03", 0.03), (" 2.5 % ", 0.025), (".5", 0.5)]
)
def test_parse_rate(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("text", ["3", "0", "100%", "-3%", "abc", "", "3pp", "1e-2"])
def test_parse_rate_refuses(text):
    with pytest.raises(ClustomerError, match="rate"):
        parse_rate(text)


def test_parse_lift():
    assert parse_lift("2pp").absolute(0.03) == pytest.approx(0.02)
    assert parse_lift("2 PP").absolute(0.5) == pytest.approx(0.02)
    assert parse_lift("20%").absolute(0.03) == pytest.approx(0.006)
    assert parse_lift("20%").relative
    for bad in ("2", "0pp", "x", "2 points", "-1pp"):
        with pytest.raises(ClustomerError, match="lift"):
            parse_lift(bad)
