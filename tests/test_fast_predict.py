"""The plain-array twins of the segment classifier and the centroid segmenter."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier

from clustomer.segment.classify import SegmentClassifier
from clustomer.segment.fast_predict import (
    BoostingRows,
    compile_classifier,
    compile_segmenter,
)
from clustomer.segment.segmenter import CustomerSegmenter


@pytest.mark.parametrize("classes", [2, 3, 6])
@pytest.mark.parametrize("nan_share", [0.0, 0.1])
def test_boosting_rows_are_predict_proba(classes: int, nan_share: float) -> None:
    rng = np.random.default_rng(classes)
    X = rng.normal(size=(600, 4)) * [1, 10, 100, 0.01]
    y = np.digitize(
        X[:, 0] + X[:, 1] / 10 + rng.normal(0, 0.3, 600), np.linspace(-1, 1, classes - 1)
    )
    X[rng.random(X.shape) < nan_share] = np.nan  # missing values take the learned side
    hgb = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(X, y)
    fast = BoostingRows(hgb)
    rows = np.vstack([X[:200], rng.normal(size=(50, 4)) * 50])  # and far outside the data
    want = hgb.predict_proba(rows)
    got = fast.predict_proba(rows)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    # a row exactly on a split goes left, as scikit-learn's does
    split = int(np.flatnonzero(np.isfinite(fast.threshold))[0])  # a real split
    on = X[0].copy()
    on[fast.feature[split]] = fast.threshold[split]
    np.testing.assert_allclose(
        fast.predict_proba(on[None]), hgb.predict_proba(on[None]), atol=1e-12
    )


def test_the_segment_classifier_compiles() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    clf = SegmentClassifier(max_iter=30, cv=None).fit(X, (X[:, 0] > 0).astype(int) + 3)
    fast = compile_classifier(clf)
    assert fast is not None
    np.testing.assert_allclose(fast.predict_proba(X[:20]), clf.predict_proba(X[:20]), atol=1e-12)
    assert compile_classifier(None) is None and compile_classifier(object()) is None


@pytest.mark.parametrize("log_transform", [True, False])
@pytest.mark.parametrize("method", ["kmeans", "minibatch"])
def test_centroid_rows_are_the_segmenters_predict(log_transform: bool, method: str) -> None:
    rng = np.random.default_rng(3)
    X = np.abs(rng.lognormal(2, 1, size=(400, 3))) * [1, 50, 3]
    seg = CustomerSegmenter(
        n_clusters=4, log_transform=log_transform, method=method, random_state=0
    ).fit(X)
    fast = compile_segmenter(seg)
    assert fast is not None
    rows = np.vstack([X, rng.lognormal(3, 2, size=(100, 3)), -X[:5]])
    assert fast.predict(rows).tolist() == seg.predict(rows).tolist()


@pytest.mark.parametrize("method", ["ward", "gmm"])
def test_other_methods_keep_the_estimator(method: str) -> None:
    X = np.random.default_rng(0).normal(size=(200, 2))
    assert compile_segmenter(CustomerSegmenter(n_clusters=2, method=method).fit(X)) is None
