"""Comparing two segmentation runs: stable ids, transition matrix, movement sentences."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from clustomer import Workspace
from clustomer.errors import ClustomerError
from clustomer.segment.compare import (
    GONE,
    NEW,
    Movement,
    RunComparison,
    compare_runs,
    match_segments,
    movement_sentence,
    movements,
    relabel,
    transition_matrix,
)
from clustomer.segment.result import SegmentationResult
from clustomer.segment.run import run_segmentation

# --------------------------------------------------------------------------------------
# match_segments / relabel
# --------------------------------------------------------------------------------------


def test_permuted_centres_are_mapped_back_exactly() -> None:
    rng = np.random.default_rng(7)
    previous = rng.normal(size=(6, 7))
    perm = np.array([3, 0, 5, 1, 4, 2])
    current = previous[perm] + rng.normal(scale=1e-3, size=(6, 7))

    mapping = match_segments(previous, current)

    assert mapping == {j: int(perm[j]) for j in range(6)}
    labels = np.array([0, 1, 2, 3, 4, 5, -1, 2])
    assert relabel(labels, mapping, previous_k=6).tolist() == [3, 0, 5, 1, 4, 2, -1, 5]


def test_k_grows_new_segment_has_no_partner_and_gets_a_new_id() -> None:
    previous = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    # current 0 continues previous 2, current 1 is new, current 2 -> 0, current 3 -> 1
    current = np.array([[0.1, 9.9], [30.0, 30.0], [0.2, -0.1], [9.8, 0.3]])

    mapping = match_segments(previous, current)

    assert mapping == {0: 2, 1: None, 2: 0, 3: 1}
    out = relabel([0, 1, 2, 3, -1, 1], mapping, previous_k=3)
    assert out.dtype == np.int64
    assert out.tolist() == [2, 3, 0, 1, -1, 3]


def test_two_new_segments_get_consecutive_ids_in_current_order() -> None:
    previous = np.array([[0.0], [10.0]])
    current = np.array([[50.0], [10.2], [-40.0], [0.1]])
    mapping = match_segments(previous, current)
    assert mapping == {0: None, 1: 1, 2: None, 3: 0}
    assert relabel([0, 1, 2, 3], mapping, previous_k=2).tolist() == [2, 1, 3, 0]


def test_k_shrinks_current_segments_keep_the_ids_they_continue() -> None:
    previous = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
    current = np.array([[5.1, 5.2], [4.9, 0.1]])

    mapping = match_segments(previous, current)

    assert mapping == {0: 3, 1: 1}
    assert relabel([0, 1, 1, -1, 0], mapping, previous_k=4).tolist() == [3, 1, 1, -1, 3]


def test_ties_are_resolved_deterministically_in_index_order() -> None:
    same = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    assert match_segments(same, same.copy()) == {0: 0, 1: 1, 2: 2}
    # every pair equally far apart
    previous = np.array([[-1.0, 0.0], [1.0, 0.0]])
    current = np.zeros((2, 2))
    first = match_segments(previous, current)
    assert first == {0: 0, 1: 1}
    assert all(match_segments(previous, current) == first for _ in range(5))


def test_max_distance_pairs_as_many_segments_as_the_limit_allows() -> None:
    # Without a limit, current 0 -> previous 1 and current 1 -> previous 0 is cheapest,
    # but current 1 is 1.1 away from previous 0; with the limit both still get a partner.
    previous = np.array([[0.0, 0.0], [1.5, 0.0]])
    current = np.array([[1.0, 0.0], [0.82, float(np.sqrt(1.21 - 0.82**2))]])
    assert match_segments(previous, current) == {0: 1, 1: 0}
    assert match_segments(previous, current, max_distance=1.05) == {0: 0, 1: 1}
    assert match_segments(previous, current, max_distance=0.01) == {0: None, 1: None}


def test_match_segments_rejects_bad_centres() -> None:
    with pytest.raises(ClustomerError, match="different number of features"):
        match_segments(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ClustomerError, match="missing or infinite"):
        match_segments([[0.0, np.nan]], [[0.0, 0.0]])
    with pytest.raises(ClustomerError, match="segments x features"):
        match_segments([0.0, 1.0], [[0.0], [1.0]])
    with pytest.raises(ClustomerError, match="max_distance"):
        match_segments([[0.0]], [[0.0]], max_distance=-1)


def test_match_segments_with_no_previous_segments() -> None:
    assert match_segments(np.empty((0, 3)), np.zeros((2, 3))) == {0: None, 1: None}
    assert relabel([1, 0, -1], {0: None, 1: None}, previous_k=0).tolist() == [1, 0, -1]


def test_relabel_rejects_inconsistent_mappings() -> None:
    with pytest.raises(ClustomerError, match="no entry for segment"):
        relabel([0, 1, 2], {0: 0, 1: 1}, previous_k=2)
    with pytest.raises(ClustomerError, match="two current segments"):
        relabel([0, 1], {0: 0, 1: 0}, previous_k=2)
    with pytest.raises(ClustomerError, match="outside the previous run"):
        relabel([0, 1], {0: 0, 1: 5}, previous_k=2)
    with pytest.raises(ClustomerError, match="whole numbers"):
        relabel([0.5, 1.0], {0: 0, 1: 1}, previous_k=2)
    with pytest.raises(ClustomerError, match="-1"):
        relabel([0, -2], {0: 0}, previous_k=1)


# --------------------------------------------------------------------------------------
# transition_matrix
# --------------------------------------------------------------------------------------


def _runs() -> tuple[pd.DataFrame, pd.DataFrame]:
    """13 customers; g and j leave, k, l and m join. Rows are not in segment-id order."""
    before = pd.DataFrame(
        [
            ("h", 2, "At risk"),
            ("a", 0, "Champions"),
            ("i", -1, "Returns only"),
            ("d", 1, "Loyal"),
            ("b", 0, "Champions"),
            ("e", 1, "Loyal"),
            ("c", 0, "Champions"),
            ("f", 1, "Loyal"),
            ("g", 1, "Loyal"),
            ("j", 1, "Loyal"),
        ],
        columns=["customer_key", "segment_id", "segment_name"],
    )
    after = pd.DataFrame(
        [
            ("m", 2, "Champions"),
            ("k", 3, "New customers"),
            ("a", 2, "Champions"),
            ("b", 0, "Loyal"),
            ("c", 1, "At risk"),
            ("d", 0, "Loyal"),
            ("e", 1, "At risk"),
            ("f", 1, "At risk"),
            ("h", 1, "At risk"),
            ("i", 0, "Loyal"),
            ("l", 3, "New customers"),
        ],
        columns=["customer_key", "segment_id", "segment_name"],
    )
    return before, after


def test_transition_matrix_counts_on_a_hand_made_example() -> None:
    before, after = _runs()

    m = transition_matrix(before, after)

    assert m.index.tolist() == ["Champions", "Loyal", "At risk", "Returns only", NEW]
    assert m.columns.tolist() == ["Loyal", "At risk", "Champions", "New customers", GONE]
    assert m.index.name == "before" and m.columns.name == "after"
    assert m.to_numpy().tolist() == [
        [1, 1, 1, 0, 0],
        [1, 2, 0, 0, 2],
        [0, 1, 0, 0, 0],
        [1, 0, 0, 0, 0],
        [0, 0, 1, 2, 0],
    ]
    assert all(dtype == np.int64 for dtype in m.dtypes)
    assert int(m.to_numpy().sum()) == 13


def test_transition_matrix_keeps_empty_new_row_and_gone_column() -> None:
    run = pd.DataFrame(
        {"customer_key": ["x", "y"], "segment_id": [1, 0], "segment_name": ["Lost", "Loyal"]}
    )
    m = transition_matrix(run, run)
    assert m.index.tolist() == ["Loyal", "Lost", NEW]
    assert m.columns.tolist() == ["Loyal", "Lost", GONE]
    assert m.to_numpy().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]


def test_transition_matrix_without_segment_id_uses_first_appearance() -> None:
    before = pd.DataFrame({"customer_key": [1, 2, 3], "segment_name": ["B", "A", "B"]})
    after = pd.DataFrame({"customer_key": ["3", "2", "1"], "segment_name": ["C", "A", "A"]})
    m = transition_matrix(before, after)
    # integer and string keys match after conversion to text
    assert m.index.tolist() == ["B", "A", NEW]
    assert m.columns.tolist() == ["C", "A", GONE]
    assert m.to_numpy().tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 0]]


def test_transition_matrix_names_missing_columns_and_rejects_bad_input() -> None:
    before, after = _runs()
    with pytest.raises(ClustomerError, match="segment_name"):
        transition_matrix(before.drop(columns="segment_name"), after)
    with pytest.raises(ClustomerError, match="later run.*customer_key"):
        transition_matrix(before, after.drop(columns="customer_key"))
    with pytest.raises(ClustomerError, match="more than once"):
        transition_matrix(pd.concat([before, before.head(1)]), after)
    bad = before.copy()
    bad.loc[0, "segment_name"] = NEW
    with pytest.raises(ClustomerError, match="reserved"):
        transition_matrix(bad, after)
    with pytest.raises(ClustomerError, match="no segment name"):
        transition_matrix(before.assign(segment_name=None), after)


# --------------------------------------------------------------------------------------
# sentences and movements
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "dst", "n", "expected"),
    [
        ("Loyal", "At risk", 312, "312 Loyal customers became At risk"),
        ("Loyal", "At risk", 1, "1 Loyal customer became At risk"),
        ("At risk", "Lost", 1, "1 At risk customer became Lost"),
        ("Champions", "At risk", 12, "12 Champions became At risk"),
        ("Champions", "At risk", 1, "1 Champion became At risk"),
        ("New customers", "Loyal", 40, "40 New customers became Loyal"),
        ("New customers", "Loyal", 1, "1 New customer became Loyal"),
        ("Big spenders", "Loyal", 1, "1 Big spender became Loyal"),
        ("Potential loyalists", "Champions", 3, "3 Potential loyalists became Champions"),
        ("Hibernating", "Lost", 1234, "1,234 Hibernating customers became Lost"),
        ("Can't lose", "Lost", 2, "2 Can't lose customers became Lost"),
        ("Need attention", "Loyal", 5, "5 Need attention customers became Loyal"),
        ("Returns only", "Loyal", 2, "2 Returns only customers became Loyal"),
        ("Segment 10", "Loyal", 1, "1 Segment 10 customer became Loyal"),
        (NEW, "Champions", 85, "85 new customers joined Champions"),
        (NEW, "Champions", 1, "1 new customer joined Champions"),
        (NEW, "New customers", 2000, "2,000 new customers joined New customers"),
        ("Loyal", GONE, 7, "7 Loyal customers are no longer in the data"),
        ("Champions", GONE, 1, "1 Champion is no longer in the data"),
    ],
)
def test_movement_sentence(src: str, dst: str, n: int, expected: str) -> None:
    assert movement_sentence(src, dst, n) == expected


def test_movements_are_largest_first_off_diagonal_with_ties_in_matrix_order() -> None:
    before, after = _runs()
    m = transition_matrix(before, after)

    got = movements(m, top=None)

    assert [(mv.from_segment, mv.to_segment, mv.customers) for mv in got] == [
        ("Loyal", "At risk", 2),
        ("Loyal", GONE, 2),
        (NEW, "New customers", 2),
        ("Champions", "Loyal", 1),
        ("Champions", "At risk", 1),
        ("Returns only", "Loyal", 1),
        (NEW, "Champions", 1),
    ]
    assert [mv.sentence for mv in got] == [
        "2 Loyal customers became At risk",
        "2 Loyal customers are no longer in the data",
        "2 new customers joined New customers",
        "1 Champion became Loyal",
        "1 Champion became At risk",
        "1 Returns only customer became Loyal",
        "1 new customer joined Champions",
    ]


def test_movements_top_and_min_customers() -> None:
    m = pd.DataFrame(
        [[500, 312, 7], [40, 90, 0], [85, 3, 0]],
        index=["Loyal", "At risk", NEW],
        columns=["Loyal", "At risk", GONE],
    )
    assert [mv.customers for mv in movements(m)] == [312, 85, 40, 7, 3]
    assert [mv.customers for mv in movements(m, top=2)] == [312, 85]
    assert movements(m, top=0) == []
    assert [mv.customers for mv in movements(m, top=None, min_customers=8)] == [312, 85, 40]
    assert movements(m, top=1)[0] == Movement(
        "Loyal", "At risk", 312, "312 Loyal customers became At risk"
    )
    with pytest.raises(ClustomerError, match="top"):
        movements(m, top=-1)
    with pytest.raises(ClustomerError, match="min_customers"):
        movements(m, min_customers=0)


# --------------------------------------------------------------------------------------
# compare_runs
# --------------------------------------------------------------------------------------


def test_compare_runs_counts_sentences_and_json() -> None:
    before, after = _runs()

    cmp = compare_runs(before, after, before_name="May", after_name="June", top=2)

    assert (cmp.stayed, cmp.moved, cmp.new, cmp.gone) == (3, 5, 3, 2)
    assert cmp.share_stayed == pytest.approx(3 / 8)
    assert cmp.sentences == [
        "2 Loyal customers became At risk",
        "2 Loyal customers are no longer in the data",
    ]
    assert cmp.summary_sentence() == (
        "Between May and June, 38% of customers stayed in their segment; "
        "2 Loyal customers became At risk; 2 Loyal customers are no longer in the data."
    )
    d = json.loads(json.dumps(cmp.to_dict()))
    assert d["matrix"]["rows"] == ["Champions", "Loyal", "At risk", "Returns only", NEW]
    assert d["matrix"]["columns"] == ["Loyal", "At risk", "Champions", "New customers", GONE]
    assert d["matrix"]["counts"][1] == [1, 2, 0, 0, 2]
    assert (d["stayed"], d["moved"], d["new"], d["gone"]) == (3, 5, 3, 2)
    assert d["share_stayed"] == pytest.approx(0.375)
    assert d["sentences"] == cmp.sentences
    assert d["movements"][0] == {
        "from_segment": "Loyal",
        "to_segment": "At risk",
        "customers": 2,
        "sentence": "2 Loyal customers became At risk",
    }
    assert d["summary"] == cmp.summary_sentence()
    assert (d["before_name"], d["after_name"]) == ("May", "June")


def test_summary_share_is_never_rounded_to_all_or_nothing() -> None:
    keys = [f"c{i}" for i in range(1000)]
    before = pd.DataFrame({"customer_key": keys, "segment_name": "Loyal"})
    after = before.assign(segment_name=["Lost"] + ["Loyal"] * 999)
    almost_all = compare_runs(before, after)
    assert almost_all.summary_sentence() == (
        "Between run A and run B, 99% of customers stayed in their segment; "
        "1 Loyal customer became Lost."
    )
    almost_none = compare_runs(before, before.assign(segment_name=["Loyal"] + ["Lost"] * 999))
    assert almost_none.summary_sentence().startswith(
        "Between run A and run B, 1% of customers stayed in their segment; "
        "999 Loyal customers became Lost"
    )


def test_compare_runs_with_no_common_customers() -> None:
    before = pd.DataFrame({"customer_key": ["a"], "segment_name": ["Loyal"]})
    after = pd.DataFrame({"customer_key": ["b", "c"], "segment_name": ["Champions"] * 2})
    cmp = compare_runs(before, after)
    assert cmp.share_stayed is None
    assert (cmp.stayed, cmp.moved, cmp.new, cmp.gone) == (0, 0, 2, 1)
    assert cmp.summary_sentence() == (
        "Between run A and run B, no customer was in both runs; "
        "2 new customers joined Champions; 1 Loyal customer is no longer in the data."
    )
    assert json.loads(json.dumps(cmp.to_dict()))["share_stayed"] is None


# --------------------------------------------------------------------------------------
# End to end: the bundled sample, as of mid-2011 and as of the end of the data
# --------------------------------------------------------------------------------------


@dataclass
class _TwoPeriods:
    a: SegmentationResult
    b: SegmentationResult
    cmp: RunComparison


@pytest.fixture(scope="module")
def two_periods(sample_ws: Workspace) -> Iterator[_TwoPeriods]:
    fa = sample_ws.features(as_of=datetime.datetime(2011, 6, 1))
    fb = sample_ws.features()
    ra = run_segmentation(fa, n_clusters=5)
    rb = run_segmentation(fb, n_clusters=5)
    yield _TwoPeriods(
        ra, rb, compare_runs(ra, rb, before_name="June 2011", after_name="December 2011", top=8)
    )


@pytest.mark.slow
def test_sample_split_into_two_periods(two_periods: _TwoPeriods) -> None:
    ra, rb, cmp = two_periods.a, two_periods.b, two_periods.cmp
    keys_a = set(ra.assignments["customer_key"])
    keys_b = set(rb.assignments["customer_key"])
    m = cmp.matrix
    values = m.to_numpy()

    # the whole table covers every customer of either run exactly once
    assert int(values.sum()) == len(keys_a | keys_b)
    # rows: run A's segment sizes, then the customers who joined
    sizes_a = ra.assignments["segment_name"].value_counts()
    row_sums = m.sum(axis=1)
    assert row_sums.drop(NEW).sort_index().to_dict() == sizes_a.sort_index().to_dict()
    assert int(row_sums[NEW]) == len(keys_b - keys_a) == cmp.new
    # columns: run B's segment sizes, then the customers who left
    sizes_b = rb.assignments["segment_name"].value_counts()
    col_sums = m.sum(axis=0)
    assert col_sums.drop(GONE).sort_index().to_dict() == sizes_b.sort_index().to_dict()
    assert int(col_sums[GONE]) == len(keys_a - keys_b) == cmp.gone
    # customers in both runs either stayed or moved, and some moved
    assert cmp.stayed + cmp.moved == len(keys_a & keys_b)
    assert cmp.moved > 0
    assert cmp.new > 0
    assert cmp.share_stayed == pytest.approx(cmp.stayed / len(keys_a & keys_b))

    # the sentences talk about real segments, biggest move first
    names_a = set(ra.assignments["segment_name"])
    names_b = set(rb.assignments["segment_name"])
    assert 0 < len(cmp.movements) <= 8
    counts = [mv.customers for mv in cmp.movements]
    assert counts == sorted(counts, reverse=True)
    for mv in cmp.movements:
        assert mv.from_segment in names_a | {NEW}
        assert mv.to_segment in names_b | {GONE}
        assert mv.from_segment != mv.to_segment
        assert m.loc[mv.from_segment, mv.to_segment] == mv.customers
        assert mv.sentence.startswith(f"{mv.customers:,} ")
        if mv.to_segment != GONE:
            assert mv.sentence.endswith(mv.to_segment)
    summary = cmp.summary_sentence()
    assert summary.startswith("Between June 2011 and December 2011, ")
    assert cmp.movements[0].sentence in summary
    json.dumps(cmp.to_dict())
