"""The customer segmenter: a scikit-learn compatible k-means with automatic *k*.

Pipeline inside :meth:`CustomerSegmenter.fit`:

1. signed ``log1p`` (``sign(x) * log1p(|x|)``, so refunds and other negatives are fine),
   which tames the long tails of spend and order counts;
2. standardisation (:class:`~sklearn.preprocessing.StandardScaler`);
3. the choice of *k* on a random sample of at most ``sample_size`` customers
   (:mod:`clustomer.segment.choose_k`), unless ``n_clusters`` is given;
4. one k-means on **all** customers, started from the sample's k-means++ centres for the
   chosen *k* (with ``n_init`` restarts on the sample). When the data is larger than the
   sample this final fit runs in float32, which halves the memory traffic;
5. relabelling: segment 0 is the largest, ties broken by centre coordinates. Labels
   (and :meth:`CustomerSegmenter.predict`) are the nearest centre in float64, computed
   row by row, so ``predict(X_train)`` always equals ``labels_``.

k-means on fewer than ``SINGLE_THREAD_ROWS`` (20,000) rows runs on one OpenMP thread:
the per-iteration work is too small to share, and on a busy 2-core machine a second
thread turns milliseconds into seconds.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(30, 1, (20, 3))])
>>> model = CustomerSegmenter(random_state=0).fit(X)
>>> model.n_clusters_, np.bincount(model.labels_).tolist()
(2, [40, 20])
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data
from threadpoolctl import threadpool_limits

from clustomer.errors import ClustomerError
from clustomer.segment.choose_k import SINGLE_THREAD_ROWS
from clustomer.segment.criteria import k_criteria
from clustomer.segment.methods import (
    CRITERIA_BUDGET,
    METHOD_NAMES,
    MINIBATCH_ROWS,
    Method,
    make_method,
    method_fit_labels,
    nearest_center_d2,
)
from clustomer.segment.result import KSelection

__all__ = ["CustomerSegmenter", "segment_customers", "signed_log1p"]

#: Bootstrap resamples for the stability criterion hold this many customers (an m-out-of-n
#: bootstrap: it bounds the cost on big samples; see :mod:`clustomer.segment.criteria`).
BOOT_ROWS = 3_000


def signed_log1p(x: ArrayLike) -> NDArray[np.float64]:
    """Return ``sign(x) * log1p(|x|)``: a log scale that keeps the sign of negatives.

    Parameters
    ----------
    x : array-like

    Returns
    -------
    ndarray of float64, same shape as ``x``

    Examples
    --------
    >>> signed_log1p([-(np.e - 1), 0.0, np.e - 1]).round(6).tolist()
    [-1.0, 0.0, 1.0]
    """
    a = np.asarray(x, dtype=np.float64)
    return np.sign(a) * np.log1p(np.abs(a))


def _has_proba(model: Any) -> bool:
    """Whether the segmenter's method gives membership probabilities."""
    return (
        model.method in METHOD_NAMES
        and model.method != "kmeans"
        and (make_method(model.method).has_proba)
    )


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


