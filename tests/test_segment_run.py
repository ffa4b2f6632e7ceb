"""run_segmentation end to end on small synthetic feature tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustomer.errors import ClustomerError
from clustomer.segment.result import CLUSTER_FEATURES, FEATURE_COLUMNS, SegmentationResult
from clustomer.segment.rfm import RFM_SEGMENTS
from clustomer.segment.run import NO_PURCHASES, RETURNS_ONLY, run_segmentation


def _features(n_best=40, n_lost=80, n_new=60, n_returns=5, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for n, rec, freq, money, ten in (
        (n_best, (1, 15), 12, (2000, 5000), (500, 700)),
        (n_lost, (250, 400), 0.1, (10, 60), None),
        (n_new, (1, 20), 0.1, (20, 80), (1, 20)),
    ):
        f = np.maximum(1, rng.poisson(freq, n))
        recency = rng.uniform(*rec, n)
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": recency,
                    "frequency": f,
                    "monetary": rng.uniform(*money, n),
                    "tenure_days": recency if ten is None else rng.uniform(*ten, n),
                }
            )
        )
    parts.append(
        pd.DataFrame(
            {
                "recency_days": np.nan,
                "frequency": np.zeros(n_returns, dtype=int),
                "monetary": -rng.uniform(5, 50, n_returns),
                "tenure_days": np.nan,
            }
        )
    )
    df = pd.concat(parts, ignore_index=True)
    df = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # mix returns in
    df.insert(0, "customer_key", [f"c{i:04d}" for i in range(len(df))])
    df["avg_order_value"] = np.where(df["frequency"] > 0, df["monetary"] / df["frequency"], np.nan)
    df["mean_days_between_orders"] = np.where(df["frequency"] > 1, 20.0, np.nan)
    df["return_rate"] = np.where(df["frequency"] > 0, 0.0, 1.0)
    df["distinct_products"] = df["frequency"] * 3
    df["country"] = "UK"
    return df[["customer_key", *FEATURE_COLUMNS, "country"]]


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    return _features()


@pytest.fixture(scope="module")
def result(features) -> SegmentationResult:
    return run_segmentation(features, random_state=0)


def test_returns_only_customers_are_not_clustered(features, result):
    a = result.assignments
    assert list(a.columns) == ["customer_key", "segment_id", "segment_name", "rfm_segment"]
    assert a["customer_key"].tolist() == features["customer_key"].tolist()
    returns = (features["frequency"] == 0).to_numpy()
    assert returns.sum() == 5
    assert (a.loc[returns, "segment_id"] == -1).all()
    assert (a.loc[returns, "segment_name"] == RETURNS_ONLY).all()
    assert (a.loc[returns, "rfm_segment"] == NO_PURCHASES).all()
    assert (a.loc[~returns, "segment_id"] >= 0).all()
    assert a.loc[~returns, "rfm_segment"].isin(RFM_SEGMENTS).all()


def test_finds_the_three_groups_and_names_them(result):
    assert result.k_selection.chosen_k == 3
    assert not result.k_selection.forced
    p = result.profiles
    assert p["size"].tolist() == [80, 60, 40]
    assert p["name"].tolist() == ["Lost", "New customers", "Champions"]
    assert p["share_customers"].sum() == pytest.approx(1.0)
    assert p["share_revenue"].sum() == pytest.approx(1.0)
    names = dict(zip(p["segment_id"], p["name"], strict=True))
    a = result.assignments[result.assignments["segment_id"] >= 0]
    assert (a["segment_name"] == a["segment_id"].map(names)).all()
    assert result.feature_columns == list(CLUSTER_FEATURES)


def test_projection_and_explained_variance(features):
    res = run_segmentation(features, projection_size=50)
    proj = res.projection
    assert list(proj.columns) == ["customer_key", "segment_id", "x", "y"]
    assert len(proj) == 50
    assert proj["customer_key"].is_unique
    assert (proj["segment_id"] >= 0).all()
    assert np.isfinite(proj[["x", "y"]].to_numpy()).all()
    assert len(res.explained_variance) == 2
    assert res.explained_variance[0] >= res.explained_variance[1] > 0
    assert sum(res.explained_variance) <= 1.0 + 1e-9
    full = run_segmentation(features).projection
    assert len(full) == 180  # fewer customers than projection_size: all buyers


def test_rfm_counts(features, result):
    rc = result.rfm_counts
    assert list(rc.columns) == ["rfm_segment", "customers", "share_customers", "share_revenue"]
    assert rc["rfm_segment"].tolist() == [*RFM_SEGMENTS, NO_PURCHASES]
    assert rc["customers"].sum() == len(features)
    assert rc.loc[rc["rfm_segment"] == NO_PURCHASES, "customers"].item() == 5
    assert rc["share_customers"].sum() == pytest.approx(1.0)
    assert rc["share_revenue"].sum() == pytest.approx(1.0)
    counts = result.assignments["rfm_segment"].value_counts()
    for name, n in zip(rc["rfm_segment"], rc["customers"], strict=True):
        assert counts.get(name, 0) == n


def test_reproducible_for_a_seed(features):
    a = run_segmentation(features, random_state=5)
    b = run_segmentation(features, random_state=5)
    pd.testing.assert_frame_equal(a.assignments, b.assignments)
    pd.testing.assert_frame_equal(a.profiles, b.profiles)
    pd.testing.assert_frame_equal(a.projection, b.projection)
    assert a.k_selection == b.k_selection


def test_forced_k(features):
    res = run_segmentation(features, n_clusters=5)
    assert res.k_selection.forced
    assert res.k_selection.chosen_k == 5
    assert res.k_selection.reason.startswith("k = 5 as asked; the rule would pick ")
    assert res.profiles["segment_id"].tolist() == [0, 1, 2, 3, 4]
    assert res.profiles["name"].is_unique


@pytest.mark.parametrize("k", [0, 1, 181, 2.5])
def test_impossible_k_is_a_clustomer_error(features, k):
    with pytest.raises(ClustomerError, match="number of segments"):
        run_segmentation(features, n_clusters=k)


def test_too_few_customers_with_purchases():
    f = _features(n_best=1, n_lost=1, n_new=0, n_returns=4)
    with pytest.raises(ClustomerError) as err:
        run_segmentation(f)
    assert str(err.value) == "need at least 3 customers with purchases to segment; found 2"


def test_three_customers_get_the_rfm_rules():
    # below MIN_CLUSTER_CUSTOMERS (30) there is no clustering: the RFM rules group them
    f = _features(n_best=1, n_lost=1, n_new=1, n_returns=1)
    res = run_segmentation(f)
    assert res.method == "rfm"
    assert "too few to find segments reliably" in res.k_selection.reason
    assert sorted(res.assignments["segment_id"].tolist())[0] == -1
    assert res.profiles["size"].sum() == 3
    assert len(res.projection) == 0


def test_small_shop_with_a_forced_k_caps_the_k_range():
    f = _features(n_best=2, n_lost=3, n_new=2, n_returns=0)
    res = run_segmentation(f, n_clusters=3)
    assert res.k_selection.ks == [2, 3, 4, 5, 6]
    assert res.k_selection.chosen_k == 3


def test_missing_values_and_columns_are_clustomer_errors(features):
    with pytest.raises(ClustomerError, match="mean_days_between_orders"):
        run_segmentation(features, feature_columns=[*CLUSTER_FEATURES, "mean_days_between_orders"])
    with pytest.raises(ClustomerError, match="lacks the columns monetary"):
        run_segmentation(features.drop(columns="monetary"))
    with pytest.raises(ClustomerError):
        run_segmentation(features, feature_columns=[])
