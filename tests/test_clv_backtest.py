"""The customer-value backtest: summaries, baselines, metrics and the full protocol."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import clustomer
from clustomer.clv.backtest import DEFAULT_MODELS, MODELS, backtest
from clustomer.clv.baselines import (
    features_at,
    gbm_predict,
    naive_rate,
    seasonal_uplift,
    training_split,
)
from clustomer.clv.hybrid import (
    hybrid_features,
    hybrid_predict,
    poisson_median,
    rank_map,
    stacked_windows,
)
from clustomer.clv.metrics import auc, score_predictions, spearman, top_decile_capture
from clustomer.clv.transactions import customer_days, holdout_summary, rfm_summary
from clustomer.errors import ClustomerError


def _days(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_key": [r[0] for r in rows],
            "day": pd.to_datetime([r[1] for r in rows]),
            "revenue": [float(r[2]) for r in rows],
        }
    )


def _synthetic(
    n: int = 150, start: str = "2023-01-02", span: int = 360, seed: int = 1
) -> pd.DataFrame:
    """Customers with varied Poisson paces and spends; some stop buying half-way."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        rate = rng.gamma(1.0, 0.03)
        first = int(rng.integers(0, span // 2))
        stop = span if rng.random() < 0.6 else int(rng.integers(first, span))
        spend = rng.gamma(3.0, 15.0)
        buys = [first] + [d for d in range(first + 1, stop) if rng.random() < rate]
        rows += [(f"c{c:03d}", d, spend * rng.gamma(4.0, 0.25)) for d in buys]
    days = pd.DataFrame(rows, columns=["customer_key", "offset", "revenue"])
    days["day"] = pd.Timestamp(start) + pd.to_timedelta(days.pop("offset"), unit="D")
    return days


# -- transactions --------------------------------------------------------------------


def test_customer_days_keeps_clean_lines_one_row_per_customer_day() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE order_lines (customer_key VARCHAR, ts TIMESTAMP, quantity DOUBLE, "
        "unit_price DOUBLE, revenue DOUBLE, is_return BOOLEAN)"
    )
    con.executemany(
        "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("a", "2024-01-01 09:00", 2, 5.0, 10.0, False),
            ("a", "2024-01-01 18:00", 1, 4.0, 4.0, False),  # same day: summed
            ("a", "2024-01-02 10:00", -1, 5.0, -5.0, True),  # a return
            ("a", "2024-01-03 10:00", 0, 5.0, 0.0, False),  # zero quantity
            ("b", "2024-01-02 10:00", 1, 0.0, 0.0, False),  # zero price
            ("b", "2024-01-04 23:59", None, None, 7.0, False),  # amount-only line
            ("c", "2024-01-05 00:00", 1, 3.0, 3.0, False),
        ],
    )
    days = customer_days(con)
    assert days.to_dict("list") == {
        "customer_key": ["a", "b", "c"],
        "day": list(pd.to_datetime(["2024-01-01", "2024-01-04", "2024-01-05"])),
        "revenue": [14.0, 7.0, 3.0],
    }
    assert customer_days(con, until="2024-01-04 08:00")["customer_key"].tolist() == ["a", "b"]
    with pytest.raises(ClustomerError, match="cannot read the order lines"):
        customer_days(duckdb.connect())


def test_customer_days_reads_a_workspace(ws: clustomer.Workspace, data_dir: Path) -> None:
    ws.import_file(data_dir / "generic_orders.csv")
    days = customer_days(ws.store.con)
    assert len(days) > 0 and not days.duplicated(["customer_key", "day"]).any()
    assert (days["revenue"] > 0).all() and (days["day"] == days["day"].dt.normalize()).all()


def test_rfm_summary_follows_lifetimes_conventions() -> None:
    days = _days(
        [
            ("a", "2024-01-01", 10),  # first day: left out of monetary
            ("a", "2024-01-05", 20),
            ("a", "2024-01-05", 5),  # the same day again: merged into 25
            ("a", "2024-01-15", 40),  # on the cutoff day: in the calibration
            ("a", "2024-01-20", 99),  # after the cutoff: ignored
            ("b", "2024-01-08", 7),  # one-time buyer
            ("c", "2024-01-15", 3),  # first bought on the cutoff day: T = 0
            ("d", "2024-01-16", 1),  # first bought after the cutoff: not in the summary
        ]
    )
    s = rfm_summary(days, "2024-01-15")
    assert s.index.tolist() == ["a", "b", "c"]
    assert s.loc["a"].to_dict() == {"frequency": 2, "recency": 14, "T": 14, "monetary": 32.5}
    assert s.loc["b"].to_dict() == {"frequency": 0, "recency": 0, "T": 7, "monetary": 0}
    assert s.loc["c"].to_dict() == {"frequency": 0, "recency": 0, "T": 0, "monetary": 0}
    weeks = rfm_summary(days, "2024-01-15", unit_days=7)
    assert weeks.loc["a", "recency"] == 2 and weeks.loc["b", "T"] == 1
    with pytest.raises(ClustomerError, match="lack column"):
        rfm_summary(days.drop(columns="revenue"), "2024-01-15")


def test_holdout_summary_window_is_after_cutoff_to_horizon_inclusive() -> None:
    days = _days(
        [
            ("a", "2024-01-10", 1),  # the cutoff day: calibration, not holdout
            ("a", "2024-01-11", 2),
            ("a", "2024-01-20", 4),  # cutoff + 10: the last holdout day
            ("a", "2024-01-21", 8),  # cutoff + 11: after the window
            ("b", "2024-01-15", 5),
        ]
    )
    h = holdout_summary(days, "2024-01-10", 10, customers=pd.Index(["a", "b", "z"]))
    assert h["orders"].tolist() == [2, 1, 0]
    assert h["revenue"].tolist() == [6, 5, 0]
    assert h["active"].tolist() == [True, True, False]
    assert holdout_summary(days, "2024-01-10", 10).index.tolist() == ["a", "b"]


# -- baselines -----------------------------------------------------------------------


def test_naive_rate_formula_by_hand() -> None:
    # data starts 2024-01-01; cutoff 2024-01-31 (30 days later); horizon 15
    days = _days(
        [
            ("a", "2024-01-01", 30),
            ("a", "2024-01-11", 30),
            ("a", "2024-01-21", 60),
            ("b", "2024-01-31", 12),  # first bought on the cutoff day
        ]
    )
    start = naive_rate(days, "2024-01-31", 15)
    assert start.loc["a", "orders"] == pytest.approx(3 / 30 * 15)
    assert start.loc["a", "revenue"] == pytest.approx(120 / 30 * 15)
    assert start.loc["b", "orders"] == pytest.approx(1 / 30 * 15)
    assert start["activity"].to_numpy() == pytest.approx(1 - np.exp(-start["orders"]))
    pace = naive_rate(days, "2024-01-31", 15, since="first")
    assert pace.loc["a", "orders"] == pytest.approx(3 / 30 * 15)
    # a customer first seen on the cutoff day: the length is at least the horizon (15 days)
    assert pace.loc["b", "orders"] == pytest.approx(1 / 15 * 15)
    assert pace.loc["b", "revenue"] == pytest.approx(12 / 15 * 15)


def test_features_use_only_days_up_to_the_cutoff() -> None:
    days = _days([("a", "2024-01-01", 5), ("a", "2024-03-01", 10), ("a", "2024-03-02", 99)])
    f = features_at(days, "2024-03-01")
    assert f.loc["a", "total_revenue"] == 15 and f.loc["a", "days_30"] == 1
    assert f.loc["a", "days_90"] == 2 and f.loc["a", "days_since_last"] == 0


def test_gbm_never_sees_the_holdout() -> None:
    days = _synthetic()
    cutoff = days["day"].max() - pd.Timedelta(days=60)
    x, y = training_split(days, cutoff, 60)
    assert y["orders"].sum() > 0 and len(x) == len(y)
    clean = gbm_predict(days, cutoff, 60, max_iter=30)
    after = days["day"] > cutoff
    poisoned = pd.concat(
        [
            days[~after],
            days[after].assign(revenue=1e9),  # absurd holdout revenue
            _days([(k, str((cutoff + pd.Timedelta(days=5)).date()), 1e9) for k in clean.index]),
        ]
    ).drop_duplicates(["customer_key", "day"])
    pd.testing.assert_frame_equal(clean, gbm_predict(poisoned, cutoff, 60, max_iter=30))
    pd.testing.assert_frame_equal(clean, gbm_predict(days[~after], cutoff, 60, max_iter=30))
    assert (clean[["orders", "revenue"]] >= 0).all().all()
    assert clean["activity"].between(0, 1).all()


def test_seasonal_uplift_needs_the_year_before() -> None:
    day = pd.date_range("2022-01-03", "2023-12-31", freq="D")
    keep = (day.day_of_week == 0) | ((day.quarter == 4) & (day.day_of_week == 3))
    days = pd.DataFrame({"customer_key": "a", "day": day[keep], "revenue": 1.0})
    assert seasonal_uplift(days, "2023-09-30", 91) == pytest.approx(2.0, abs=0.1)
    assert seasonal_uplift(days, "2022-12-31", 91) is None


# -- metrics -------------------------------------------------------------------------


def test_top_decile_capture_by_hand() -> None:
    actual = [100, 0, 0, 0, 0, 0, 0, 0, 50, 50]  # total 200; top decile of 10 = 1 customer
    assert top_decile_capture([9, 1, 1, 1, 1, 1, 1, 1, 1, 1], actual) == 0.5
    assert top_decile_capture([0, 1, 1, 1, 1, 1, 1, 1, 9, 1], actual) == 0.25
    assert top_decile_capture(actual, actual) == 0.5  # the oracle
    # 20 customers: the top 2; a tie for 2nd place between b and c shares the last place
    pred = [5, 4, 4] + [0] * 17
    act = [10, 6, 2] + [1] * 17
    assert top_decile_capture(pred, act) == pytest.approx((10 + 0.5 * 6 + 0.5 * 2) / 35)
    assert math.isnan(top_decile_capture([1, 2], [0, 0]))


def test_auc_and_spearman_match_the_references() -> None:
    rng = np.random.default_rng(3)
    score, y = rng.random(200), rng.random(200) < 0.4
    assert auc(score, y) == pytest.approx(roc_auc_score(y, score))
    assert math.isnan(auc(score, np.ones(200)))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    m = score_predictions([1, 3], [10, 0], [0.9, 0.2], [2, 0], [30, 0])
    assert m["orders_mae"] == 2 and m["orders_rmse"] == pytest.approx(math.sqrt(5))
    assert m["revenue_mae"] == 10 and m["auc_active"] == 1.0
    with pytest.raises(ClustomerError, match="same length"):
        score_predictions([1], [1], [1], [1, 2], [1, 2])


# -- the protocol --------------------------------------------------------------------


def test_backtest_on_constructed_data() -> None:
    days = _synthetic()
    res = backtest(days, horizon=60, models=("naive", "naive_pace", "gbm", "ensemble"))
    assert res.cutoff == days["day"].max() - pd.Timedelta(days=60)
    calib = days[days["day"] <= res.cutoff]
    assert res.n_customers == calib["customer_key"].nunique() == len(res.actual)
    assert res.share_active == pytest.approx(res.actual["active"].mean())
    assert res.table.index.tolist() == ["naive", "naive_pace", "gbm", "ensemble"]
    assert res.best_model in res.table.index and 0 < res.oracle_top_decile <= 1
    assert (res.table["top_decile_capture"] <= res.oracle_top_decile + 1e-12).all()
    assert set(res.predictions["model"]) == set(res.table.index)
    assert len(res.predictions) == 4 * res.n_customers
    ens = res.predictions.set_index(["model", "customer_key"])["orders"]
    assert ens["ensemble"].to_numpy() == pytest.approx((ens["naive"] + ens["gbm"]).to_numpy() / 2)
    out = json.loads(json.dumps(res.to_dict()))
    assert out["models"]["gbm"]["fit_seconds"] >= 0 and out["best_model"] == res.best_model
    assert "customer_key" not in json.dumps(out)


def test_backtest_btyd_models_on_constructed_data() -> None:
    pytest.importorskip("clustomer.clv.bgnbd")
    pytest.importorskip("clustomer.clv.gammagamma")
    days = _synthetic(n=120)
    res = backtest(days, horizon=60, models=("bgnbd", "paretonbd", "naive"))
    assert {"bgnbd", "paretonbd"} <= set(res.table.index)
    btyd = res.table.loc[["bgnbd", "paretonbd"]]
    assert btyd["auc_alive"].notna().all() and btyd["auc_active"].notna().all()
    assert math.isnan(res.table.loc["naive", "auc_alive"])
    for name, reason in res.degenerate.items():
        assert any(name in n or reason in n for n in res.notes)
    if res.degenerate:
        assert res.best_model not in res.degenerate
    hist = res.to_dict()["p_alive"]
    assert set(hist) == {"bgnbd", "paretonbd"} and "naive" not in hist
    for name, h in hist.items():
        assert sum(h["counts"]) == res.n_customers and len(h["edges"]) == len(h["counts"]) + 1
        assert h["degenerate"] == (name in res.degenerate)


def test_report_shows_p_alive_only_when_a_btyd_fit_is_sound() -> None:
    from clustomer.report.plots_value import p_active_figure
    from clustomer.report.value import summarize_value

    edges = [i / 10 for i in range(11)]
    values = pd.DataFrame({"p_active_90d": [0.1, 0.9]})
    bt = {
        "best_model": "naive",
        "models": {},
        "notes": [],
        "p_alive": {
            "bgnbd": {"edges": edges, "counts": [0] * 9 + [2], "degenerate": True},
            "paretonbd": {"edges": edges, "counts": [1] + [0] * 8 + [1], "degenerate": False},
        },
    }
    v = summarize_value({"backtest": bt, "values": values}, pd.DataFrame())
    assert v is not None and v["p_alive"]["model"] == "paretonbd"
    names = [t.name for t in p_active_figure({"value": v}).data]
    assert names == ["P(buys in the next 90 days)", "P(alive), Pareto/NBD"]
    bt["p_alive"]["paretonbd"]["degenerate"] = True
    v = summarize_value({"backtest": bt, "values": values}, pd.DataFrame())
    assert v is not None and v["p_alive"] is None
    assert any("BG/NBD and Pareto/NBD fits are degenerate" in n for n in v["backtest"]["notes"])
    assert len(p_active_figure({"value": v}).data) == 1


def test_backtest_applies_the_seasonal_uplift_with_two_years_of_data() -> None:
    rng = np.random.default_rng(5)
    day = pd.date_range("2022-01-01", "2023-12-31", freq="D")
    rows = []
    for c in range(200):
        rate = rng.gamma(2.0, 0.01) * np.where(day.quarter == 4, 2.0, 1.0)
        bought = day[rng.random(len(day)) < rate]
        rows += [(f"c{c:02d}", d, 10.0) for d in bought]
    days = pd.DataFrame(rows, columns=["customer_key", "day", "revenue"])
    res = backtest(days, horizon=91, models=("naive", "gbm", "gbm_seasonal"))
    assert res.cutoff == pd.Timestamp("2023-10-01")
    t = res.table
    assert "gbm_seasonal" in t.index and any("seasonal uplift" in n for n in res.notes)
    ratio = t.loc["gbm_seasonal", "orders_total_ratio"] / t.loc["gbm", "orders_total_ratio"]
    assert 1.5 < ratio < 2.5  # the Q4 pace is twice the Q3 pace
    assert abs(t.loc["gbm_seasonal", "orders_total_ratio"] - 1) < abs(
        t.loc["gbm", "orders_total_ratio"] - 1
    )
    assert t.loc["gbm_seasonal", "orders_mae"] < t.loc["gbm", "orders_mae"]
    assert t.loc["gbm_seasonal", "auc_active"] == t.loc["gbm", "auc_active"]


def test_hybrid_reads_nothing_after_the_cutoff() -> None:
    days = _synthetic(n=80)
    cut = days["day"].max() - pd.Timedelta(days=60)
    later = days["day"] > cut
    shuffled = days.copy()
    shuffled.loc[later, "revenue"] *= 50.0  # change only the future
    shuffled = pd.concat([shuffled, _days([("zz", "2099-01-01", 1e6)])], ignore_index=True)
    f_a, f_b = hybrid_features(days, cut), hybrid_features(shuffled, cut)
    pd.testing.assert_frame_equal(f_a, f_b)
    x, y, window = stacked_windows(days, cut, 60)
    assert window.max() + 1 == len(np.unique(window)) and window.max() >= 1
    first_cut = cut - pd.Timedelta(days=60)
    assert (
        y.loc[window == 0, "orders"]
        == holdout_summary(days, first_cut, 60, customers=x.index[window == 0])["orders"].to_numpy()
    ).all()
    p_a = hybrid_predict(days, cut, 60)
    p_b = hybrid_predict(shuffled, cut, 60)
    pd.testing.assert_frame_equal(p_a, p_b)
    assert p_a.index.tolist() == sorted(days.loc[~later, "customer_key"].unique())
    assert set(p_a.columns) == {"orders", "orders_median", "revenue", "activity"}
    assert p_a["activity"].between(0, 1).all() and (p_a[["orders", "revenue"]] >= 0).all().all()
    # the training rows are capped by sampling customers, the same in every window
    x_s, _, w_s = stacked_windows(days, cut, 60, train_rows=100)
    assert len(x_s) <= 100 and set(x_s.index[w_s == 0]) >= set(x_s.index[w_s == w_s.max()])
    with pytest.raises(ClustomerError, match="too little history"):
        stacked_windows(days, days["day"].min() + pd.Timedelta(days=70), 60)


def test_rank_map_and_poisson_median() -> None:
    rng = np.random.default_rng(3)
    score = pd.Series(rng.random(50))
    values = pd.Series(rng.gamma(1.0, 10.0, 50))
    mapped = rank_map(score, values)
    assert spearman(mapped, score) == pytest.approx(1.0)
    assert mapped.sum() == pytest.approx(values.sum())
    assert sorted(mapped) == pytest.approx(sorted(values))
    tied = rank_map(pd.Series([1.0, 1.0, 2.0]), pd.Series([0.0, 4.0, 9.0]))
    assert tied.tolist() == [2.0, 2.0, 9.0]
    mu = np.array([0.0, 0.3, 0.69, 0.7, 1.7, 5.0])
    med = poisson_median(mu)
    from scipy.stats import poisson

    assert (poisson.cdf(med, np.maximum(mu, 1e-12)) >= 0.5).all()
    assert (med == 0).sum() == 3 and med[-1] == 5


def test_backtest_scores_the_hybrid_mae_on_its_median() -> None:
    days = _synthetic(n=150)
    res = backtest(days, horizon=60, models=("naive", "hybrid"))
    assert "hybrid" in res.table.index
    p = res.predictions.set_index(["model", "customer_key"])
    act = res.actual["orders"]
    hyb = p.loc["hybrid"].reindex(act.index)
    t = res.table
    assert t.loc["hybrid", "orders_mae"] == pytest.approx(np.abs(hyb["orders_median"] - act).mean())
    assert t.loc["hybrid", "orders_mae_mean"] == pytest.approx(np.abs(hyb["orders"] - act).mean())
    assert t.loc["naive", "orders_mae"] == t.loc["naive", "orders_mae_mean"]
    assert p.loc["naive", "orders_median"].isna().all()


def test_backtest_errors() -> None:
    days = _days([("a", "2024-01-01", 1), ("a", "2024-01-20", 1)])
    with pytest.raises(ClustomerError, match="less than the 91-day horizon"):
        backtest(days)
    with pytest.raises(ClustomerError, match="unknown model"):
        backtest(days, horizon=5, models=("magic",))
    assert set(MODELS) >= {"bgnbd", "paretonbd", "naive", "gbm"}
    assert set(DEFAULT_MODELS) == set(MODELS)


@pytest.mark.parametrize("model", MODELS)
def test_every_backtested_model_gives_value_columns(model: str) -> None:
    # whichever model the backtest picks, `segment` can predict with it
    from clustomer.clv.values import customer_values

    rng = np.random.default_rng(3)
    day = pd.date_range("2022-01-03", "2023-12-31", freq="D")
    rows = [
        (f"c{i}", d, float(rng.integers(5, 50)))
        for i in range(60)
        for d in day[rng.random(len(day)) < 0.01 * (1 + i % 4)]
    ]
    days = pd.DataFrame(rows, columns=["customer_key", "day", "revenue"])
    values = customer_values(days, "2024-01-01", model=model)
    assert len(values) == days["customer_key"].nunique()
    cols = ["p_active_90d", "expected_orders_90d", "expected_revenue_90d", "clv_12m"]
    assert np.isfinite(values[cols].to_numpy()).all() and values["clv_12m"].sum() > 0


# The product owner's anchors, measured with lifetimes 0.11.3 on the bundled sample.
NAIVE_ANCHORS = {
    "revenue_spearman": 0.523,
    "top_decile_capture": 0.523,
    "auc_active": 0.723,
    "orders_mae": 0.912,
}


@pytest.mark.slow
def test_backtest_on_the_bundled_sample(sample_ws: clustomer.Workspace) -> None:
    res = backtest(sample_ws.store.con, horizon=91, models=MODELS)
    assert res.cutoff == pd.Timestamp("2011-09-09")  # the last order is on 2011-12-09
    assert res.n_customers == 3370
    assert res.share_active == pytest.approx(0.57, abs=0.005)
    naive = res.table.loc["naive"]
    for metric, anchor in NAIVE_ANCHORS.items():
        assert naive[metric] == pytest.approx(anchor, abs=0.01), metric
    assert res.oracle_top_decile == pytest.approx(0.689, abs=0.002)
    # regression guards: what the models achieved when this was written (targets in the
    # product brief: revenue Spearman >= 0.55, top decile >= 0.55, AUC >= 0.75, MAE <= 0.89)
    t = res.table
    assert t.loc["gbm", "auc_active"] >= 0.72 and t.loc["gbm", "revenue_spearman"] >= 0.49
    assert t.loc["ensemble", "auc_active"] >= 0.73
    assert t.loc["ensemble", "orders_mae"] <= 0.915
    assert t.loc[["bgnbd", "paretonbd"], "auc_active"].min() >= 0.72
    # the hybrid, measured once on this holdout after its design was fixed on earlier
    # splits (0.538 / 0.522 / 0.743 / MAE 0.8902): guards, not targets
    assert t.loc["hybrid", "revenue_spearman"] >= 0.53 and t.loc["hybrid", "auc_active"] >= 0.74
    assert t.loc["hybrid", "orders_mae"] <= 0.895
    assert t.loc["hybrid", "orders_mae_mean"] == pytest.approx(
        t.loc["hybrid", "orders_mae"], abs=0.1
    )
    assert "bgnbd" in res.degenerate  # a -> 0: nobody drops out on this sample
    assert res.best_model not in res.degenerate
    assert "gbm_seasonal" not in t.index  # one year of data: no year-earlier window
    assert any("no seasonal uplift" in n for n in res.notes)
