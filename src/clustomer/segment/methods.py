"""The clustering methods behind ``--method``, all behind one small interface.

Every method works on customers already in the clustering space (signed ``log1p``, then
standardised; see :class:`~clustomer.segment.segmenter.CustomerSegmenter`), is fitted
on at most ``fit_rows`` of them (a random sample when there are more), and then assigns
**every** customer with :meth:`Method.assign`. The labels it returns are ``0..k-1``, or
``-1`` for a customer the method leaves out (noise of the density methods), which the
segment tables call "Unassigned".

==============  ==========================================================================
method          what it does
==============  ==========================================================================
kmeans          k-means++ (the default); implemented in the segmenter itself
minibatch       mini-batch k-means on all customers (chosen by itself from
                :data:`MINIBATCH_ROWS` customers on, when ``kmeans`` was asked for)
ward            agglomerative Ward on a sample of :data:`WARD_ROWS`; everyone else
                goes to the nearest centre (mean of a sample segment)
gmm             Gaussian mixture (full covariances); gives membership probabilities
hdbscan         scikit-learn's HDBSCAN on a sample of :data:`DENSITY_ROWS`; the rest
                take the majority label of their 5 nearest sampled customers; noise is -1
dbscan          DBSCAN with ``eps`` read off the knee of the sorted k-distance curve
                (Ester et al. 1996, §4.2); the rest join the segment of the nearest core
                customer within ``eps``, else -1
kprototypes     k-prototypes (Huang 1998) on the numeric features plus the customer's
                country, via the ``kmodes`` package, fitted on a sample of
                :data:`KPROTOTYPES_ROWS` (it is pure Python); everyone is then assigned by
                the same cost, vectorised here
==============  ==========================================================================

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Z = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(4, 0.3, (50, 2))])
>>> m = make_method("ward").fit(Z, 2, np.random.RandomState(0))
>>> sorted(np.bincount(m.assign(Z)).tolist())
[50, 50]
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import DBSCAN, HDBSCAN, AgglomerativeClustering, MiniBatchKMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_limits

from clustomer.errors import ClustomerError

if TYPE_CHECKING:
    from clustomer.segment.criteria import FitLabels

__all__ = [
    "CRITERIA_BUDGET",
    "DENSITY_ROWS",
    "KPROTOTYPES_ROWS",
    "METHODS",
    "MINIBATCH_ROWS",
    "WARD_ROWS",
    "Method",
    "make_method",
    "method_fit_labels",
    "nearest_center",
    "nearest_center_d2",
]

#: From this many customers on, ``kmeans`` runs as mini-batch k-means. Measured on 2
#: cores, 7 features, both started from the sample's centres: 4M customers, full k-means
#: 1.65 s and mini-batch 3.13 s; 8M customers, 2.91 s and 1.36 s (``docs/methods.md``).
MINIBATCH_ROWS = 6_000_000
#: Ward keeps a full dendrogram: memory and time grow with n²; fit on this many at most.
WARD_ROWS = 5_000
#: HDBSCAN and DBSCAN are fitted on at most this many customers.
DENSITY_ROWS = 10_000
#: k-prototypes (pure Python in ``kmodes``) is fitted on at most this many customers.
KPROTOTYPES_ROWS = 2_000
#: GMM's EM is fitted on at most this many customers.
GMM_ROWS = 50_000

_CHUNK = 16_384


def nearest_center_d2(
    Z: NDArray[np.float64], centers: NDArray[np.float64]
) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
    """Index of and squared distance to the nearest centre, row by row.

    Computed by explicit differences (not the ``|x|^2 - 2xc + |c|^2`` expansion), so a
    row's result does not depend on which other rows are in the batch.

    >>> labels, d2 = nearest_center_d2(np.array([[0.0], [9.0]]), np.array([[1.0], [10.0]]))
    >>> labels.tolist(), d2.tolist()
    ([0, 1], [1.0, 1.0])
    """
    n = Z.shape[0]
    labels = np.empty(n, dtype=np.intp)
    d2 = np.empty(n, dtype=np.float64)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        diff = Z[start:stop, None, :] - centers[None, :, :]
        dist = np.einsum("ijk,ijk->ij", diff, diff)
        lab = dist.argmin(axis=1)
        labels[start:stop] = lab
        d2[start:stop] = dist[np.arange(stop - start), lab]
    return labels, d2


def nearest_center(Z: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.intp]:
    """Index of the nearest centre for each row (see :func:`nearest_center_d2`).

    >>> nearest_center(np.array([[0.0], [9.0]]), np.array([[1.0], [10.0]])).tolist()
    [0, 1]
    """
    return nearest_center_d2(Z, centers)[0]


def _sample(n: int, limit: int, rng: np.random.RandomState) -> NDArray[np.intp]:
    if n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def _group_means(Z: NDArray[np.float64], labels: NDArray[np.intp]) -> NDArray[np.float64]:
    k = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
    centers = np.zeros((k, Z.shape[1]))
    for j in range(k):
        members = Z[labels == j]
        if len(members):
            centers[j] = members.mean(axis=0)
    return centers


class Method:
    """A clustering method: ``fit`` on (a sample of) the customers, ``assign`` everyone.

    Attributes set by ``fit``: ``centers_`` (one row per segment, in the clustering
    space; for density methods the mean of the segment's sampled members) and
    ``fit_labels_`` (labels of the rows ``fit`` saw; -1 for noise).
    """

    name = ""
    #: whether the method needs the number of segments (else it finds it)
    needs_k = True
    #: whether the method gives membership probabilities
    has_proba = False
    #: whether the method uses a categorical column
    uses_categories = False

    centers_: NDArray[np.float64]
    fit_labels_: NDArray[np.intp]

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        raise NotImplementedError

    def assign(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.intp]:
        """Segment of each row: the nearest centre (methods override this)."""
        return nearest_center(Z, self.centers_)

    def proba(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.float64] | None:
        """Membership probabilities, one column per segment (None if the method has none)."""
        return None


class MiniBatchMethod(Method):
    """Mini-batch k-means (Sculley 2010) on every customer."""

    name = "minibatch"

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        assert k is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = MiniBatchKMeans(
                n_clusters=k, batch_size=4096, n_init=3, random_state=rng, max_no_improvement=10
            ).fit(Z)
        self.centers_ = np.asarray(km.cluster_centers_, dtype=np.float64)
        self.fit_labels_ = nearest_center(Z, self.centers_)
        return self


class WardMethod(Method):
    """Agglomerative Ward on a sample; the rest go to the nearest sample-segment mean."""

    name = "ward"

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        assert k is not None
        idx = _sample(Z.shape[0], WARD_ROWS, rng)
        labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(Z[idx])
        self.centers_ = _group_means(Z[idx], labels)
        self.fit_labels_ = nearest_center(Z, self.centers_)
        return self


class GMMMethod(Method):
    """Gaussian mixture with full covariances (EM on a sample of :data:`GMM_ROWS`)."""

    name = "gmm"
    has_proba = True

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        assert k is not None
        idx = _sample(Z.shape[0], GMM_ROWS, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.model_ = GaussianMixture(
                n_components=k,
                covariance_type="full",
                reg_covar=1e-3,  # discrete features (order counts) make spiky components
                n_init=2,
                random_state=rng,
            ).fit(Z[idx])
        self.centers_ = np.asarray(self.model_.means_, dtype=np.float64)
        self.fit_labels_ = self.assign(Z)
        return self

    def assign(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.intp]:
        return np.asarray(self.model_.predict(Z), dtype=np.intp)

    def proba(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.float64] | None:
        return np.asarray(self.model_.predict_proba(Z), dtype=np.float64)


class _DensityMethod(Method):
    needs_k = False

    def _finish(self, Zs: NDArray[np.float64], labels: NDArray[np.intp]) -> None:
        self.sample_ = Zs
        self.sample_labels_ = np.asarray(labels, dtype=np.intp)
        self.centers_ = _group_means(Zs, self.sample_labels_)


class HDBSCANMethod(_DensityMethod):
    """HDBSCAN (Campello, Moulavi & Sander 2013) on a sample; kNN vote for the rest."""

    name = "hdbscan"
    neighbours = 5

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        idx = _sample(Z.shape[0], DENSITY_ROWS, rng)
        Zs = Z[idx]
        min_size = max(10, len(idx) // 100)  # a segment is at least 1% of the sample
        # min_samples=5: the default (= min_cluster_size) left 70% of the bundled sample's
        # customers as noise; 5 leaves 20% (measured on the sample, scaled features)
        labels = HDBSCAN(min_cluster_size=min_size, min_samples=5, copy=True).fit_predict(Zs)
        self._finish(Zs, labels)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.neighbours, len(idx))).fit(Zs)
        self.fit_labels_ = self.assign(Z)
        return self

    def assign(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.intp]:
        _, nbr = self.nn_.kneighbors(Z)
        votes = self.sample_labels_[nbr] + 1  # -1 (noise) -> 0
        k = int(self.sample_labels_.max()) + 2
        counts = np.zeros((Z.shape[0], max(k, 1)), dtype=np.int64)
        for col in range(votes.shape[1]):
            np.add.at(counts, (np.arange(Z.shape[0]), votes[:, col]), 1)
        return np.asarray(counts.argmax(axis=1) - 1, dtype=np.intp)


class DBSCANMethod(_DensityMethod):
    """DBSCAN with ``eps`` from the knee of the sorted k-distance curve."""

    name = "dbscan"

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        from clustomer.segment.choose_k import knee_point

        idx = _sample(Z.shape[0], DENSITY_ROWS, rng)
        Zs = Z[idx]
        min_samples = min(2 * Z.shape[1], max(len(idx) - 1, 1))  # Sander et al. 1998
        dist, _ = NearestNeighbors(n_neighbors=min_samples).fit(Zs).kneighbors(Zs)
        kdist = np.sort(dist[:, -1])
        # the sorted k-distances rise slowly, then steeply (the noise): eps is at the bend,
        # the point furthest below the chord of the curve
        grid = np.unique(np.linspace(0, len(kdist) - 1, num=min(200, len(kdist))).astype(int))
        knee = knee_point(list(range(len(grid))), list(kdist[grid]))
        eps = float(kdist[grid][knee]) if knee is not None else float(np.quantile(kdist, 0.9))
        self.eps_ = max(eps, 1e-9)
        db = DBSCAN(eps=self.eps_, min_samples=min_samples).fit(Zs)
        self._finish(Zs, db.labels_)
        core = db.core_sample_indices_
        self.core_ = Zs[core]
        self.core_labels_ = self.sample_labels_[core]
        self.nn_ = NearestNeighbors(n_neighbors=1).fit(self.core_) if len(core) else None
        self.fit_labels_ = self.assign(Z)
        return self

    def assign(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.intp]:
        if self.nn_ is None:
            return np.full(Z.shape[0], -1, dtype=np.intp)
        dist, nbr = self.nn_.kneighbors(Z)
        labels = self.core_labels_[nbr[:, 0]]
        return np.where(dist[:, 0] <= self.eps_, labels, -1).astype(np.intp)


class KPrototypesMethod(Method):
    """k-prototypes: numeric features (squared distance) plus a category (mismatch × γ)."""

    name = "kprototypes"
    uses_categories = True

    def fit(
        self,
        Z: NDArray[np.float64],
        k: int | None,
        rng: np.random.RandomState,
        categories: NDArray[np.intp] | None = None,
    ) -> Method:
        assert k is not None
        try:
            from kmodes.kprototypes import KPrototypes
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ClustomerError("--method kprototypes needs the kmodes package") from exc
        if categories is None:
            raise ClustomerError("k-prototypes needs a categorical feature (e.g. country)")
        idx = _sample(Z.shape[0], KPROTOTYPES_ROWS, rng)
        data = np.column_stack([Z[idx], categories[idx]]).astype(object)
        cat_col = Z.shape[1]
        seed = int(rng.randint(0, 2**31 - 1))
        with threadpool_limits(limits=1, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kp = KPrototypes(
                n_clusters=k, init="Huang", n_init=2, max_iter=30, random_state=seed, n_jobs=1
            ).fit(data, categorical=[cat_col])
        protos = np.asarray(kp.cluster_centroids_, dtype=np.float64)
        self.centers_ = protos[:, :cat_col]
        self.modes_ = protos[:, cat_col].astype(np.intp)
        self.gamma_ = float(kp.gamma)
        self.fit_labels_ = self.assign(Z, categories)
        return self

    def assign(
        self, Z: NDArray[np.float64], categories: NDArray[np.intp] | None = None
    ) -> NDArray[np.intp]:
        if categories is None:
            raise ClustomerError("k-prototypes needs the categorical feature to assign")
        out = np.empty(Z.shape[0], dtype=np.intp)
        for start in range(0, Z.shape[0], _CHUNK):
            stop = start + _CHUNK
            diff = Z[start:stop, None, :] - self.centers_[None, :, :]
            cost = np.einsum("ijk,ijk->ij", diff, diff)
            cost += self.gamma_ * (categories[start:stop, None] != self.modes_[None, :])
            out[start:stop] = cost.argmin(axis=1)
        return out


METHODS: dict[str, type[Method]] = {
    "minibatch": MiniBatchMethod,
    "ward": WardMethod,
    "gmm": GMMMethod,
    "hdbscan": HDBSCANMethod,
    "dbscan": DBSCANMethod,
    "kprototypes": KPrototypesMethod,
}

#: Every value ``--method`` accepts, the default first.
METHOD_NAMES: tuple[str, ...] = ("kmeans", *METHODS)


def make_method(name: str) -> Method:
    """A fresh method object by name (``kmeans`` itself lives in the segmenter).

    Raises
    ------
    ClustomerError
        For an unknown name (the message lists the known ones).

    >>> make_method("gmm").has_proba
    True
    """
    if name not in METHODS:
        raise ClustomerError(f"unknown method {name!r}; choose one of {', '.join(METHOD_NAMES)}")
    return METHODS[name]()


def method_fit_labels(method: str, n_init: int) -> FitLabels:
    """How the k criteria fit a candidate k: the method itself, or k-means for the
    k-means family and for k-prototypes (whose pure-Python fits would take minutes; its
    k is chosen on the numeric features)."""
    from clustomer.segment.criteria import kmeans_fit_labels  # criteria imports no method

    if method in ("kmeans", "minibatch", "kprototypes"):
        return kmeans_fit_labels(n_init=n_init)

    def fit(k: int, Z: NDArray[np.float64], rng: np.random.RandomState) -> NDArray[np.intp]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if method == "gmm":  # one EM start per candidate fit: hundreds of them
                gm = GaussianMixture(
                    n_components=k, reg_covar=1e-3, n_init=1, max_iter=50, random_state=rng
                )
                return np.asarray(gm.fit(Z).predict(Z), dtype=np.intp)
            return make_method(method).fit(Z, k, rng).fit_labels_

    return fit


#: The k criteria refit the method hundreds of times (every k, every bootstrap resample,
#: every gap reference set); Ward and Gaussian mixtures get a smaller sample for it.
CRITERIA_BUDGET: dict[str, dict[str, int]] = {
    "ward": {"sample_size": 2_000, "n_boot": 5, "n_refs": 3, "boot_size": 2_000},
    "gmm": {"sample_size": 1_000, "n_boot": 5, "n_refs": 3, "boot_size": 1_000},
}
