"""The real-time one-customer value (``pace_value``) against the batch ``naive_pace``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustomer.clv.values import customer_values, pace_value

_FIELDS = ("p_active_90d", "expected_orders_90d", "expected_revenue_90d", "clv_12m")

customer = st.lists(
    st.tuples(st.integers(0, 700), st.floats(0.01, 5000, allow_nan=False)), min_size=1, max_size=12
)


@settings(max_examples=60, deadline=None)
@given(st.lists(customer, min_size=1, max_size=6), st.integers(1, 720), st.sampled_from([1, 250]))
def test_pace_value_is_the_batch_model_for_one_customer(
    customers: list[list[tuple[int, float]]], as_of_day: int, copies: int
) -> None:
    start = pd.Timestamp("2023-01-01")
    rows = [
        (f"c{i}-{j}", start + pd.Timedelta(days=d), rev)
        for j in range(copies)  # 250 copies: the shop is big enough for a confident value
        for i, lines in enumerate(customers)
        for d, rev in lines
    ]
    days = pd.DataFrame(rows, columns=["customer_key", "day", "revenue"])
    as_of = start + pd.Timedelta(days=as_of_day)
    try:
        batch = customer_values(days, as_of, model="naive_pace").set_index("customer_key")
    except Exception:  # nobody bought before the as-of date
        batch = pd.DataFrame()
    for i in range(len(customers)):
        mine = days[days["customer_key"] == f"c{i}-0"]
        one = pace_value(
            mine["day"].to_numpy(), mine["revenue"].to_numpy(), as_of, n_customers=len(batch)
        )
        if f"c{i}-0" not in batch.index:
            assert one is None
            continue
        assert one is not None
        row = batch.loc[f"c{i}-0"]
        assert one["value_confidence"] == row["value_confidence"]
        for f in _FIELDS:
            assert one[f] == pytest.approx(float(row[f]), rel=1e-12, abs=1e-12), f


def test_pace_value_reads_only_days_before_the_as_of_date() -> None:
    days = np.array(["2024-01-01", "2024-02-01", "2024-05-01"], dtype="datetime64[D]")
    revenue = np.array([10.0, 20.0, 1e6])
    before = pace_value(days[:2], revenue[:2], "2024-04-01", n_customers=1000)
    assert pace_value(days, revenue, "2024-04-01", n_customers=1000) == before
    assert pace_value(days, revenue, "2023-12-01", n_customers=1000) is None
    assert before is not None and before["value_confidence"] == "medium"
    assert pace_value(days, revenue, "2024-04-01", n_customers=10)["value_confidence"] == "low"
