"""Leaving out features that duplicate another one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustomer.errors import ClustomerError
from clustomer.features.prune import Pruned, PruneResult, prune_correlated


@pytest.fixture
def features() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    monetary = rng.lognormal(4, 1, 200)
    return pd.DataFrame(
        {
            "monetary": monetary,
            # A monotone (non-linear) function of monetary: Spearman exactly 1.
            "avg_order_value": np.sqrt(monetary) + 3,
            "recency_days": rng.integers(0, 365, 200).astype(float),
            "return_rate": np.zeros(200),
            "refund_share": -np.log(monetary),  # monotone decreasing: Spearman -1
            "country": ["UK"] * 200,
        }
    )


COLUMNS = ["monetary", "avg_order_value", "recency_days", "return_rate", "refund_share"]


def test_prunes_duplicates_and_constants(features: pd.DataFrame) -> None:
    result = prune_correlated(features, COLUMNS)
    assert isinstance(result, PruneResult)
    assert result.kept == ["monetary", "recency_days"]
    assert [p.column for p in result.pruned] == ["avg_order_value", "return_rate", "refund_share"]

    dup, const, neg = result.pruned
    assert dup.because_of == "monetary" and dup.reason == "correlated"
    assert dup.correlation == pytest.approx(1.0)
    assert const == Pruned("return_rate", None, None, "constant", "spearman")
    assert neg.because_of == "monetary" and neg.correlation == pytest.approx(-1.0)
    assert result.messages() == [
        "avg_order_value left out: it moves with monetary (Spearman 1.00)",
        "return_rate left out: it is the same for every customer",
        "refund_share left out: it moves opposite to monetary (Spearman -1.00)",
    ]
    # The independent column is far from the threshold.
    assert abs(result.correlation.at["recency_days", "monetary"]) < 0.3
    assert result.correlation.shape == (5, 5)
    assert np.isnan(result.correlation.at["return_rate", "monetary"])


def test_priority_order_decides_which_stays(features: pd.DataFrame) -> None:
    result = prune_correlated(features, ["avg_order_value", "recency_days", "monetary"])
    assert result.kept == ["avg_order_value", "recency_days"]
    assert result.pruned[0].column == "monetary"
    assert result.pruned[0].because_of == "avg_order_value"


def test_pearson_and_threshold(features: pd.DataFrame) -> None:
    # sqrt is not linear: Pearson is below 1, so a threshold just above it keeps both.
    pearson = float(features["monetary"].corr(features["avg_order_value"]))
    assert 0.8 < pearson < 0.999
    kept_both = prune_correlated(
        features, ["monetary", "avg_order_value"], method="pearson", threshold=pearson + 0.001
    )
    assert kept_both.kept == ["monetary", "avg_order_value"]
    pruned = prune_correlated(
        features, ["monetary", "avg_order_value"], method="pearson", threshold=pearson - 0.001
    )
    assert pruned.kept == ["monetary"]
    assert pruned.pruned[0].correlation == pytest.approx(pearson)
    assert pruned.messages() == [
        f"avg_order_value left out: it moves with monetary (Pearson {pearson:.2f})"
    ]


def test_missing_values_pairwise_and_empty_column() -> None:
    df = pd.DataFrame(
        {
            "a": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "b": [10.0, np.nan, 30.0, 40.0, np.nan, 60.0],  # same order as a where present
            "c": [np.nan] * 6,
            "d": [3.0, 1.0, 2.0, 6.0, 4.0, 5.0],
        }
    )
    result = prune_correlated(df, ["a", "b", "c", "d"])
    assert result.kept == ["a", "d"]
    assert result.messages() == [
        "b left out: it moves with a (Spearman 1.00)",
        "c left out: it has no values",
    ]
    d = result.to_dict()
    assert d["kept"] == ["a", "d"]
    assert d["pruned"][1] == {
        "column": "c",
        "because_of": None,
        "correlation": None,
        "reason": "empty",
        "method": "spearman",
    }
    assert d["correlation"]["a"]["c"] is None
    assert d["correlation"]["a"]["d"] == pytest.approx(float(df["a"].corr(df["d"], "spearman")))


def test_validation(features: pd.DataFrame) -> None:
    with pytest.raises(ClustomerError, match="unknown column.*frequency, tenure"):
        prune_correlated(features, ["monetary", "frequency", "tenure"])
    for bad in (0, 0.0, -0.5, 1.01, float("nan")):
        with pytest.raises(ClustomerError, match="threshold"):
            prune_correlated(features, COLUMNS, threshold=bad)
    assert prune_correlated(features, COLUMNS, threshold=1).kept == ["monetary", "recency_days"]
    with pytest.raises(ClustomerError, match="method"):
        prune_correlated(features, COLUMNS, method="cosine")
    with pytest.raises(ClustomerError, match="not numeric: country"):
        prune_correlated(features, ["monetary", "country"])
    with pytest.raises(ClustomerError, match="more than once: monetary"):
        prune_correlated(features, ["monetary", "recency_days", "monetary"])
    with pytest.raises(ClustomerError, match="no columns"):
        prune_correlated(features, [])