class CustomerSegmenter(ClusterMixin, BaseEstimator):
    """k-means on log-scaled, standardised customer features, with *k* chosen for you.

    ``ClusterMixin`` comes before ``BaseEstimator`` as scikit-learn requires
    (``check_mixin_order``).

    Parameters
    ----------
    n_clusters : int or None, default=None
        Number of segments; ``None`` chooses it from ``k_min..k_max`` with the rule in
        :mod:`clustomer.segment.choose_k`. A forced value still gets the k curves.
    k_min, k_max : int, default=2, 10
        Range of candidates for the automatic choice. Both are capped to what the data
        supports (at most ``n_samples - 1`` and the number of distinct customers, at
        least 2).
    sample_size : int, default=10_000
        The k curves (inertia, silhouette) are computed on a random sample of at most
        this many customers; the final k-means uses all of them.
    log_transform : bool, default=True
        Apply the signed ``log1p`` before standardising.
    n_init : int, default=3
        k-means++ restarts for each candidate *k* (on the sample).
    random_state : int, RandomState or None, default=0
        Seeds the sample and k-means; an int makes ``fit`` reproducible.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Segment of each training customer, 0 = largest segment.
    cluster_centers_ : ndarray of shape (n_clusters_, n_features)
        Centres in the scaled space (after log and standardisation).
    n_clusters_ : int
        Number of segments found (``k``, less any segment left empty by duplicates).
    k_selection_ : KSelection
        How ``k`` was chosen, with the curves.
    scaler_ : StandardScaler
        The fitted standardisation.
    inertia_ : float
        Sum of squared distances of the customers to their centre, in the scaled space.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> X = np.vstack([rng.normal(m, 0.5, (25, 2)) for m in (0, 20, 40)])
    >>> model = CustomerSegmenter(random_state=0).fit(X)
    >>> model.n_clusters_, model.k_selection_.chosen_k
    (3, 3)
    >>> model.predict([[0.0, 0.0], [40.0, 40.0]]).shape
    (2,)
    >>> CustomerSegmenter(n_clusters=2).fit(X).k_selection_.forced
    True
    """

    def __init__(
        self,
        n_clusters: int | None = None,
        *,
        k_min: int = 2,
        k_max: int = 10,
        sample_size: int = 10_000,
        log_transform: bool = True,
        n_init: int = 3,
        random_state: int | np.random.RandomState | None = 0,
        method: str = "kmeans",
        n_boot: int = 10,
        n_refs: int = 10,
    ) -> None:
        self.n_clusters = n_clusters
        self.k_min = k_min
        self.k_max = k_max
        self.sample_size = sample_size
        self.log_transform = log_transform
        self.n_init = n_init
        self.random_state = random_state
        self.method = method
        self.n_boot = n_boot
        self.n_refs = n_refs

    def _validated_params(self) -> tuple[int | None, int, int, int, int]:
        n_clusters = (
            None if self.n_clusters is None else _check_int("n_clusters", self.n_clusters, 1)
        )
        k_min = _check_int("k_min", self.k_min, 2)
        k_max = _check_int("k_max", self.k_max, 2)
        if k_max < k_min:
            raise ValueError(f"k_max ({k_max}) must not be smaller than k_min ({k_min})")
        sample_size = _check_int("sample_size", self.sample_size, 2)
        n_init = _check_int("n_init", self.n_init, 1)
        _check_int("n_boot", self.n_boot, 0)
        _check_int("n_refs", self.n_refs, 1)
        if not isinstance(self.log_transform, bool | np.bool_):
            raise TypeError(
                f"log_transform must be a bool, got {type(self.log_transform).__name__}"
            )
        if self.method not in METHOD_NAMES:
            raise ValueError(
                f"method must be one of {', '.join(METHOD_NAMES)}; got {self.method!r}"
            )
        return n_clusters, k_min, k_max, sample_size, n_init

    def _to_scaled(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        Z = signed_log1p(X) if self.log_transform else X
        return np.asarray(self.scaler_.transform(Z), dtype=np.float64)

    def fit(
        self, X: ArrayLike, y: object = None, categories: ArrayLike | None = None
    ) -> CustomerSegmenter:
        """Choose *k* (unless given, or found by a density method) and fit the segments.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One row per customer, numeric features, no missing values; at least 2 rows.
        y : ignored
            Present for scikit-learn API consistency.
        categories : array-like of shape (n_samples,), optional
            A categorical feature (e.g. country) for ``method="kprototypes"``; any
            hashable values.

        Returns
        -------
        self : CustomerSegmenter

        Examples
        --------
        >>> X = [[1, 10.0], [2, 12.0], [1, 11.0], [40, 900.0], [45, 1000.0]]
        >>> CustomerSegmenter().fit(X).labels_.tolist()
        [0, 0, 0, 1, 1]
        """
        n_clusters, k_min, k_max, sample_size, n_init = self._validated_params()
        Xv = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        n_samples = Xv.shape[0]
        if n_clusters is not None and n_clusters > n_samples:
            raise ValueError(f"n_clusters={n_clusters} must be <= n_samples={n_samples}")
        rng = check_random_state(self.random_state)
        codes = self._category_codes(categories, n_samples, fit=True)

        raw = signed_log1p(Xv) if self.log_transform else Xv
        self.scaler_ = StandardScaler().fit(raw)
        Z = np.asarray(self.scaler_.transform(raw), dtype=np.float64)
        # Fit on the rows in a canonical order (sorted by their values), so that the same
        # customers give the same segments whatever order they arrive in: k-means++
        # seeding and the k-selection sample pick rows by position.
        canon = np.lexsort(Z.T[::-1]) if codes is None else np.lexsort((*Z.T[::-1], codes))
        Zc = Z[canon]
        method = self.method
        if method == "kmeans" and n_samples >= MINIBATCH_ROWS:
            method = "minibatch"
        self.method_ = method
        self.method_model_: Method | None = None

        if method != "kmeans" and not make_method(method).needs_k:
            model = make_method(method).fit(Zc, None, rng, None)
            self.method_model_ = model
            self._finish(Z, model.fit_labels_[np.argsort(canon)], model.centers_)
            self.k_selection_ = self._density_selection(method, sample_size)
            return self

        candidates = list(range(k_min, k_max + 1))
        if n_clusters is not None and n_clusters not in candidates:
            candidates.append(n_clusters)
        budget = CRITERIA_BUDGET.get(method, {})
        crit = k_criteria(
            Zc,
            sorted(candidates),
            method_fit_labels(method, n_init),
            sample_size=min(sample_size, budget.get("sample_size", sample_size)),
            n_boot=min(self.n_boot, budget.get("n_boot", self.n_boot)),
            n_refs=min(self.n_refs, budget.get("n_refs", self.n_refs)),
            random_state=rng,
            boot_size=budget.get("boot_size", BOOT_ROWS),
            forced_k=n_clusters,
        )
        selection = KSelection.from_criteria(crit)
        k = max(selection.chosen_k, 1)
        self.k_selection_ = selection

        if method not in ("kmeans", "minibatch"):
            model = make_method(method).fit(Zc, k, rng, None if codes is None else codes[canon])
            self.method_model_ = model
            self._finish(Z, model.fit_labels_[np.argsort(canon)], model.centers_)
            return self

        start = crit.centers.get(k)
        km: KMeans
        threads = 1 if n_samples < SINGLE_THREAD_ROWS else None
        with threadpool_limits(limits=threads, user_api="openmp"), warnings.catch_warnings():
            # Fewer distinct customers than k: the empty segments are dropped below.
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "minibatch":
                mb = MiniBatchKMeans(
                    n_clusters=k,
                    init="k-means++" if start is None else start.astype(np.float32),
                    n_init=n_init if start is None else 1,
                    batch_size=8192,
                    random_state=rng,
                )
                km = mb.fit(Zc.astype(np.float32))
            elif start is None:
                km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=rng)
                km.fit(Zc)
            elif crit.sample_size >= n_samples:
                # The sample was all the data: refining the sample fit is (nearly) free.
                km = KMeans(n_clusters=k, init=start, n_init=1, random_state=rng)
                km.fit(Zc)
            else:
                km = KMeans(n_clusters=k, init=start.astype(np.float32), n_init=1, random_state=rng)
                km.fit(Zc.astype(np.float32))
        centers = np.asarray(km.cluster_centers_, dtype=np.float64)
        labels, _ = nearest_center_d2(Z, centers)
        self._finish(Z, labels, centers)
        return self

    def _category_codes(
        self, categories: ArrayLike | None, n: int, *, fit: bool
    ) -> NDArray[np.intp] | None:
        """Integer codes of the categorical feature (unseen values get their own code)."""
        if categories is None:
            if fit and self.method == "kprototypes":
                raise ValueError("method='kprototypes' needs categories (e.g. each country)")
            if not fit and getattr(self, "categories_", None) is not None:
                raise ValueError("this model was fitted with categories; pass them to predict")
            if fit:
                self.categories_ = None
            return None
        values = np.asarray(categories, dtype=object).astype(str)
        if values.shape != (n,):
            raise ValueError(f"categories must have one value per row ({n}); got {values.shape}")
        if fit:
            self.categories_ = np.unique(values)
        known = self.categories_ if self.categories_ is not None else np.unique(values)
        pos = np.searchsorted(known, values)
        pos = np.minimum(pos, len(known) - 1)
        found = known[pos] == values
        return np.where(found, pos, len(known)).astype(np.intp)

    def _finish(
        self, Z: NDArray[np.float64], labels: NDArray[np.intp], centers: NDArray[np.float64]
    ) -> None:
        """Drop empty segments and number them: 0 = largest, ties by centre coordinates."""
        labels = np.asarray(labels, dtype=np.intp)
        counts = np.bincount(labels[labels >= 0], minlength=centers.shape[0])
        keep = np.flatnonzero(counts > 0)
        if keep.size == 0:
            raise ClustomerError(
                f"{self.method_} found no dense group: every customer is noise with these "
                f"{Z.shape[1]} features; try fewer features (--features rfm) or another "
                "method (--method kmeans)"
            )
        order = keep[np.lexsort((*centers[keep].T[::-1], -counts[keep]))]
        mapping = np.full(centers.shape[0], -1, dtype=np.intp)
        mapping[order] = np.arange(order.size)
        self.label_map_ = mapping
        self.cluster_centers_ = centers[order]
        if self.method_model_ is None:  # k-means: labels are the nearest centre, exactly
            new_labels, d2 = nearest_center_d2(Z, self.cluster_centers_)
        else:
            new_labels = np.where(labels >= 0, mapping[np.maximum(labels, 0)], -1)
            assigned = new_labels >= 0
            diff = Z[assigned] - self.cluster_centers_[new_labels[assigned]]
            d2 = np.einsum("ij,ij->i", diff, diff)
        self.labels_ = np.asarray(new_labels, dtype=np.intp)
        self.n_clusters_ = int(order.size)
        self.inertia_ = float(d2.sum())

    def _density_selection(self, method: str, sample_size: int) -> KSelection:
        k = self.n_clusters_
        noise = float(np.mean(self.labels_ < 0))
        reason = (
            f"{method.upper()} found {k} dense segment{'s' if k != 1 else ''} by itself; "
            f"{noise:.0%} of customers fit none and are Unassigned"
        )
        return KSelection(
            ks=[k],
            inertia=[self.inertia_],
            silhouette=[float("nan")],
            elbow_k=None,
            best_silhouette_k=None,
            chosen_k=k,
            reason=reason,
            sample_size=min(sample_size, len(self.labels_)),
        )

    def scale(self, X: ArrayLike) -> NDArray[np.float64]:
        """Map customers into the clustering space (signed log1p, then standardise).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)

        Examples
        --------
        >>> model = CustomerSegmenter().fit([[1.0], [2.0], [3.0], [50.0]])
        >>> model.scale([[1.0], [50.0]]).shape
        (2, 1)
        """
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=np.float64, reset=False)
        return self._to_scaled(Xv)

    def predict(self, X: ArrayLike, categories: ArrayLike | None = None) -> NDArray[np.intp]:
        """Assign customers to the nearest fitted segment centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of int, shape (n_samples,)

        Examples
        --------
        >>> X = [[1, 10.0], [2, 12.0], [1, 11.0], [40, 900.0], [45, 1000.0]]
        >>> CustomerSegmenter().fit(X).predict([[50, 800.0], [1, 9.0]]).tolist()
        [1, 0]
        """
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=np.float64, reset=False)
        Z = self._to_scaled(Xv)
        if getattr(self, "method_model_", None) is None:
            labels, _ = nearest_center_d2(Z, self.cluster_centers_)
            return labels
        codes = self._category_codes(categories, Z.shape[0], fit=False)
        assert self.method_model_ is not None
        raw = self.method_model_.assign(Z, codes)
        return np.where(raw >= 0, self.label_map_[np.maximum(raw, 0)], -1).astype(np.intp)

    @available_if(_has_proba)
    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Membership probabilities per segment (methods with probabilities: ``gmm``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_clusters_)

        Only methods with probabilities have it (``hasattr(model, "predict_proba")``).

        Examples
        --------
        >>> X = [[1, 10.0], [2, 12.0], [1, 11.0], [40, 900.0], [45, 1000.0], [42, 950.0]]
        >>> m = CustomerSegmenter(n_clusters=2, method="gmm").fit(X)
        >>> m.predict_proba(X).round(2).sum(axis=1).tolist()
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
        """
        check_is_fitted(self)
        Xv = validate_data(self, X, dtype=np.float64, reset=False)
        model = self.method_model_
        assert model is not None
        proba = model.proba(self._to_scaled(Xv))
        assert proba is not None
        keep = self.label_map_ >= 0
        out = np.zeros((proba.shape[0], self.n_clusters_))
        out[:, self.label_map_[keep]] = proba[:, keep]
        total = out.sum(axis=1, keepdims=True)
        return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def segment_customers(X: ArrayLike, **params: Any) -> tuple[NDArray[np.intp], CustomerSegmenter]:
    """Fit a :class:`CustomerSegmenter` and return ``(labels, fitted_model)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    **params
        Passed to :class:`CustomerSegmenter`.

    Returns
    -------
    labels : ndarray of int, shape (n_samples,)
    model : CustomerSegmenter

    Examples
    --------
    >>> labels, model = segment_customers([[1.0], [1.5], [2.0], [90.0], [95.0]], n_clusters=2)
    >>> labels.tolist(), model.n_clusters_
    ([0, 0, 0, 1, 1], 2)
    """
    model = CustomerSegmenter(**params).fit(X)
    return model.labels_, model
