"""Segments depend on the customers, not on the order they arrive in or how ids are spelled."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustomer.segment.profile import profile_segments
from clustomer.segment.result import FEATURE_COLUMNS
from clustomer.segment.run import run_segmentation


def _features(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    freq = rng.integers(1, 12, n)
    return pd.DataFrame(
        {
            "customer_key": [f"c{i:03d}" for i in range(n)],
            "recency_days": rng.uniform(0, 365, n).round(),
            "frequency": freq,
            "monetary": (freq * rng.lognormal(3, 0.6, n)).round(2),
            "tenure_days": rng.uniform(0, 700, n).round(),
            "avg_order_value": rng.lognormal(3, 0.6, n).round(2),
            "mean_days_between_orders": np.nan,
            "return_rate": rng.uniform(0, 0.2, n),
            "distinct_products": rng.integers(1, 30, n),
            "country": "UK",
        }
    )


def test_row_order_does_not_change_the_segments() -> None:
    f = _features(40, 3)
    base = run_segmentation(f).assignments.set_index("customer_key")
    for seed in range(4):
        shuffled = f.sample(frac=1.0, random_state=seed).reset_index(drop=True)
        got = run_segmentation(shuffled).assignments.set_index("customer_key")
        assert got.loc[base.index, "segment_name"].tolist() == base["segment_name"].tolist()


def test_an_axis_without_spread_describes_nothing() -> None:
    f = _features(30, 1)
    f["frequency"] = 1  # every customer bought once
    labels = np.array([0] * 15 + [1] * 15)
    prof = profile_segments(f, labels, feature_columns=list(FEATURE_COLUMNS))
    assert not any("frequent" in d for d in prof["description"])


def test_reported_k_is_the_number_of_segments_formed() -> None:
    f = _features(6, 2)
    cols = [c for c in f.columns if c not in ("customer_key", "country")]
    f.loc[:, cols] = f.loc[[0, 0, 0, 1, 1, 1], cols].to_numpy()  # two distinct customers
    res = run_segmentation(f, n_clusters=4)
    assert len(res.profiles) == 2 == res.k_selection.chosen_k
    assert "only 2 segments could be formed" in res.k_selection.reason
