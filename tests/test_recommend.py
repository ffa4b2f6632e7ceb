"""Recommendations: exclusions, the three recommenders and their reasons, the blend,
top-N, new items only, cold start, and reading clean lines from a workspace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clustomer.errors import ClustomerError
from clustomer.recommend import (
    DEFAULT_BLEND,
    DEFAULT_EXCLUDE,
    RECOMMENDATION_COLUMNS,
    excluded,
    fit_blend,
    recommend,
)
from clustomer.recommend.data import encode, history
from clustomer.recommend.itemknn import similarity
from clustomer.recommend.popularity import segment_codes
from clustomer.store.lines import LINE_COLUMNS, clean_lines

DAY0 = pd.Timestamp("2024-01-01")


def frame(rows: list[tuple[str, str, int]], names: dict[str, str] | None = None) -> pd.DataFrame:
    """Lines from (customer, product, day offset) triples."""
    out = pd.DataFrame(rows, columns=["customer_key", "product_id", "offset"])
    out["day"] = DAY0 + pd.to_timedelta(out.pop("offset"), unit="D")
    lookup = names or {}
    out["product_name"] = [lookup.get(p, p) for p in out["product_id"]]
    out["quantity"] = 1.0
    return out


def shop() -> pd.DataFrame:
    """'ann' buys TEA every 42 days; four others buy TEA with CUP; 'bob' buys only TEA
    once; POST is on many orders."""
    rows = [("ann", "TEA", d) for d in (0, 42, 84, 126)]
    for k, c in enumerate(["c1", "c2", "c3", "c4"]):
        rows += [(c, "TEA", 10 + k), (c, "CUP", 10 + k), (c, "POST", 10 + k)]
    rows += [("bob", "TEA", 100), ("bob", "POST", 100), ("dan", "JAM", 50)]
    return frame(rows, {"TEA": "TEA TIN", "CUP": "TEA CUP"})


def lists(recs: pd.DataFrame) -> dict[str, list[str]]:
    return {
        str(k): [str(p) for p in g.sort_values("rank")["product_id"]]
        for k, g in recs.groupby("customer_key", observed=True)
    }


def reasons(recs: pd.DataFrame, customer: str) -> dict[str, str]:
    g = recs[recs["customer_key"] == customer]
    return dict(zip(g["product_id"].astype(str), g["reason"].astype(str), strict=True))


# -- exclusions --------------------------------------------------------------------


def test_default_rules_exclude_online_retail_non_products() -> None:
    ids = ["POST", "DOT", "M", "m", "C2", "D", "BANK CHARGES", "PADS", "ADJUST", "TEST001",
           "AMAZONFEE", "CRUK", "gift_0001_20", "S", "B", "23444", "85123A", "22423"]  # fmt: skip
    names = [None] * 15 + ["Next Day Carriage", "WHITE HANGING HEART", "REGENCY CAKESTAND"]
    got = excluded(ids, names)
    assert got.tolist() == [True] * 16 + [False, False]


def test_rules_match_whole_names_and_can_be_replaced() -> None:
    assert excluded(["1"], ["POSTAGE STAMP MUG"]).tolist() == [False]
    assert excluded(["1"], ["DOTCOM POSTAGE"]).tolist() == [True]
    assert excluded(["POST"], ["POSTAGE"], rules=()).tolist() == [False]
    assert excluded(["FEE-1", "MUG"], None, rules=["fee-*"]).tolist() == [True, False]
    assert "POST" in DEFAULT_EXCLUDE


def test_excluded_codes_never_recommended() -> None:
    lines = shop()
    recs = recommend(lines, blend="default")
    assert "POST" not in set(recs["product_id"].astype(str))
    assert "POST" in set(recommend(lines, blend="default", exclude=())["product_id"].astype(str))
    custom = recommend(lines, blend="default", exclude=["TEA"])
    assert "TEA" not in set(custom["product_id"].astype(str))


# -- the recommenders and their reasons ----------------------------------------------


def test_regular_purchase_comes_first_with_its_cycle() -> None:
    recs = recommend(shop(), blend="default")
    assert lists(recs)["ann"][0] == "TEA"
    assert reasons(recs, "ann")["TEA"] == "you buy this about every 6 weeks"


def test_bought_together_names_the_anchor_product() -> None:
    recs = recommend(shop(), blend="default", new_items_only=True)
    assert lists(recs)["bob"][0] == "CUP"
    assert reasons(recs, "bob")["CUP"] == "bought together with TEA TIN"


def test_one_and_two_purchases_say_when() -> None:
    lines = frame([("a", "TEA", 0), ("a", "TEA", 30), ("a", "JAM", 30), ("b", "JAM", 60)])
    recs = recommend(lines, blend="default")
    assert (
        reasons(recommend(lines, blend="default", as_of=DAY0 + pd.Timedelta(days=39)), "a")["JAM"]
        == "you bought this 9 days ago"
    )
    got = reasons(recs, "a")
    assert got["TEA"] == "you bought this twice, last 4 weeks ago"  # as of day 60
    assert got["JAM"] == "you bought this 4 weeks ago"


def test_item_knn_similarity_is_symmetric_and_ignores_self() -> None:
    lines = frame([("a", "X", 0), ("a", "Y", 0), ("b", "X", 1), ("b", "Y", 1), ("c", "Z", 2)])
    enc = encode(lines)
    nb = similarity(history(enc, int(enc.d.max())), k=2)
    pairs = {
        (int(s), int(d)) for s in range(enc.n_items) for d in nb.dst[nb.ptr[s] : nb.ptr[s + 1]]
    }
    assert pairs == {(0, 1), (1, 0)}  # X ~ Y; nobody shares a customer with Z
    assert np.allclose(nb.sim, 1.0)


def test_new_items_only_never_returns_a_bought_product() -> None:
    rng = np.random.default_rng(3)
    rows = [
        (f"c{c}", f"P{int(rng.zipf(1.6)) % 25}", int(rng.integers(0, 200)))
        for c in range(60)
        for _ in range(int(rng.integers(1, 12)))
    ]
    lines = frame(rows)
    recs = recommend(lines, blend="default", new_items_only=True, top=5)
    bought = set(zip(lines["customer_key"], lines["product_id"], strict=True))
    got = set(zip(recs["customer_key"].astype(str), recs["product_id"].astype(str), strict=True))
    assert got and not got & bought
    assert set(recs["reason"].astype(str)) <= {
        *(f"bought together with P{k}" for k in range(25)),
        "popular with customers right now",
    }


def test_top_n_ranks_and_columns() -> None:
    recs = recommend(shop(), top=2, blend="default")
    assert tuple(recs.columns) == RECOMMENDATION_COLUMNS
    per = recs.groupby("customer_key", observed=True)
    assert per.size().max() == 2
    assert all(list(g["rank"]) == list(range(1, len(g) + 1)) for _, g in per)
    assert not recs.duplicated(["customer_key", "product_id"]).any()
    assert recs["score"].between(0, 1).all()
    # sorted by customer then rank, deterministic
    assert list(recs["customer_key"].astype(str)) == sorted(recs["customer_key"].astype(str))
    pd.testing.assert_frame_equal(recs, recommend(shop(), top=2, blend="default"))


def test_as_of_ignores_later_purchases() -> None:
    lines = shop()
    recs = recommend(lines, blend="default", as_of=DAY0 + pd.Timedelta(days=60))
    assert "bob" not in set(recs["customer_key"].astype(str))  # first bought on day 100
    assert reasons(recs, "ann")["TEA"] == "you bought this twice, last 3 weeks ago"  # 18 days


def test_cold_start_gets_segment_popularity() -> None:
    rows = [(f"a{k}", "APPLE", 100 + k) for k in range(5)] + [("a9", "PEAR", 100)]
    rows += [(f"b{k}", "PEAR", 100 + k) for k in range(5)] + [("b9", "APPLE", 100)]
    lines = frame(rows)
    segments = pd.Series({**{f"a{k}": "orchard" for k in range(10)}, "new": "garden"})
    segments = pd.concat([segments, pd.Series({f"b{k}": "garden" for k in range(10)})])
    recs = recommend(lines, blend="default", segments=segments, customers=["new", "a9", "zed"])
    assert set(recs["customer_key"].astype(str)) == {"new", "a9", "zed"}
    new = recs[recs["customer_key"] == "new"].sort_values("rank")
    assert list(new["product_id"].astype(str)) == ["PEAR", "APPLE"]
    assert set(new["reason"].astype(str)) == {"popular in your segment"}
    zed = recs[recs["customer_key"] == "zed"]
    assert set(zed["reason"].astype(str)) == {"popular with customers right now"}
    codes, n = segment_codes(encode(lines), segments)
    assert n == 2 and codes is not None and sorted(set(codes.tolist())) == [1, 2]


def test_reasons_hold_no_customer_keys() -> None:
    lines = shop()
    lines["customer_key"] = lines["customer_key"] + "@example.com"
    recs = recommend(lines, blend="default")
    assert not recs["reason"].astype(str).str.contains("@").any()


def test_products_without_ids_are_read_by_name() -> None:
    lines = shop()
    lines.loc[lines["product_id"] == "CUP", "product_id"] = None
    recs = recommend(lines, blend="default", new_items_only=True)
    assert lists(recs)["bob"][0] == "TEA CUP"


def test_categorical_and_plain_input_agree() -> None:
    plain = shop()
    cat = plain.astype({"customer_key": "category", "product_id": "category"})
    pd.testing.assert_frame_equal(
        recommend(plain, blend="default"), recommend(cat, blend="default")
    )


def test_bad_arguments() -> None:
    with pytest.raises(ClustomerError, match="top"):
        recommend(shop(), top=0)
    with pytest.raises(ClustomerError, match="blend"):
        recommend(shop(), blend="magic")
    with pytest.raises(ClustomerError, match="day"):
        recommend(pd.DataFrame({"customer_key": ["a"], "product_id": ["X"]}))
    assert recommend(frame([("a", "POST", 0)])).empty


# -- the blend ----------------------------------------------------------------------


def synthetic(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Customers with a staple they rebuy on a cycle, and pairs of products bought together."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n):
        staple = f"S{c % 7}"
        start, cycle = int(rng.integers(0, 60)), int(rng.integers(20, 50))
        rows += [(f"c{c}", staple, d) for d in range(start, 360, cycle)]
        first = int(rng.integers(0, 10))
        day = int(rng.integers(0, 360))
        rows += [(f"c{c}", f"A{first}", day), (f"c{c}", f"B{first}", day)]
    return frame(rows)


def test_fit_blend_learns_repurchase_and_co_purchase() -> None:
    lines = synthetic()
    enc = encode(lines)
    blend = fit_blend(enc, int(enc.d.max()), 91)
    assert blend is not None and blend.source == "fitted"
    own = dict(zip(blend.own.features, blend.own.coef, strict=True))
    new = dict(zip(blend.new.features, blend.new.coef, strict=True))
    assert own["lcnt"] > 0  # bought more often → more likely again
    assert new["knn"] > 0  # closer neighbours → more likely
    data = blend.to_dict()
    assert data["source"] == "fitted" and set(data["own"]["weights"]) == set(blend.own.features)


def test_fit_falls_back_to_the_default_on_thin_data() -> None:
    enc = encode(shop())
    assert fit_blend(enc, int(enc.d.max()), 91) is None
    # recommend then uses the default blend and still works
    assert not recommend(shop()).empty
    assert DEFAULT_BLEND.source == "default"


# -- the store --------------------------------------------------------------------


def test_clean_lines_from_a_workspace(ws, data_dir) -> None:  # type: ignore[no-untyped-def]
    ws.import_file(data_dir / "generic_orders.csv")
    lines = clean_lines(ws.store)
    assert tuple(lines.columns) == LINE_COLUMNS
    assert (lines["quantity"] > 0).all() and (lines["revenue"] > 0).all()
    assert not lines.duplicated(["customer_key", "product_id", "day"]).any()
    stored = ws.store.scalar("SELECT count(DISTINCT customer_key) FROM order_lines")
    assert lines["customer_key"].nunique() <= stored
    early = clean_lines(ws.store, until=lines["day"].min())
    assert early["day"].max() == lines["day"].min()
    recs = recommend(lines, top=3)
    assert set(recs["customer_key"].astype(str)) == set(lines["customer_key"].astype(str))
