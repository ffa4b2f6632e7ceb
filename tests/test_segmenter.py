"""CustomerSegmenter: scikit-learn compatibility, reproducibility, k handling, edge cases."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import clustomer.segment.segmenter as segmenter_module
from clustomer.segment.segmenter import CustomerSegmenter, segment_customers, signed_log1p


def _blobs(
    centres: list[list[float]], n_per: int | list[int], seed: int = 0, spread: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = [n_per] * len(centres) if isinstance(n_per, int) else n_per
    X = np.vstack(
        [
            np.asarray(c) + rng.normal(0, spread, (n, len(c)))
            for c, n in zip(centres, sizes, strict=True)
        ]
    )
    y = np.repeat(np.arange(len(centres)), sizes)
    return X, y


# Every check runs and passes; none is marked as an expected failure. The one check that
# pytest reports as skipped here is check_array_api_input: it needs SCIPY_ARRAY_API=1
# before scipy is imported, so test_array_api_check_in_subprocess runs it separately.
@parametrize_with_checks(
    [CustomerSegmenter(), CustomerSegmenter(n_clusters=3, log_transform=False, n_init=1)]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_array_api_check_in_subprocess():
    src = Path(segmenter_module.__file__).resolve().parents[2]
    code = textwrap.dedent(
        """
        from sklearn.utils.estimator_checks import check_estimator
        from clustomer.segment.segmenter import CustomerSegmenter
        results = check_estimator(CustomerSegmenter(), on_fail=None)
        api = [r for r in results if r["check_name"] == "check_array_api_input"]
        assert api, "check_array_api_input did not run"
        bad = [(r["check_name"], r["status"], repr(r["exception"])) for r in results
               if r["status"] != "passed"]
        assert not bad, bad
        print("ok", len(results))
        """
    )
    env = dict(os.environ)
    env["SCIPY_ARRAY_API"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("ok")


def test_signed_log1p_keeps_sign_and_is_odd():
    x = np.array([-100.0, -1.0, 0.0, 1.0, 100.0])
    out = signed_log1p(x)
    np.testing.assert_allclose(out, [-np.log(101), -np.log(2), 0.0, np.log(2), np.log(101)])
    np.testing.assert_array_equal(signed_log1p(-x), -out)


def test_four_blobs_auto_k_and_labels_by_size():
    X, y = _blobs([[0, 0], [8, 0], [0, 8], [8, 8]], [50, 40, 30, 20], spread=0.5)
    X = np.exp(X)  # log1p undoes this: the segmenter sees well separated blobs
    model = CustomerSegmenter(random_state=0).fit(X)
    assert model.n_clusters_ == 4
    assert model.k_selection_.chosen_k == 4
    assert not model.k_selection_.forced
    # segment 0 is the largest, then decreasing size
    assert np.bincount(model.labels_).tolist() == [50, 40, 30, 20]
    # each true blob maps to exactly one segment
    for blob in range(4):
        assert len(set(model.labels_[y == blob])) == 1
    assert model.cluster_centers_.shape == (4, 2)
    assert model.n_features_in_ == 2
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.inertia_ > 0


def test_reproducible_for_a_seed():
    X, _ = _blobs([[0, 0, 0], [3, 3, 0], [0, 3, 3]], 60, spread=1.2, seed=3)
    a = CustomerSegmenter(random_state=7).fit(X)
    b = CustomerSegmenter(random_state=7).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.cluster_centers_, b.cluster_centers_)
    assert a.k_selection_ == b.k_selection_
    assert a.inertia_ == b.inertia_


def test_forced_k_keeps_curves():
    X, _ = _blobs([[0, 0], [8, 0], [0, 8], [8, 8]], 30)
    model = CustomerSegmenter(n_clusters=6, random_state=0).fit(X)
    sel = model.k_selection_
    assert model.n_clusters_ == 6
    assert sel.forced is True
    assert sel.chosen_k == 6
    assert sel.reason.startswith("k = 6 as asked; the rule would pick 4 (the highest stability")
    assert sel.ks == list(range(2, 11))
    assert len(sel.inertia) == len(sel.silhouette) == 9
    assert sel.best_silhouette_k == 4


def test_forced_k_outside_candidate_range():
    X, _ = _blobs([[0, 0], [8, 0], [0, 8], [8, 8]], 30)
    model = CustomerSegmenter(n_clusters=12, k_max=5, random_state=0).fit(X)
    assert model.n_clusters_ == 12
    assert model.k_selection_.ks == [2, 3, 4, 5, 12]
    assert len(set(model.labels_)) == 12


def test_sampled_path_matches_predict_and_finds_blobs():
    # More customers than sample_size: k is chosen on a sample, the final fit is float32.
    X, y = _blobs([[0, 0], [6, 0], [0, 6]], [300, 200, 100])
    model = CustomerSegmenter(sample_size=80, random_state=0, log_transform=False).fit(X)
    assert model.k_selection_.sample_size == 80
    assert model.n_clusters_ == 3
    assert np.bincount(model.labels_).tolist() == [300, 200, 100]
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert model.cluster_centers_.dtype == np.float64


def test_negative_values_are_fine():
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(0, 500, 100), rng.uniform(0, 10, 100)])
    X[:10, 0] = -rng.uniform(100, 1000, 10)
    model = CustomerSegmenter(random_state=0).fit(X)
    assert np.isfinite(model.cluster_centers_).all()
    assert model.labels_.min() == 0
    assert model.labels_.max() == model.n_clusters_ - 1


@pytest.mark.parametrize("n", [2, 3, 4])
def test_tiny_inputs(n):
    X = np.arange(n * 2, dtype=float).reshape(n, 2) ** 2
    model = CustomerSegmenter().fit(X)
    assert model.labels_.shape == (n,)
    assert model.n_clusters_ == 2
    assert model.k_selection_.ks == [2] if n <= 3 else [2, 3]


def test_identical_customers_give_one_segment_without_warnings():
    X = np.ones((20, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = CustomerSegmenter().fit(X)
        forced = CustomerSegmenter(n_clusters=3).fit(np.r_[np.ones((10, 2)), np.zeros((10, 2))])
    assert model.n_clusters_ == 1
    assert model.k_selection_.chosen_k == 1
    assert set(model.labels_) == {0}
    # asking for 3 segments of 2 distinct customer profiles leaves 2 non-empty segments
    assert forced.n_clusters_ == 2
    assert np.bincount(forced.labels_).tolist() == [10, 10]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"k_min": 5, "k_max": 3}, ValueError),
        ({"k_min": 1}, ValueError),
        ({"n_clusters": 0}, ValueError),
        ({"n_clusters": 2.5}, TypeError),
        ({"n_init": 0}, ValueError),
        ({"sample_size": 1}, ValueError),
        ({"log_transform": "yes"}, TypeError),
        ({"n_clusters": 50}, ValueError),
    ],
)
def test_invalid_params(params, error):
    X = np.random.default_rng(0).uniform(size=(20, 2))
    with pytest.raises(error):
        CustomerSegmenter(**params).fit(X)


def test_segment_customers_twin():
    X, _ = _blobs([[0, 0], [9, 9]], [15, 25])
    labels, model = segment_customers(X, random_state=1)
    assert isinstance(model, CustomerSegmenter)
    np.testing.assert_array_equal(labels, model.labels_)
    assert np.bincount(labels).tolist() == [25, 15]


def test_tie_in_size_broken_by_centre_coordinates():
    X, _ = _blobs([[9, 9], [0, 0]], [20, 20], spread=0.1)
    model = CustomerSegmenter(n_clusters=2, log_transform=False).fit(X)
    # equal sizes: the segment whose centre has the smaller first coordinate comes first
    assert model.cluster_centers_[0, 0] < model.cluster_centers_[1, 0]
    assert model.labels_[20] == 0
    assert model.labels_[0] == 1
