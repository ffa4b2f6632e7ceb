"""The recommendation backtest: the metrics by hand, the split, and the sample's figures."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clustomer.errors import ClustomerError
from clustomer.recommend import backtest_recommendations, list_metrics
from clustomer.store.lines import clean_lines

DAY0 = pd.Timestamp("2024-01-01")


def test_metrics_by_hand() -> None:
    rec = pd.DataFrame(
        {
            "customer_key": ["u1", "u1", "u2", "u2", "u3", "u3", "u3"],
            "product_id": ["X", "Y", "X", "Z", "W", "V", "U"],
            "rank": [1, 2, 1, 2, 1, 2, 3],
        }
    )
    bought = pd.DataFrame(
        {
            "customer_key": ["u1", "u2", "u2", "u2", "u3", "u3", "u3", "u4"],
            "product_id": ["Y", "Q", "R", "S", "W", "V", "U", "X"],
        }
    )
    # top 2: u1 1 of min(2, 1) = 1; u2 0 of 2; u3 2 of min(2, 3) = 1 (U is rank 3);
    # u4 has no list: a miss. hit = 2/4, recall = (1 + 0 + 1 + 0) / 4
    got = list_metrics(rec, bought, top=2)
    assert got == {"users": 4, "hit": 0.5, "recall": 0.5}
    # top 3: u3 gets 3 of min(3, 3)
    got3 = list_metrics(rec, bought, top=3)
    assert got3["recall"] == pytest.approx((1 + 0 + 1 + 0) / 4)
    assert got3["hit"] == 0.5


def test_recall_divides_by_the_smaller_of_n_and_bought() -> None:
    rec = pd.DataFrame({"customer_key": ["a"] * 3, "product_id": ["P1", "P2", "P3"]})
    bought = pd.DataFrame({"customer_key": ["a"] * 5, "product_id": ["P1", "P2", "X", "Y", "Z"]})
    assert list_metrics(rec, bought, top=3)["recall"] == pytest.approx(2 / 3)
    assert list_metrics(rec, bought, top=10)["recall"] == pytest.approx(2 / 5)


def tiny() -> pd.DataFrame:
    """Last day 200, so with a 50-day horizon the cutoff is day 150."""
    rows = [("cust_reg", "TEA", d) for d in range(0, 201, 20)]
    rows += [("cust_new", "JAM", 10), ("cust_new", "CUP", 170)]
    rows += [("cust_late", "TEA", 180), ("cust_gone", "JAM", 20)]
    rows += [("cust_fee", "POST", 30), ("cust_fee", "POST", 170)]
    out = pd.DataFrame(rows, columns=["customer_key", "product_id", "offset"])
    out["day"] = DAY0 + pd.to_timedelta(out.pop("offset"), unit="D")
    return out


def test_backtest_split_users_and_metrics() -> None:
    got = backtest_recommendations(tiny(), horizon=50, top=10)
    assert got["cutoff"] == str((DAY0 + pd.Timedelta(days=150)).date())
    # bought on or before the cutoff and after it: reg, new, fee (POST counts as a line)
    assert got["users"] == 3
    assert got["users_with_products"] == 2  # fee bought only postage
    assert got["users_new"] == 1  # only cust_new bought something new (CUP)
    rep = got["recommenders"]["repurchase"]
    # reg rebuys TEA (1 of 1); new bought CUP, unknown before the cutoff; fee: a miss
    assert rep["any"]["hit"] == pytest.approx(1 / 3, abs=1e-4)
    assert rep["any"]["recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert rep["new"]["hit"] == 0.0  # CUP was first sold after the cutoff
    assert set(got["recommenders"]) == {"repurchase", "item_knn", "popularity", "blend"}
    text = json.dumps(got)
    assert "cust_" not in text  # no customer keys
    assert got["fit"]["source"] == "default"  # far too little data to fit


def test_backtest_refuses_short_data() -> None:
    with pytest.raises(ClustomerError, match="too short"):
        backtest_recommendations(tiny(), horizon=400)
    with pytest.raises(ClustomerError):
        backtest_recommendations(tiny(), top=0)


@pytest.mark.slow
def test_sample_backtest_figures(sample_ws) -> None:  # type: ignore[no-untyped-def]
    """The bundled sample (91-day split, cutoff 2011-09-09). Targets from the issue:
    hit@10 any ≥ 0.85 and recall@10 new ≥ 0.115 are NOT reached (measured 0.8339 and
    0.1114, blend fitted on the earlier split); the asserts hold the measured figures
    minus a small margin, and the anchors they beat."""
    lines = clean_lines(sample_ws.store)
    got = backtest_recommendations(lines)
    assert got["cutoff"] == "2011-09-09"
    assert got["users"] == 1921
    assert got["fit"]["source"] == "fitted" and got["fit"]["fitted_at"] == "2011-06-10"
    rec = got["recommenders"]
    blend, rep, knn = rec["blend"], rec["repurchase"], rec["item_knn"]
    assert rep["any"]["hit"] == pytest.approx(0.831, abs=0.002)  # the anchor, reproduced
    assert rep["any"]["recall"] == pytest.approx(0.358, abs=0.002)
    assert blend["any"]["hit"] >= 0.83  # measured 0.8339 (target 0.85)
    assert blend["any"]["recall"] >= 0.365  # measured 0.3712
    assert blend["new"]["recall"] >= 0.108  # measured 0.1114 (target 0.115)
    assert blend["any"]["recall"] > rep["any"]["recall"]
    assert blend["new"]["recall"] > knn["new"]["recall"] > rec["popularity"]["new"]["recall"]
    assert np.isfinite(got["seconds"])
