"""Taste features: topics in product names and each customer's share of spend per topic."""

from __future__ import annotations

import time
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

import clustomer
from clustomer.errors import ClustomerError
from clustomer.features.products import ProductTopics, product_lines, product_topics

BAGS = {"b1": "RED LUNCH BAG", "b2": "JUMBO LUNCH BAG", "b3": "LUNCH BAG SPOTTY"}
LIGHTS = {"t1": "TEA LIGHT HOLDER", "t2": "GLASS TEA LIGHT", "t3": "CANDLE TEA LIGHT"}
NAMES = {**BAGS, **LIGHTS}


def line(customer: str, product: str, revenue: float, name: str | None = None) -> dict:
    return {
        "customer_key": customer,
        "product_id": product,
        "product_name": NAMES.get(product) if name is None else name,
        "revenue": revenue,
    }


@pytest.fixture
def lines() -> pd.DataFrame:
    """Bag lovers (a, b), light lovers (c, d), a returns-only customer (e)."""
    return pd.DataFrame(
        [
            line("a", "b1", 10.0),
            line("a", "b2", 5.0),
            line("a", "t1", -8.0),  # a return of a light: not spend
            line("b", "b3", 7.0),
            line("b", "b1", 3.0),
            line("b", "b1", 2.0),
            line("c", "t1", 4.0),
            line("c", "t2", 6.0),
            line("d", "t3", 9.0),
            line("d", "t2", 1.0),
            line("d", "b2", -5.0),  # a return of a bag: not spend
            line("e", "b1", -3.0),
        ]
    )


def test_two_themes_give_two_named_topics(lines: pd.DataFrame) -> None:
    result = product_topics(lines, n_topics=2)
    assert isinstance(result, ProductTopics)
    assert list(result.topics["topic"]) == ["topic_0", "topic_1"]
    bag_topic, light_topic = None, None
    for row in result.topics.itertuples():
        words = set(row.top_words[:3])
        if {"lunch", "bag"} <= words:
            bag_topic = row.topic
        if {"tea", "light"} <= words:
            light_topic = row.topic
    assert bag_topic is not None and light_topic is not None and bag_topic != light_topic
    assert "lunch" in result.column_names[bag_topic] and "bag" in result.column_names[bag_topic]
    assert "tea" in result.column_names[light_topic]
    topics = result.topics
    assert result.column_names == dict(zip(topics["topic"], topics["name"], strict=True))

    # Every product's dominant topic is its theme.
    products = result.product_topics
    dominant = dict(zip(products["product_id"], products["dominant_topic"], strict=True))
    assert {dominant[p] for p in BAGS} == {bag_topic}
    assert {dominant[p] for p in LIGHTS} == {light_topic}
    weights = result.product_topics[["topic_0", "topic_1"]].sum(axis=1)
    np.testing.assert_allclose(weights, 1.0)


def test_shares_follow_spend_and_ignore_returns(lines: pd.DataFrame) -> None:
    result = product_topics(lines, n_topics=2)
    bag = next(t for t, n in result.column_names.items() if "lunch" in n)
    light = next(t for t, n in result.column_names.items() if "tea" in n)
    shares = result.shares.set_index("customer_key")
    assert list(result.shares.columns) == ["customer_key", "topic_0", "topic_1"]
    assert list(shares.index) == ["a", "b", "c", "d", "e"]

    # Each buying customer's dominant topic is their theme, and rows sum to 1.
    assert shares.loc[["a", "b"]].idxmax(axis=1).tolist() == [bag, bag]
    assert shares.loc[["c", "d"]].idxmax(axis=1).tolist() == [light, light]
    np.testing.assert_allclose(shares.loc[["a", "b", "c", "d"]].sum(axis=1), 1.0)
    # Products are pure here, so returns of the other theme would show up if counted.
    assert shares.at["a", bag] == pytest.approx(1.0, abs=1e-6)
    assert shares.at["d", light] == pytest.approx(1.0, abs=1e-6)
    # Returns only: all zeros.
    assert shares.loc["e"].tolist() == [0.0, 0.0]

    # Share of spend: 27 on bags, 20 on lights (returns excluded).
    spend = dict(zip(result.topics["topic"], result.topics["share_of_spend"], strict=True))
    assert spend[bag] == pytest.approx(27 / 47, abs=1e-6)
    assert spend[light] == pytest.approx(20 / 47, abs=1e-6)
    assert result.topics["topic"].iloc[0] == bag  # biggest first
    assert result.unassigned_share == 0.0


