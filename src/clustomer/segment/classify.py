"""Put customers into the segments of a stored run without refitting the clustering.

:class:`SegmentClassifier` learns the segment of each customer from their features with
a :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (missing values are fine:
``mean_days_between_orders`` of one-order customers, the recency of customers who never
bought). When fitted it also measures how often it would be right on customers it has
not seen: the mean accuracy over stratified folds of (a stratified sample of) the data.

Fits on fewer than ``SINGLE_THREAD_ROWS`` (20,000) rows run on one OpenMP thread: on a
busy 2-core machine more threads make a small fit many times slower.

Examples
--------
>>> import numpy as np
>>> X = np.r_[np.arange(100.0), np.arange(500.0, 600.0)].reshape(-1, 1)
>>> y = np.repeat([0, 1], 100)
>>> clf = SegmentClassifier(max_iter=20, cv=2).fit(X, y)
>>> clf.predict([[3.0], [597.0]]).tolist(), clf.cv_accuracy_
([0, 1], 1.0)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.utils import resample
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from clustomer.errors import ClustomerError
from clustomer.segment.choose_k import SINGLE_THREAD_ROWS

__all__ = ["SegmentClassifier", "train_segment_classifier"]


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


def _threads(n_rows: int) -> threadpool_limits:
    """One OpenMP thread below ``SINGLE_THREAD_ROWS`` rows, the default above."""
    return threadpool_limits(limits=1 if n_rows < SINGLE_THREAD_ROWS else None, user_api="openmp")


class SegmentClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted trees from customer features to segment ids.

    Parameters
    ----------
    max_iter : int, default=200
        Boosting iterations (``HistGradientBoostingClassifier(max_iter=...)``; early
        stopping on a validation split is on from 10,000 rows, as scikit-learn does).
    cv : int or None, default=5
        Folds of the stratified cross-validation behind ``cv_accuracy_``; fewer when the
        smallest class has fewer rows; ``None`` skips it.
    cv_sample : int, default=20_000
        The cross-validation runs on a stratified sample of at most this many rows.
    random_state : int, default=0
        Seed of the sample, the folds and the boosting.

    Attributes
    ----------
    model_ : HistGradientBoostingClassifier
        Fitted on all rows.
    classes_ : ndarray
        Segment ids seen in ``fit``.
    n_iter_ : int
        Boosting iterations of ``model_``.
    cv_accuracy_, cv_accuracy_std_ : float
        Mean and standard deviation of the fold accuracies; NaN when skipped (``cv=None``,
        or a class with a single row).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when fitted on a DataFrame with string column names.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 2)) + np.repeat([[0, 0], [6, 6], [0, 6]], 20, axis=0)
    >>> X[::7, 1] = np.nan  # missing values are fine
    >>> clf = SegmentClassifier(max_iter=30, cv=3).fit(X, np.repeat([2, 0, -1], 20))
    >>> clf.classes_.tolist(), clf.predict_proba(X[:1]).shape
    ([-1, 0, 2], (1, 3))
    """

    def __init__(
        self,
        max_iter: int = 200,
        cv: int | None = 5,
        cv_sample: int = 20_000,
        random_state: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.cv = cv
        self.cv_sample = cv_sample
        self.random_state = random_state

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags

    def _boosting(self) -> HistGradientBoostingClassifier:
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter, random_state=self.random_state
        )

    def fit(self, X: ArrayLike, y: ArrayLike) -> SegmentClassifier:
        """Fit the boosting on all rows, then cross-validate it on a sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features; NaN allowed, infinity not.
        y : array-like of shape (n_samples,)
            Segment ids (any hashable labels work).

        Returns
        -------
        self
        """
        _check_int("max_iter", self.max_iter, 1)
        cv = None if self.cv is None else _check_int("cv", self.cv, 2)
        cv_sample = _check_int("cv_sample", self.cv_sample, 2)
        Xv, yv = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan")
        check_classification_targets(yv)
        self.classes_ = np.unique(yv)
        n = Xv.shape[0]
        with _threads(n):
            self.model_ = self._boosting().fit(Xv, yv)
            self.n_iter_ = int(self.model_.n_iter_)
            scores = self._cross_validate(Xv, yv, cv, cv_sample)
        self.cv_accuracy_ = float(np.mean(scores)) if scores else float("nan")
        self.cv_accuracy_std_ = float(np.std(scores)) if scores else float("nan")
        return self

    def _cross_validate(
        self, X: NDArray[np.float64], y: NDArray[Any], cv: int | None, cv_sample: int
    ) -> list[float]:
        if cv is None or self.classes_.size < 2:
            return []
        if X.shape[0] > cv_sample:
            idx = resample(
                np.arange(X.shape[0]),
                n_samples=cv_sample,
                replace=False,
                stratify=y,
                random_state=self.random_state,
            )
            X, y = X[np.sort(idx)], y[np.sort(idx)]
        _, counts = np.unique(y, return_counts=True)
        folds = min(cv, int(counts.min()))
        if folds < 2:
            return []
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        return [
            float(self._boosting().fit(X[tr], y[tr]).score(X[te], y[te]))
            for tr, te in splitter.split(X, y)
        ]

    def predict(self, X: ArrayLike) -> NDArray[Any]:
        """Segment of each row of ``X``."""
        proba = self.predict_proba(X)
        return np.asarray(self.classes_[np.argmax(proba, axis=1)])

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Probability of each segment (columns in ``classes_`` order) for each row."""
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        with _threads(Xv.shape[0]):
            return np.asarray(self.model_.predict_proba(Xv), dtype=np.float64)


def train_segment_classifier(
    features: pd.DataFrame,
    labels: ArrayLike,
    feature_columns: Sequence[str],
    *,
    random_state: int = 0,
    max_iter: int = 200,
    cv: int | None = 5,
    cv_sample: int = 20_000,
) -> SegmentClassifier:
    """Train a :class:`SegmentClassifier` on a feature table and its segment ids.

    The model is fitted on the DataFrame of ``feature_columns`` (as float), so it
    remembers the column names and ``predict`` wants the same columns later. Every row
    counts, ``-1`` (unassigned) included as a class of its own.

    Parameters
    ----------
    features : DataFrame
        One row per customer.
    labels : array-like of int
        Segment of each row.
    feature_columns : sequence of str
        Numeric columns to learn from; missing values are allowed.
    random_state : int, default=0
    max_iter, cv, cv_sample
        See :class:`SegmentClassifier`.

    Returns
    -------
    SegmentClassifier

    Raises
    ------
    ClustomerError
        Missing or non-numeric columns, infinite values, labels that do not fit.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"frequency": [1, 2, 9, 12] * 25,
    ...                   "recency_days": [300.0, None, 3, 10] * 25})
    >>> clf = train_segment_classifier(f, [1, 1, 0, 0] * 25,
    ...                                ["frequency", "recency_days"], max_iter=10, cv=2)
    >>> clf.predict(f.iloc[:4]).tolist(), clf.feature_names_in_.tolist()
    ([1, 1, 0, 0], ['frequency', 'recency_days'])
    """
    cols = list(feature_columns)
    if not cols:
        raise ClustomerError("no feature columns to learn the segments from")
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ClustomerError(f"the customer feature table lacks the columns {', '.join(missing)}")
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ClustomerError(f"these feature columns are not numeric: {', '.join(bad)}")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(features):
        raise ClustomerError(f"got {y.size} segment labels for {len(features)} customers")
    if not np.issubdtype(y.dtype, np.integer):
        raise ClustomerError("segment labels must be whole numbers")
    if len(np.unique(y)) < 2:
        raise ClustomerError("need customers from at least 2 segments to learn the segments")
    X = pd.DataFrame(features[cols].to_numpy(dtype=np.float64, na_value=np.nan), columns=cols)
    if np.isinf(X.to_numpy()).any():
        raise ClustomerError("some feature values are infinite")
    return SegmentClassifier(
        max_iter=max_iter, cv=cv, cv_sample=cv_sample, random_state=random_state
    ).fit(X, y)
