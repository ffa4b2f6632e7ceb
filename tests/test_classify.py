"""SegmentClassifier: scikit-learn compatibility, cross-validated accuracy, the sample."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import clustomer
from clustomer.errors import ClustomerError
from clustomer.segment.classify import SegmentClassifier, train_segment_classifier
from clustomer.segment.result import SegmentationResult
from clustomer.segment.run import run_segmentation


# Small max_iter/cv keep the ~50 checks fast; every check runs and none is expected to fail.
@parametrize_with_checks([SegmentClassifier(max_iter=10, cv=2)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _separable(n_per: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = {0: (5.0, 10.0), 1: (300.0, 1.0), 2: (60.0, 3.0)}
    parts, labels = [], []
    for seg, (rec, freq) in centres.items():
        parts.append(
            pd.DataFrame(
                {
                    "recency_days": rec + rng.uniform(0, 20, n_per),
                    "frequency": np.maximum(1, freq + rng.integers(-1, 2, n_per)),
                    "mean_days_between_orders": rng.uniform(10, 90, n_per),
                }
            )
        )
        labels += [seg] * n_per
    f = pd.concat(parts, ignore_index=True)
    f.loc[f["frequency"] == 1, "mean_days_between_orders"] = np.nan
    return f, np.asarray(labels)


def test_cv_accuracy_on_separable_data_is_near_one():
    f, y = _separable()
    clf = train_segment_classifier(
        f, y, ["recency_days", "frequency", "mean_days_between_orders"], max_iter=50
    )
    assert f["mean_days_between_orders"].isna().sum() > 10  # NaN really present
    assert clf.cv_accuracy_ >= 0.98
    assert 0 <= clf.cv_accuracy_std_ <= 0.05
    assert clf.classes_.tolist() == [0, 1, 2]
    assert (clf.predict(f) == y).mean() == 1.0
    assert isinstance(clf.model_, clustomer.segment.classify.HistGradientBoostingClassifier)


def test_cv_accuracy_on_random_labels_is_near_chance():
    # The cross-validation really holds customers out: on labels unrelated to the
    # features it must not report the (near perfect) training accuracy.
    f, _ = _separable()
    y = np.random.default_rng(1).integers(0, 3, len(f))
    cols = ["recency_days", "frequency"]
    clf = train_segment_classifier(f, y, cols, max_iter=50)
    assert clf.cv_accuracy_ < 0.55
    assert (clf.predict(f[cols]) == y).mean() > 0.6


def test_cv_uses_a_stratified_sample_and_fewer_folds_for_small_classes():
    f, y = _separable(n_per=40)
    y = y.copy()
    y[:3] = 9  # a class of 3 rows: at most 3 folds
    clf = SegmentClassifier(max_iter=10, cv=5, cv_sample=60).fit(f[["recency_days"]], y)
    assert np.isfinite(clf.cv_accuracy_)
    y[:3] = [9, 8, 7]  # classes of 1 row: no stratified folds possible
    clf = SegmentClassifier(max_iter=10, cv=5).fit(f[["recency_days"]], y)
    assert np.isnan(clf.cv_accuracy_) and np.isnan(clf.cv_accuracy_std_)
    assert clf.predict(f[["recency_days"]].iloc[40:]).tolist() == y[40:].tolist()


def test_cv_none_skips_cross_validation_and_fit_is_reproducible():
    f, y = _separable()
    cols = ["recency_days", "frequency"]
    a = SegmentClassifier(max_iter=20, cv=None).fit(f[cols], y)
    assert np.isnan(a.cv_accuracy_)
    b = pickle.loads(pickle.dumps(SegmentClassifier(max_iter=20, cv=None).fit(f[cols], y)))
    np.testing.assert_array_equal(a.predict_proba(f[cols]), b.predict_proba(f[cols]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_columns": ["recency_days", "nope", "gone"]}, "lacks the columns nope, gone"),
        ({"feature_columns": []}, "no feature columns"),
        ({"feature_columns": ["name"]}, "not numeric: name"),
        ({"labels": [0, 1]}, "got 2 segment labels for 180 customers"),
        ({"labels": np.zeros(180, dtype=int)}, "at least 2 segments"),
        ({"labels": np.repeat([0.5, 1.5], 90)}, "whole numbers"),
    ],
)
def test_train_errors_name_the_problem(kwargs, message):
    f, y = _separable()
    f["name"] = "x"
    args = {"features": f, "labels": y, "feature_columns": ["recency_days"], **kwargs}
    with pytest.raises(ClustomerError, match=message):
        train_segment_classifier(**args)


def test_train_rejects_infinite_values():
    f, y = _separable()
    f.loc[3, "recency_days"] = np.inf
    with pytest.raises(ClustomerError, match="infinite"):
        train_segment_classifier(f, y, ["recency_days"])


@pytest.fixture(scope="module")
def sample_run() -> Iterator[tuple[pd.DataFrame, SegmentationResult]]:
    with clustomer.Workspace(":memory:") as ws:
        ws.import_file(clustomer.sample_path())
        feats = ws.features()
    yield feats, run_segmentation(feats, n_clusters=5)


@pytest.mark.slow
def test_sample_classifier_reproduces_the_segments(sample_run):
    feats, res = sample_run
    labels = res.assignments["segment_id"].to_numpy()
    assert (labels == -1).any()  # returns-only customers are a class of their own
    cols = [*res.feature_columns, "mean_days_between_orders"]  # NaN for one-order customers
    clf = train_segment_classifier(feats, labels, cols, max_iter=100, cv=3)
    agree = float((clf.predict(feats[cols]) == labels).mean())
    assert agree >= 0.95
    assert 0.9 <= clf.cv_accuracy_ <= agree
    assert clf.classes_.tolist() == sorted(set(labels.tolist()))
    proba = clf.predict_proba(feats[cols])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