def test_most_frequent_name_and_unnamed_products_spread_evenly() -> None:
    df = pd.DataFrame(
        [
            line("a", "b1", 1.0),
            line("a", "b1", 1.0, name="  lunch   bag red "),  # tidied: same as another name
            line("a", "b1", 1.0, name="lunch bag red"),
            line("a", "b2", 1.0),
            line("b", "t1", 1.0),
            line("b", "t2", 1.0),
            line("c", "x9", 6.0, name=""),  # a blank name: no topic weight
            line("c", "t3", 2.0),
            {"customer_key": "d", "product_id": None, "product_name": None, "revenue": 4.0},
        ]
    )
    result = product_topics(df, n_topics=2)
    products = result.product_topics.set_index("product_id")
    assert products.at["b1", "product_name"] == "lunch bag red"
    assert pd.isna(products.at["x9", "product_name"])
    assert products.at["x9", "dominant_topic"] is None
    assert products.loc["x9", ["topic_0", "topic_1"]].tolist() == [0.5, 0.5]

    shares = result.shares.set_index("customer_key")
    light = next(t for t, n in result.column_names.items() if "tea" in n)
    # c: 6 spread evenly (3 + 3) and 2 on lights -> 5/8 on lights.
    assert shares.at["c", light] == pytest.approx(5 / 8, abs=1e-6)
    # d bought only a line without a product id: spread evenly.
    assert shares.loc["d"].tolist() == [0.5, 0.5]
    assert result.unassigned_share == pytest.approx(10 / 18)


def test_reproducible_and_capped(lines: pd.DataFrame) -> None:
    first = product_topics(lines, n_topics=3, random_state=7)
    second = product_topics(lines, n_topics=3, random_state=7)
    pd.testing.assert_frame_equal(first.shares, second.shares)
    pd.testing.assert_frame_equal(first.topics, second.topics)
    assert first.column_names == second.column_names

    # 6 products: asking for 50 topics gives at most 6.
    capped = product_topics(lines, n_topics=50)
    assert capped.n_topics == 6
    assert list(capped.shares.columns[1:]) == [f"topic_{i}" for i in range(6)]
    assert len(set(capped.topics["name"])) == 6
    d = capped.to_dict()
    assert d["n_topics"] == 6 and d["customers"] == 5 and d["products"] == 6
    assert sum(t["share_of_spend"] for t in d["topics"]) == pytest.approx(1.0)


def test_errors(lines: pd.DataFrame) -> None:
    no_names = lines.assign(product_name=None)
    with pytest.raises(ClustomerError, match="at least two products with a name"):
        product_topics(no_names)
    numbers_only = lines.assign(product_name="123 456")
    with pytest.raises(ClustomerError, match="names contain words"):
        product_topics(numbers_only)
    one_product = lines[lines["product_id"] == "b1"]
    with pytest.raises(ClustomerError, match="found 1"):
        product_topics(one_product)
    with pytest.raises(ClustomerError, match="product_name"):
        product_topics(lines.drop(columns="product_name"))
    with pytest.raises(ClustomerError, match="n_topics"):
        product_topics(lines, n_topics=0)


def test_product_lines_reads_duckdb() -> None:
    con = duckdb.connect()
    con.execute(
        """
        CREATE TABLE order_lines (
            customer_key VARCHAR, order_id VARCHAR, ts TIMESTAMP, product_id VARCHAR,
            product_name VARCHAR, quantity DOUBLE, unit_price DOUBLE, revenue DOUBLE,
            currency VARCHAR, is_return BOOLEAN, import_id INTEGER)
        """
    )
    con.execute(
        """
        INSERT INTO order_lines VALUES
          ('a', 'o1', '2024-01-01 10:00', 'b1', 'RED LUNCH BAG', 2, 5, 10, 'GBP', false, 1),
          ('a', 'r1', '2024-01-05 10:00', 'b1', 'RED LUNCH BAG', -1, 5, -5, 'GBP', true, 1),
          ('b', 'o2', '2024-02-01 09:00', 't1', NULL, 1, 3, 3, 'GBP', false, 1)
        """
    )
    df = product_lines(con)
    assert list(df.columns) == ["customer_key", "product_id", "product_name", "revenue"]
    assert len(df) == 3
    early = product_lines(con, as_of=datetime(2024, 1, 5, 10, 0))
    assert early.to_dict("records") == [
        {"customer_key": "a", "product_id": "b1", "product_name": "RED LUNCH BAG", "revenue": 10.0}
    ]
    with pytest.raises(ClustomerError, match="order_lines"):
        product_lines(duckdb.connect())


@pytest.mark.slow
def test_sample_topics() -> None:
    with clustomer.Workspace(":memory:") as ws:
        ws.import_file(clustomer.sample_path())
        lines = ws.order_lines()
    start = time.perf_counter()
    result = product_topics(lines)
    elapsed = time.perf_counter() - start
    print(f"product_topics on {len(lines)} sample lines: {elapsed:.2f} s")
    for row in result.topics.itertuples():
        print(f"  {row.topic}: {row.name} ({row.share_of_spend:.1%})")

    assert result.n_topics == 8
    names = result.topics["name"].tolist()
    assert all(names) and len(set(names)) == 8
    assert all(len(words) >= 3 for words in result.topics["top_words"])
    assert result.topics["share_of_spend"].sum() == pytest.approx(1.0)

    spend = lines[lines["revenue"] > 0].groupby("customer_key")["revenue"].sum()
    shares = result.shares.set_index("customer_key")
    assert set(shares.index) == set(lines["customer_key"])
    totals = shares.sum(axis=1)
    np.testing.assert_allclose(totals[spend.index], 1.0)
    assert (totals.drop(spend.index) == 0).all()
    assert result.unassigned_share < 0.05
