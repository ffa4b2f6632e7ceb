"""The numpy twins of one customer's features against ``FEATURE_SQL`` and ``topic_shares``."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clustomer.errors import ClustomerError
from clustomer.features.customer import customer_features
from clustomer.features.one_customer import (
    FEATURE_COLUMNS,
    features_of_lines,
    topic_shares_of_lines,
)
from clustomer.features.products import topic_shares
from clustomer.store import Store

START = datetime(2024, 1, 1)

line = st.tuples(
    st.sampled_from(["o1", "o2", "o3", "C1", "o5"]),  # order id
    st.integers(0, 60 * 86_400 * 1_000_000),  # µs after START: times within a day matter
    st.sampled_from([None, "p1", "p2", "p3"]),  # product id
    st.floats(-50, 80, allow_nan=False).map(lambda x: round(x, 2)),  # revenue
    st.booleans(),  # is_return
)


def _frame(customers: list[list[tuple]]) -> pd.DataFrame:
    rows = [
        {
            "customer_key": f"c{i}",
            "order_id": o,
            "ts": START + timedelta(microseconds=us),
            "product_id": p,
            "product_name": None,
            "quantity": 1.0,
            "unit_price": abs(r),
            "revenue": r,
            "currency": "GBP",
            "is_return": ret,
            "import_id": 1,
        }
        for i, lines in enumerate(customers)
        for o, us, p, r, ret in lines
    ]
    return pd.DataFrame(rows)


def _twin(frame: pd.DataFrame, as_of: datetime, spread: int = 1) -> dict | None:
    order, _ = pd.factorize(frame["order_id"])
    order = order * spread - (spread > 1)  # spread out: codes that must be renumbered
    product, _ = pd.factorize(frame["product_id"])  # None -> -1
    return features_of_lines(
        order,
        frame["ts"].to_numpy(dtype="datetime64[us]"),
        product,
        frame["revenue"].to_numpy(dtype=np.float64),
        frame["is_return"].to_numpy(dtype=bool),
        as_of,
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(line, min_size=1, max_size=12), min_size=1, max_size=4),
    st.integers(0, 62 * 24),
)
def test_features_of_lines_is_the_feature_sql_for_each_customer(
    customers: list[list[tuple]], as_of_hours: int
) -> None:
    frame = _frame(customers)
    as_of = START + timedelta(hours=as_of_hours)
    store = Store()
    try:
        store.con.register("new_lines", frame)
        store.execute("INSERT INTO order_lines BY NAME SELECT * FROM new_lines")
        try:
            sql = customer_features(store, as_of).set_index("customer_key")
        except ClustomerError:  # nobody has a line before the as-of date
            sql = pd.DataFrame()
    finally:
        store.close()
    for i in range(len(customers)):
        mine = frame[frame["customer_key"] == f"c{i}"].reset_index(drop=True)
        one = _twin(mine, as_of)
        assert _twin(mine, as_of, spread=1_000_003) == one  # any order codes will do
        if f"c{i}" not in sql.index:
            assert one is None
            continue
        assert one is not None
        assert list(one) == list(FEATURE_COLUMNS)
        row = sql.loc[f"c{i}"]
        for col in FEATURE_COLUMNS:
            want = row[col]
            if pd.isna(want):
                assert one[col] is None, col
            else:
                assert one[col] == pytest.approx(float(want), rel=1e-9, abs=1e-9), col


def test_a_return_of_a_stored_order_nets_against_it() -> None:
    # the return shares the order's code: the order's net value is 0, so no purchase
    f = features_of_lines(
        np.array([7, 7]),
        np.array(["2024-01-01T10:00", "2024-01-03T09:00"], dtype="datetime64[us]"),
        np.array([0, 0]),
        np.array([20.0, -20.0]),
        np.array([False, True]),
        datetime(2024, 2, 1),
    )
    assert f is not None
    assert (f["frequency"], f["monetary"], f["return_rate"]) == (0, 0.0, 1.0)
    assert f["recency_days"] is None and f["avg_order_value"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(line, min_size=1, max_size=15), st.integers(1, 3))
def test_topic_shares_of_lines_is_topic_shares(lines: list[tuple], topics: int) -> None:
    frame = _frame([lines])
    rng = np.random.default_rng(len(lines))
    w = rng.dirichlet(np.ones(topics), size=2)  # p1 and p2 are known; p3 and None are not
    weights = pd.DataFrame(w, columns=[f"topic_{i}" for i in range(topics)])
    weights.insert(0, "product_id", ["p1", "p2"])
    batch = topic_shares(frame[["customer_key", "product_id", "product_name", "revenue"]], weights)
    table = np.vstack([w, np.full((1, topics), 1 / topics)])
    rows = pd.Index(weights["product_id"]).get_indexer(frame["product_id"])
    rows = np.where(rows < 0, len(weights), rows)
    one = topic_shares_of_lines(rows, frame["revenue"].to_numpy(), table)
    assert one == pytest.approx(batch.iloc[0, 1:].to_numpy(dtype=float), abs=1e-12)
