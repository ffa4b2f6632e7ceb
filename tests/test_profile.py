"""Segment profiles: names, descriptions, sizes, shares, medians."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustomer.segment.profile import PROTOTYPES, describe, name_segments, profile_segments
from clustomer.segment.result import CLUSTER_FEATURES, FEATURE_COLUMNS


def _group(rng, n, recency, frequency, monetary, tenure) -> pd.DataFrame:
    freq = np.maximum(1, rng.poisson(frequency, n))
    return pd.DataFrame(
        {
            "customer_key": [f"k{rng.integers(1e9)}" for _ in range(n)],
            "recency_days": rng.uniform(*recency, n),
            "frequency": freq,
            "monetary": rng.uniform(*monetary, n),
            "tenure_days": rng.uniform(*tenure, n),
            "avg_order_value": rng.uniform(20, 80, n),
            "mean_days_between_orders": np.where(freq > 1, 30.0, np.nan),
            "return_rate": 0.0,
            "distinct_products": freq * 2,
            "country": "UK",
        }
    )


def _population(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [
        _group(rng, 30, (1, 15), 12, (2000, 5000), (500, 700)),  # best customers
        _group(rng, 60, (250, 400), 0.1, (10, 60), (250, 400)),  # one-off, long ago
        _group(rng, 40, (1, 20), 0.1, (20, 80), (1, 20)),  # one-off, just now
    ]
    f = pd.concat(groups, ignore_index=True)
    labels = np.repeat([0, 1, 2], [30, 60, 40])
    return f, labels


def test_clear_archetypes_get_the_expected_names():
    f, labels = _population()
    p = profile_segments(f, labels, feature_columns=CLUSTER_FEATURES)
    assert p["name"].tolist() == ["Champions", "Lost", "New customers"]
    assert p.loc[0, "description"] == "recent, frequent, high spend, long-standing"
    assert p.loc[1, "description"].startswith("lapsed, infrequent, low spend")
    assert p.loc[2, "description"].endswith("new")


def test_columns_sizes_and_shares():
    f, labels = _population()
    p = profile_segments(f, labels, feature_columns=CLUSTER_FEATURES)
    expected = ["segment_id", "name", "description", "size", "share_customers", "share_revenue"]
    assert list(p.columns) == expected + [f"median_{c}" for c in FEATURE_COLUMNS]
    assert p["segment_id"].tolist() == [0, 1, 2]
    assert p["size"].tolist() == [30, 60, 40]
    assert p["share_customers"].sum() == pytest.approx(1.0)
    assert p["share_revenue"].sum() == pytest.approx(1.0)
    assert p.loc[0, "share_revenue"] == pytest.approx(
        f["monetary"].iloc[:30].sum() / f["monetary"].sum()
    )
    assert p.loc[1, "median_recency_days"] == pytest.approx(f["recency_days"].iloc[30:90].median())
    # mean_days_between_orders is NaN for one-order customers: the median skips them
    assert p.loc[0, "median_mean_days_between_orders"] == 30.0


def test_rows_ordered_by_segment_id_and_negative_labels_left_out():
    f, labels = _population()
    shuffled = labels.copy()
    shuffled[labels == 0] = 5
    shuffled[labels == 2] = 1
    shuffled[labels == 1] = 3
    shuffled[:5] = -1
    p = profile_segments(f, shuffled, feature_columns=CLUSTER_FEATURES)
    assert p["segment_id"].tolist() == [1, 3, 5]
    assert p["size"].tolist() == [40, 60, 25]
    assert p["share_customers"].sum() == pytest.approx(1.0)


def test_names_unique_with_many_segments():
    rng = np.random.default_rng(4)
    n_seg = 13
    f = pd.concat(
        [
            _group(rng, 8, (s, s + 30), s % 5, (10 * (s + 1), 20 * (s + 1)), (s * 20, s * 20 + 40))
            for s in range(n_seg)
        ],
        ignore_index=True,
    )
    labels = np.repeat(np.arange(n_seg), 8)
    p = profile_segments(f, labels, feature_columns=CLUSTER_FEATURES)
    assert p["name"].is_unique
    assert set(PROTOTYPES) <= set(p["name"])
    extras = sorted(set(p["name"]) - set(PROTOTYPES))
    assert len(extras) == 3
    assert all(e.startswith("Segment ") for e in extras)
    for _, row in p.iterrows():
        if row["name"].startswith("Segment "):
            assert row["name"] == f"Segment {row['segment_id']}"


def test_zero_total_revenue_is_guarded():
    f, labels = _population()
    f["monetary"] = 0.0
    p = profile_segments(f, labels, feature_columns=CLUSTER_FEATURES)
    assert p["share_revenue"].tolist() == [0.0, 0.0, 0.0]


def test_describe_thresholds():
    assert describe([0.5, -0.5, 0.49, -0.49]) == "recent, infrequent"
    assert describe([-2, 2, 2, 2]) == "lapsed, frequent, high spend, long-standing"
    assert describe([0, 0, -1, -1]) == "low spend, new"
    assert describe([0.1, 0.1, 0.1, 0.1]) == "close to the average customer"


def test_name_segments_prototypes_map_to_themselves():
    protos = np.array(list(PROTOTYPES.values()))
    order = np.random.default_rng(0).permutation(len(protos))
    names = name_segments(protos[order], list(range(len(protos))))
    assert names == [list(PROTOTYPES)[i] for i in order]


def test_centers_z_override_changes_the_naming_axes():
    f, labels = _population()
    cols = ["recency_days", "frequency", "monetary", "tenure_days"]
    # Centres that say the opposite of the medians: segment 0 is now the lapsed one.
    centers = np.array([[2.0, -1.0, -1.0, 0.5], [-1.0, 0.0, 0.0, 0.0], [-1.0, 2.0, 2.0, 1.0]])
    p = profile_segments(f, labels, feature_columns=cols, centers_z=centers)
    assert p.loc[0, "description"].startswith("lapsed")
    assert p.loc[2, "description"] == "recent, frequent, high spend, long-standing"
    with pytest.raises(ValueError):
        profile_segments(f, labels, feature_columns=cols, centers_z=centers[:, :2])


def test_bad_inputs():
    f, labels = _population()
    with pytest.raises(ValueError):
        profile_segments(f, labels[:-1], feature_columns=CLUSTER_FEATURES)
    with pytest.raises(KeyError):
        profile_segments(f.drop(columns="tenure_days"), labels, feature_columns=["frequency"])
