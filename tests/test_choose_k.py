"""Choosing k: the knee, the silhouettes, the rule and its reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from clustomer.segment.choose_k import (
    SILHOUETTE_TOLERANCE,
    candidate_ks,
    choose_k,
    forced_k_selection,
    k_curves,
    knee_point,
    select_k,
    silhouette_by_k,
)


def _four_blobs(n_per: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    return np.vstack([c + rng.normal(0, 1.0, (n_per, 2)) for c in centres])


def test_knee_point_on_known_curve():
    # 1/k-like curve: the knee is where the gain flattens
    assert knee_point([1, 2, 3, 4, 5, 6], [100, 40, 20, 15, 12, 10]) == 3
    # a sharp elbow at 4
    assert knee_point([2, 3, 4, 5, 6, 7], [90, 80, 20, 18, 16, 14]) == 4


@pytest.mark.parametrize(
    ("ks", "values"),
    [
        ([2, 3], [10.0, 5.0]),  # too few points
        ([2, 3, 4, 5], [8.0, 6.0, 4.0, 2.0]),  # straight line
        ([2, 3, 4, 5], [10.0, 9.5, 8.0, 1.0]),  # concave: nothing below the chord
        ([2, 3, 4], [5.0, 5.0, 5.0]),  # flat
        ([2, 3, 4], [5.0, math.nan, 1.0]),  # not finite
    ],
)
def test_knee_point_none(ks, values):
    assert knee_point(ks, values) is None


def test_knee_point_length_mismatch():
    with pytest.raises(ValueError):
        knee_point([1, 2, 3], [1.0, 2.0])


def test_silhouette_by_k_matches_sklearn():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4))
    X[:100] += 3
    labelings = [rng.integers(0, k, 300) for k in (2, 3, 5, 8)]
    labelings.append(np.r_[np.zeros(299, dtype=int), 1])  # a singleton cluster
    labelings.append((X[:, 0] > 1.5).astype(int) * 7)  # labels need not be 0..k-1
    got = silhouette_by_k(X, labelings)
    want = [silhouette_score(X, lab) for lab in labelings]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)


def test_silhouette_by_k_undefined_is_nan():
    X = np.arange(8, dtype=float).reshape(4, 2)
    got = silhouette_by_k(X, [[0, 0, 0, 0], [0, 1, 2, 3], [0, 0, 1, 1]])
    assert math.isnan(got[0]) and math.isnan(got[1])
    assert got[2] == pytest.approx(silhouette_score(X, [0, 0, 1, 1]))


def test_candidate_ks_caps():
    assert candidate_ks(range(2, 11), n_samples=1000) == list(range(2, 11))
    assert candidate_ks(range(2, 11), n_samples=6) == [2, 3, 4, 5]
    assert candidate_ks(range(2, 11), n_samples=3) == [2]
    assert candidate_ks(range(2, 11), n_samples=2) == [2]
    assert candidate_ks(range(2, 11), n_samples=100, n_distinct=3) == [2, 3]
    assert candidate_ks(range(5, 8), n_samples=4) == [3]
    assert candidate_ks(range(2, 11), n_samples=1) == []


def test_choose_k_finds_four_blobs():
    sel = choose_k(_four_blobs(), range(2, 11), sample_size=10_000, random_state=0, n_init=3)
    assert sel.chosen_k == 4
    assert sel.elbow_k == 4
    assert sel.best_silhouette_k == 4
    assert sel.ks == list(range(2, 11))
    assert sel.sample_size == 160
    assert not sel.forced
    assert sel.reason.startswith("k = 4: both the elbow of the inertia curve")
    # inertia falls with k (within k-means noise); silhouettes are valid numbers
    assert sel.inertia[0] > sel.inertia[2] > sel.inertia[-1]
    assert all(-1 <= s <= 1 for s in sel.silhouette)


def test_choose_k_on_a_sample_is_reproducible():
    X = _four_blobs(n_per=100)
    a = choose_k(X, range(2, 8), sample_size=120, random_state=3, n_init=2)
    b = choose_k(X, range(2, 8), sample_size=120, random_state=3, n_init=2)
    assert a == b
    assert a.sample_size == 120
    assert a.chosen_k == 4


def test_k_curves_centres_per_k():
    curves = k_curves(_four_blobs(), [2, 4, 6], sample_size=50, random_state=0, n_init=1)
    assert curves.ks == [2, 4, 6]
    assert curves.sample_size == 50
    assert {k: c.shape for k, c in curves.centers.items()} == {2: (2, 2), 4: (4, 2), 6: (6, 2)}


def test_rule_prefers_elbow_within_tolerance():
    sel = select_k(
        [2, 3, 4, 5, 6], [100, 60, 20, 17, 15], [0.44, 0.43, 0.41, 0.30, 0.25], sample_size=500
    )
    assert sel.elbow_k == 4
    assert sel.best_silhouette_k == 2
    assert sel.chosen_k == 4
    assert sel.reason == (
        "k = 4: the elbow of the inertia curve, with a silhouette of 0.41 "
        "(best 0.44 at k = 2, within 0.05)"
    )


def test_rule_prefers_silhouette_when_elbow_is_poor():
    sel = select_k(
        [2, 3, 4, 5, 6], [100, 60, 20, 17, 15], [0.60, 0.43, 0.41, 0.30, 0.25], sample_size=500
    )
    assert sel.elbow_k == 4
    assert sel.chosen_k == 2
    assert sel.reason == (
        "k = 2: the best silhouette (0.60); the elbow at k = 4 scores only 0.41, "
        "more than 0.05 below"
    )


def test_rule_tolerance_boundary():
    sil = [0.50, 0.30, 0.50 - SILHOUETTE_TOLERANCE, 0.2]
    sel = select_k([2, 3, 4, 5], [100, 80, 10, 8], sil, sample_size=10)
    assert sel.elbow_k == 4
    assert sel.chosen_k == 4


def test_rule_without_elbow_or_silhouette():
    no_elbow = select_k([2, 3], [10.0, 5.0], [0.3, 0.5], sample_size=10)
    assert no_elbow.elbow_k is None
    assert no_elbow.chosen_k == 3
    assert "no clear elbow" in no_elbow.reason

    no_sil = select_k([2, 3, 4], [100.0, 20.0, 15.0], [math.nan] * 3, sample_size=3)
    assert no_sil.best_silhouette_k is None
    assert no_sil.chosen_k == 3

    neither = select_k([2], [1.0], [math.nan], sample_size=2)
    assert neither.chosen_k == 2
    assert neither.reason.startswith("k = 2: too few customers")


def test_forced_selection_keeps_curves():
    sel = forced_k_selection(
        6, [2, 3, 4, 5], [100, 60, 20, 17], [0.4, 0.5, 0.45, 0.3], sample_size=40
    )
    assert sel.forced is True
    assert sel.chosen_k == 6
    assert sel.reason == "k = 6 was set with --k"
    assert sel.elbow_k == 4
    assert sel.best_silhouette_k == 3
    assert sel.to_dict()["forced"] is True


def test_choose_k_forced_adds_k_to_curves():
    sel = choose_k(_four_blobs(), [2, 3, 4], sample_size=1000, random_state=0, n_init=1, forced_k=7)
    assert sel.forced
    assert sel.chosen_k == 7
    assert sel.ks == [2, 3, 4, 7]
    assert len(sel.silhouette) == 4
