"""RFM scores and segment names."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from clustomer.segment.rfm import RFM_SEGMENTS, rfm_scores, rfm_segment_name


def _frame(recency, frequency, monetary, index=None) -> pd.DataFrame:
    return pd.DataFrame(
        {"recency_days": recency, "frequency": frequency, "monetary": monetary}, index=index
    )


def test_all_ten_names_reachable_and_nothing_else():
    seen = {rfm_segment_name(r, f, m) for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert seen == set(RFM_SEGMENTS)
    assert len(RFM_SEGMENTS) == 10


@pytest.mark.parametrize(
    ("r", "f", "m", "name"),
    [
        (5, 1, 1, "New"),
        (5, 2, 3, "Potential loyalist"),  # FM = 2.5 rounds up to 3
        (5, 4, 3, "Champions"),  # FM = 3.5 -> 4
        (4, 1, 1, "Promising"),
        (4, 2, 2, "Potential loyalist"),
        (4, 5, 5, "Loyal"),
        (3, 1, 1, "Hibernating"),
        (3, 1, 2, "Need attention"),  # FM = 1.5 -> 2
        (3, 4, 4, "Loyal"),
        (2, 2, 2, "Hibernating"),
        (2, 3, 3, "At risk"),
        (2, 4, 5, "Can't lose"),  # FM = 4.5 -> 5
        (1, 1, 2, "Lost"),
        (1, 4, 3, "At risk"),
        (1, 5, 5, "Can't lose"),
    ],
)
def test_name_table(r, f, m, name):
    assert rfm_segment_name(r, f, m) == name


def test_name_rejects_bad_scores():
    with pytest.raises(ValueError):
        rfm_segment_name(0, 3, 3)
    with pytest.raises(ValueError):
        rfm_segment_name(3, 6, 3)


def test_quintiles_on_distinct_values():
    n = 25
    f = _frame(np.arange(n, dtype=float), np.arange(n), np.arange(n, dtype=float) * 10)
    out = rfm_scores(f)
    assert list(out.columns) == ["r_score", "f_score", "m_score", "rfm_segment"]
    for col in ("r_score", "f_score", "m_score"):
        assert out[col].dtype == np.int64
        assert out[col].value_counts().sort_index().tolist() == [5, 5, 5, 5, 5]
    # lowest recency = most recent = 5
    assert out["r_score"].iloc[0] == 5 and out["r_score"].iloc[-1] == 1
    assert out["f_score"].iloc[0] == 1 and out["f_score"].iloc[-1] == 5


def test_ties_get_equal_scores_and_single_orders_get_f1():
    # 60% of customers have one order; tied customers must share a score
    freq = [1] * 12 + [2] * 4 + [3, 4, 6, 9]
    f = _frame([10.0] * 20, freq, [50.0] * 10 + [80.0] * 10)
    out = rfm_scores(f)
    assert set(out["f_score"].iloc[:12]) == {1}
    assert set(out["f_score"].iloc[12:16]) == {4}
    assert out["f_score"].iloc[-1] == 5
    assert set(out["r_score"]) == {1}  # everyone tied: the position of the lowest
    assert set(out["m_score"].iloc[:10]) == {1}
    assert set(out["m_score"].iloc[10:]) == {3}


def test_all_names_reachable_from_frames():
    # With 5 distinct customers the scores are exactly the ranks, so each frame sets
    # (r, f, m) per customer; together these frames reach every name.
    combos = [
        [(5, 5, 5), (4, 4, 4), (3, 1, 1), (2, 3, 3), (1, 2, 2)],  # Champions .. Lost
        [(5, 1, 1), (4, 2, 2), (3, 3, 3), (2, 5, 5), (1, 4, 4)],  # New .. At risk
        [(4, 1, 1), (5, 2, 3), (3, 4, 4), (2, 3, 2), (1, 5, 5)],  # Promising .. Can't lose
    ]
    seen: set[str] = set()
    for rows in combos:
        r, fr, m = (np.array(v) for v in zip(*rows, strict=True))
        frame = _frame(100.0 - r * 10, fr, m * 100.0)
        out = rfm_scores(frame)
        assert out["r_score"].tolist() == r.tolist()
        assert out["f_score"].tolist() == fr.tolist()
        assert out["m_score"].tolist() == m.tolist()
        seen |= set(out["rfm_segment"])
    assert seen == set(RFM_SEGMENTS)


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_tiny_inputs(n):
    f = _frame(
        np.linspace(1, 100, n), np.arange(1, n + 1), np.linspace(10, 50, n), index=range(7, 7 + n)
    )
    out = rfm_scores(f)
    assert out.index.tolist() == list(range(7, 7 + n))
    for col in ("r_score", "f_score", "m_score"):
        assert out[col].between(1, 5).all()
    assert out["rfm_segment"].isin(RFM_SEGMENTS).all()
    if n == 1:
        assert out.iloc[0][["r_score", "f_score", "m_score"]].tolist() == [3, 3, 3]


def test_empty_and_missing_columns():
    out = rfm_scores(_frame([], [], []))
    assert len(out) == 0
    assert list(out.columns) == ["r_score", "f_score", "m_score", "rfm_segment"]
    with pytest.raises(KeyError):
        rfm_scores(pd.DataFrame({"recency_days": [1.0]}))


def test_negative_monetary_is_worst():
    f = _frame([5.0, 5.0, 5.0, 5.0, 5.0], [1, 1, 1, 1, 1], [-20.0, 0.0, 10.0, 20.0, 30.0])
    assert rfm_scores(f)["m_score"].tolist() == [1, 2, 3, 4, 5]
