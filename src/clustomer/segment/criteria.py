"""Several criteria for the number of segments *k*, and one rule that combines them.

Every criterion is computed on **one** random sample of at most ``sample_size`` customers
of the (already scaled) clustering space, for every candidate *k*, with any clustering
method that takes a *k* (:data:`FitLabels`: k-means, Ward, a Gaussian mixture, ...).
Pairwise computations (the silhouette) grow with the square of the number of rows, so
they are never run on all customers.

The criteria
------------
* **inertia** -- the within-cluster sum of squares of the fitted labels about their own
  group means, and its **elbow** (:func:`~clustomer.segment.choose_k.knee_point`).
* **silhouette** (Rousseeuw 1987), **Calinski-Harabasz** (1974) and **Davies-Bouldin**
  (1979) of the sample fit, as in :mod:`sklearn.metrics`.
* the **gap statistic** (Tibshirani, Walther & Hastie 2001, *J. R. Statist. Soc. B*
  63:411-423): ``Gap(k) = mean_b log W*_kb - log W_k`` with ``W`` the pooled within-cluster
  sum of squares, ``W*_kb`` that of the same method fitted to ``n_refs`` reference sets
  drawn uniformly from the box aligned with the principal components of the sample (the
  paper's variant (b); ``gap_reference="box"`` gives variant (a), the box of the
  features' ranges), and the standard error ``s_k = sd_k * sqrt(1 + 1/B)`` (``sd_k`` the
  population standard deviation of the ``B = n_refs`` values of ``log W*_kb``).
  ``gap_k`` is the paper's rule: the smallest *k* with ``Gap(k) >= Gap(k') - s_k'``,
  ``k'`` the next candidate (``k + 1`` for consecutive candidates). ``k = 1`` (one
  cluster: ``W_1`` is the total sum of squares, no fit needed) is always included in
  front of the candidates, so ``gap_k == 1`` says "no cluster structure". ``gap_k`` is
  ``None`` when no candidate satisfies the rule (the gap still rises at the largest *k*).
  To bound the cost the reference sets hold ``min(sample, ref_size)`` rows (2,000 by
  default) instead of as many as the sample; ``W`` is therefore taken **per row**
  (``log(W_k / n)``, ``log(W*_kb / n_ref)``), which is the paper's statistic exactly when
  the sizes agree (the constant cancels) and otherwise differs only by the slight extra
  over-fitting of *k* clusters to fewer rows (of the order of ``k * d / n_ref``; measured
  on 7-d uniform data, 2,000 instead of 10,000 reference rows lower the gap at k = 10 by
  0.02) and a larger ``s_k``: both make the rule lean, slightly, to smaller *k*.
* **bootstrap stability** -- for each of ``n_boot`` resamples (drawn with replacement
  from the sample), the method is refitted on the resample and its labels are compared,
  by the adjusted Rand index (Hubert & Arabie 1985), with the labels of the sample fit on
  the distinct points the resample contains (the resampling scheme of Hennig 2007; the
  agreement-between-fits idea of Ben-Hur, Elisseeff & Guyon 2002 and Lange, Roth, Braun &
  Buhmann 2004). ``stability[k]`` is the mean over the resamples. The same resamples are
  used for every *k*. By default a resample is as large as the sample (the ordinary
  bootstrap, for which Hennig's thresholds below were calibrated); ``boot_size`` caps it
  (an *m*-out-of-*n* bootstrap) to bound the cost of slow methods: fits on fewer rows
  vary more, so the stabilities are then understated -- roughly equally for every *k*.
* **segment stability** (Hennig 2007, "Cluster-wise assessment of cluster stability",
  *Comput. Stat. Data Anal.* 52:258-271; ``fpc::clusterboot``) -- from the same fits: for
  each cluster of the sample fit, the mean over the resamples of the largest Jaccard
  similarity with any cluster of the resample's fit, both restricted to the shared points
  (resamples that contain none of the cluster's points are skipped). Hennig's reading:
  a cluster with a Jaccard similarity of 0.5 or less has *dissolved*; a mean of 0.6-0.75
  indicates a pattern whose members are doubtful; 0.75 or more is stable, 0.85 or more
  highly stable. :func:`flag_unstable` lists the clusters below :data:`LOW_STABILITY`.

The rule
--------
1. The candidates are the *k* whose silhouette is within :data:`SILHOUETTE_MARGIN` (0.02)
   of the best silhouette (finite silhouettes only; the comparison allows 1e-12 for
   rounding).
2. Among them the one with the highest bootstrap stability is chosen, the stabilities
   being compared rounded to two decimals (as shown); ties go to the smaller *k*.
   The reason reads ``"k = 5: the highest stability (0.93) among the k with a silhouette
   within 0.02 of the best"``.
3. The elbow and the gap statistic are a stated cross-check, never a vote: the sentence
   (of step 2, or of the first two fallbacks of step 4) goes on with ``"; the elbow and
   the gap statistic agree"``, or ``"; the elbow suggests 4, the gap statistic agrees"``,
   ``"; the inertia curve has no clear elbow, the gap statistic suggests 1 (no cluster
   structure)"``, ``"; ... the gap statistic still rises at k = 10"``, ... When the
   sample could not hold every requested *k*, ``"; k was capped at 4 by the 5 sampled
   customers"`` follows.
4. Without any stability (``n_boot = 0``) the best silhouette is chosen; without any
   finite silhouette the highest stability; without either the elbow, then the smallest
   candidate -- each with its own sentence.
5. With fewer than two distinct customers in the sample there is no candidate: ``k = 1``.
6. A *k* forced by the user is taken as is (and added to the candidates so that every
   curve covers it); the sentence says what the rule would have picked:
   ``"k = 7 as asked; the rule would pick 5 (the highest stability (0.93) among ...)"``.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
>>> X = np.vstack([c + rng.normal(size=(50, 2)) for c in centres])
>>> crit = k_criteria(X, range(2, 7), kmeans_fit_labels(n_init=2), n_boot=3, n_refs=5)
>>> crit.chosen_k, crit.gap_k, crit.elbow_k, crit.best_silhouette_k
(4, 4, 4, 4)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from clustomer.segment.choose_k import SINGLE_THREAD_ROWS, candidate_ks, knee_point
from clustomer.segment.silhouette import silhouette_by_k

__all__ = [
    "LOW_STABILITY",
    "SILHOUETTE_MARGIN",
    "FitLabels",
    "KCriteria",
    "choose_from_criteria",
    "flag_unstable",
    "k_criteria",
    "kmeans_fit_labels",
    "stability_label",
]

#: Candidates must have a silhouette within this much of the best one (rule step 1).
SILHOUETTE_MARGIN = 0.02

#: Segments whose mean bootstrap Jaccard similarity is below this are flagged as unstable
#: (Hennig 2007: below 0.6 a cluster "should not be trusted").
LOW_STABILITY = 0.6

#: ``fit_labels(k, X, random_state) -> labels``: cluster the rows of ``X`` into ``k``
#: groups and return one integer label per row (labels need not be ``0..k-1``).
FitLabels = Callable[[int, NDArray[np.float64], np.random.RandomState], NDArray[np.intp]]

# Streams of the per-task random states (see ``_rs``).
_SAMPLE_FIT, _REF_DRAW, _REF_FIT, _BOOT_DRAW, _BOOT_FIT = range(5)


def kmeans_fit_labels(n_init: int = 3, max_iter: int = 300) -> FitLabels:
    """Return a :data:`FitLabels` that runs k-means (k-means++ with ``n_init`` restarts).

    Fits on fewer than ``SINGLE_THREAD_ROWS`` (20,000) rows run on one OpenMP thread (see
    :mod:`clustomer.segment.choose_k`); convergence warnings caused by duplicate rows
    (fewer distinct points than *k*) are silenced.

    Parameters
    ----------
    n_init : int, default 3
    max_iter : int, default 300

    Returns
    -------
    FitLabels

    Examples
    --------
    >>> fit = kmeans_fit_labels(n_init=1)
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> labels = fit(2, X, np.random.RandomState(0))
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3])
    True
    """

    def fit(
        k: int, X: NDArray[np.float64], random_state: np.random.RandomState
    ) -> NDArray[np.intp]:
        limit = 1 if X.shape[0] < SINGLE_THREAD_ROWS else None
        with threadpool_limits(limits=limit, user_api="openmp"), warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=random_state)
            km.fit(X)
        return np.asarray(km.labels_, dtype=np.intp)

    return fit


@dataclass
class KCriteria:
    """Every criterion for every candidate *k*, and the *k* chosen from them.

    All lists are aligned with ``ks`` and were computed on one sample of ``sample_size``
    customers; ``nan`` marks a value that is undefined (e.g. the silhouette of a labeling
    with a single cluster). See the module notes for the definitions and the rule.

    Attributes
    ----------
    ks : list of int
        Candidates, increasing (capped to what the sample supports).
    inertia, silhouette, calinski_harabasz, davies_bouldin : list of float
    gap, gap_se : list of float
        Gap statistic and its standard error ``s_k``.
    stability : list of float
        Mean adjusted Rand index between the sample fit and the bootstrap fits.
    segment_stability : dict of int to list of float
        Per *k*, per cluster of the sample fit (in the order of its sorted labels), the
        mean bootstrap Jaccard similarity (Hennig 2007).
    centers : dict of int to ndarray
        Per *k*, the means of the sample fit's clusters (same order), to match them with
        the segments of a model fitted on all customers.
    elbow_k, gap_k, best_silhouette_k : int or None
    chosen_k : int
    reason : str
    sample_size, n_boot, n_refs : int
    forced : bool
        Whether ``chosen_k`` was set by the user.
    gap_1, gap_se_1 : float
        Gap statistic and standard error at ``k = 1`` (used by the gap rule).
    requested_ks : list of int
        The candidates as asked for, before capping.
    ref_size, boot_size : int
        Rows per gap reference set and per bootstrap resample.
    gap_reference : str
        ``"pca"`` (variant (b) of Tibshirani et al.) or ``"box"`` (variant (a)).

    Examples
    --------
    >>> crit = k_criteria(np.array([[1.0, 2.0]] * 5), [2, 3], kmeans_fit_labels(n_init=1))
    >>> crit.ks, crit.chosen_k, crit.reason
    ([], 1, 'k = 1: all sampled customers have the same feature values, so there is one segment')
    >>> crit.to_dict()["gap_k"] is None
    True
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    calinski_harabasz: list[float]
    davies_bouldin: list[float]
    gap: list[float]
    gap_se: list[float]
    stability: list[float]
    segment_stability: dict[int, list[float]]
    elbow_k: int | None
    gap_k: int | None
    best_silhouette_k: int | None
    chosen_k: int
    reason: str
    sample_size: int
    n_boot: int
    n_refs: int
    forced: bool = False
    gap_1: float = math.nan
    gap_se_1: float = math.nan
    requested_ks: list[int] = field(default_factory=list)
    ref_size: int = 0
    boot_size: int = 0
    gap_reference: str = "pca"
    centers: dict[int, NDArray[np.float64]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: lists of floats with ``None`` for NaN/inf.

        ``segment_stability`` keys become strings (JSON object keys).

        Returns
        -------
        dict

        Examples
        --------
        >>> crit = k_criteria(np.zeros((3, 2)), [2], kmeans_fit_labels(n_init=1))
        >>> crit.to_dict()["segment_stability"], crit.to_dict()["chosen_k"]
        ({}, 1)
        """
        return {
            "ks": [int(k) for k in self.ks],
            "inertia": _json_list(self.inertia),
            "silhouette": _json_list(self.silhouette),
            "calinski_harabasz": _json_list(self.calinski_harabasz),
            "davies_bouldin": _json_list(self.davies_bouldin),
            "gap": _json_list(self.gap),
            "gap_se": _json_list(self.gap_se),
            "gap_1": _json_float(self.gap_1),
            "gap_se_1": _json_float(self.gap_se_1),
            "stability": _json_list(self.stability),
            "segment_stability": {
                str(k): _json_list(v) for k, v in sorted(self.segment_stability.items())
            },
            "elbow_k": self.elbow_k,
            "gap_k": self.gap_k,
            "best_silhouette_k": self.best_silhouette_k,
            "chosen_k": int(self.chosen_k),
            "reason": self.reason,
            "sample_size": int(self.sample_size),
            "n_boot": int(self.n_boot),
            "n_refs": int(self.n_refs),
            "forced": bool(self.forced),
            "requested_ks": [int(k) for k in self.requested_ks],
            "ref_size": int(self.ref_size),
            "boot_size": int(self.boot_size),
            "gap_reference": self.gap_reference,
            "centers": {
                str(k): [_json_list(row) for row in np.asarray(c, dtype=np.float64)]
                for k, c in sorted(self.centers.items())
            },
        }


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _json_list(values: Iterable[float]) -> list[float | None]:
    return [_json_float(v) for v in values]


def flag_unstable(
    segment_stability: Sequence[float], threshold: float = LOW_STABILITY
) -> list[int]:
    """Positions of the segments whose stability is below ``threshold`` (or unknown).

    Parameters
    ----------
    segment_stability : sequence of float
        Mean bootstrap Jaccard similarities, one per segment (e.g.
        ``crit.segment_stability[k]``); ``nan`` (never seen in a resample) counts as
        unstable.
    threshold : float, default :data:`LOW_STABILITY`

    Returns
    -------
    list of int
        Increasing positions into ``segment_stability``.

    Examples
    --------
    >>> flag_unstable([0.95, 0.41, 0.6, float("nan"), 0.59])
    [1, 3, 4]
    """
    return [i for i, v in enumerate(segment_stability) if not (math.isfinite(v) and v >= threshold)]


def stability_label(jaccard: float) -> str:
    """Hennig's (2007) reading of a segment's mean bootstrap Jaccard similarity.

    Parameters
    ----------
    jaccard : float

    Returns
    -------
    str
        ``"highly stable"`` (>= 0.85), ``"stable"`` (>= 0.75), ``"a pattern"``
        (>= 0.6), ``"not to be trusted"`` (> 0.5), ``"dissolved"`` (<= 0.5) or
        ``"unknown"`` (nan).

    Examples
    --------
    >>> [stability_label(v) for v in (0.9, 0.8, 0.65, 0.55, 0.3)]
    ['highly stable', 'stable', 'a pattern', 'not to be trusted', 'dissolved']
    """
    if not math.isfinite(jaccard):
        return "unknown"
    if jaccard >= 0.85:
        return "highly stable"
    if jaccard >= 0.75:
        return "stable"
    if jaccard >= LOW_STABILITY:
        return "a pattern"
    if jaccard > 0.5:
        return "not to be trusted"
    return "dissolved"


def _rs(base: int, stream: int, k: int, b: int) -> np.random.RandomState:
    """An independent, reproducible random state per (task, k, replicate)."""
    return np.random.RandomState([base, stream, k, b])


def _encode(labels: ArrayLike) -> NDArray[np.intp]:
    _, inv = np.unique(np.asarray(labels).ravel(), return_inverse=True)
    return np.asarray(inv, dtype=np.intp)


def _group_means(X: NDArray[np.float64], codes: NDArray[np.intp]) -> NDArray[np.float64]:
    counts = np.bincount(codes).astype(np.float64)
    sums = np.zeros((counts.shape[0], X.shape[1]))
    np.add.at(sums, codes, X)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def _within_ss(X: NDArray[np.float64], codes: NDArray[np.intp]) -> float:
    """Pooled within-cluster sum of squares about each group's mean (``W_k``)."""
    means = _group_means(X, codes)
    diff = X - means[codes]
    return float(np.einsum("ij,ij->", diff, diff))


def _metric(
    fn: Callable[[NDArray[np.float64], NDArray[np.intp]], float], X: Any, lab: Any
) -> float:
    n_labels = int(lab.max()) + 1 if lab.size else 0
    if not 2 <= n_labels <= X.shape[0] - 1:
        return math.nan
    return float(fn(X, lab))


def _reference_sets(
    sample: NDArray[np.float64], n_refs: int, n_rows: int, kind: str, base: int
) -> list[NDArray[np.float64]]:
    """Uniform reference sets over the (PCA-aligned) bounding box of ``sample``."""
    mean = sample.mean(axis=0)
    if kind == "pca":
        # Variant (b) of Tibshirani et al. (2001): a box aligned with the principal
        # components of the (centred) data, so that it follows the data's shape.
        _, _, vt = np.linalg.svd(sample - mean, full_matrices=False)
        proj = (sample - mean) @ vt.T
    else:
        vt = np.eye(sample.shape[1])
        proj = sample - mean
    lo, hi = proj.min(axis=0), proj.max(axis=0)
    out = []
    for b in range(n_refs):
        z = _rs(base, _REF_DRAW, 0, b).uniform(lo, hi, size=(n_rows, lo.shape[0]))
        out.append(z @ vt + mean)
    return out


def _log_w_per_row(w: float, n: int) -> float:
    return math.log(w / n) if w > 0 else -math.inf


def _gap_rule(ks: Sequence[int], gap: Sequence[float], se: Sequence[float]) -> int | None:
    """Smallest k with Gap(k) >= Gap(next k) - s(next k) (Tibshirani et al. 2001)."""
    for i in range(len(ks) - 1):
        g, g_next, s_next = gap[i], gap[i + 1], se[i + 1]
        if math.isfinite(g) and math.isfinite(g_next) and g >= g_next - s_next:
            return int(ks[i])
    return None


def _bootstrap_scores(
    codes: NDArray[np.intp], boot_idx: NDArray[np.intp], boot_codes: NDArray[np.intp]
) -> tuple[float, NDArray[np.float64]]:
    """ARI and per-cluster max Jaccard of a bootstrap fit against the sample fit.

    ``boot_idx`` are the resample's row numbers in the sample (with repeats),
    ``boot_codes`` the bootstrap fit's labels of those rows; both fits are compared on
    the distinct shared rows (a repeated row keeps the label of its first copy).
    """
    shared, first = np.unique(boot_idx, return_index=True)
    a = codes[shared]
    b = _encode(boot_codes[first])
    ari = float(adjusted_rand_score(a, b))
    n_a = int(codes.max()) + 1
    n_b = int(b.max()) + 1
    table = np.zeros((n_a, n_b))
    np.add.at(table, (a, b), 1.0)
    rows = table.sum(axis=1)
    cols = table.sum(axis=0)
    union = rows[:, None] + cols[None, :] - table
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, table / union, 0.0).max(axis=1)
    jac = np.where(rows > 0, jac, math.nan)  # cluster absent from this resample
    return ari, jac


def k_criteria(
    X: ArrayLike,
    ks: Iterable[int],
    fit_labels: FitLabels,
    *,
    sample_size: int = 10_000,
    n_boot: int = 10,
    n_refs: int = 10,
    random_state: int | np.random.RandomState | None = 0,
    ref_size: int = 2_000,
    boot_size: int | None = None,
    gap_reference: Literal["pca", "box"] = "pca",
    forced_k: int | None = None,
) -> KCriteria:
    """Compute every criterion for every candidate *k* on a sample, and choose *k*.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Customers in the (already scaled) clustering space; finite values.
    ks : iterable of int
        Candidates (capped to what the sample supports, see
        :func:`~clustomer.segment.choose_k.candidate_ks`).
    fit_labels : FitLabels
        The clustering method, e.g. :func:`kmeans_fit_labels`.
    sample_size : int, default 10,000
        At most this many customers (drawn without replacement) are used.
    n_boot : int, default 10
        Bootstrap resamples per *k* (0 skips the stabilities).
    n_refs : int, default 10
        Gap reference sets ``B`` (0 skips the gap statistic).
    random_state : int, RandomState or None, default 0
    ref_size : int, default 2,000
        Rows per reference set (at most the sample size, at least the largest *k* + 1).
    boot_size : int, optional
        Rows per bootstrap resample; by default as many as the sample (the ordinary
        bootstrap). Capped to the sample size, raised to at least the largest *k* + 1.
    gap_reference : {"pca", "box"}, default "pca"
        Variant (b) or (a) of the reference distribution of Tibshirani et al.
    forced_k : int, optional
        A *k* set by the user: added to the candidates and chosen as is.

    Returns
    -------
    KCriteria

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]])
    >>> crit = k_criteria(X, [2, 3], kmeans_fit_labels(n_init=1), n_boot=2, n_refs=2)
    >>> crit.chosen_k, crit.stability[0], crit.segment_stability[2]
    (2, 1.0, [1.0, 1.0])
    """
    Xa = np.asarray(X, dtype=np.float64)
    if Xa.ndim != 2 or Xa.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {Xa.shape}")
    if not np.all(np.isfinite(Xa)):
        raise ValueError("X holds NaN or infinite values")
    for name, v in (("sample_size", sample_size), ("ref_size", ref_size), ("boot_size", boot_size)):
        if v is not None and v < 1:
            raise ValueError(f"{name} must be at least 1, got {v}")
    if n_boot < 0 or n_refs < 0:
        raise ValueError("n_boot and n_refs must not be negative")
    if forced_k is not None and forced_k < 1:
        raise ValueError(f"forced_k must be at least 1, got {forced_k}")
    if gap_reference not in ("pca", "box"):
        raise ValueError(f"gap_reference must be 'pca' or 'box', got {gap_reference!r}")
    requested = sorted({int(k) for k in ks} | ({int(forced_k)} if forced_k is not None else set()))
    if not requested:
        raise ValueError("k_criteria needs at least one candidate k")

    rng = check_random_state(random_state)
    n = Xa.shape[0]
    if n > sample_size:
        sample = Xa[np.sort(rng.choice(n, size=sample_size, replace=False))]
    else:
        sample = Xa
    base = int(rng.randint(np.iinfo(np.int32).max))
    m = sample.shape[0]
    n_distinct = int(np.unique(sample, axis=0).shape[0])
    cand = candidate_ks(requested, m, n_distinct)
    k_max = max(cand) if cand else 1
    n_ref = min(m, max(ref_size, k_max + 1))
    n_bs = m if boot_size is None else min(m, max(boot_size, k_max + 1))

    nan_list = [math.nan] * len(cand)
    inertia: list[float] = []
    codes_by_k: list[NDArray[np.intp]] = []
    gap, gap_se = list(nan_list), list(nan_list)
    gap_1 = gap_se_1 = math.nan
    stability = list(nan_list)
    seg_stab: dict[int, list[float]] = {}
    limit = 1 if m < SINGLE_THREAD_ROWS else None
    with threadpool_limits(limits=limit, user_api="openmp"):
        for k in cand:
            codes = _encode(fit_labels(k, sample, _rs(base, _SAMPLE_FIT, k, 0)))
            codes_by_k.append(codes)
            inertia.append(_within_ss(sample, codes))

        if cand and n_refs > 0:
            refs = _reference_sets(sample, n_refs, n_ref, gap_reference, base)
            log_w1 = _log_w_per_row(_within_ss(sample, np.zeros(m, dtype=np.intp)), m)
            ref_log = np.empty((n_refs, len(cand) + 1))
            for b, z in enumerate(refs):
                ref_log[b, 0] = _log_w_per_row(_within_ss(z, np.zeros(n_ref, dtype=np.intp)), n_ref)
                for j, k in enumerate(cand, start=1):
                    zc = _encode(fit_labels(k, z, _rs(base, _REF_FIT, k, b)))
                    ref_log[b, j] = _log_w_per_row(_within_ss(z, zc), n_ref)
            log_w = np.array([log_w1] + [_log_w_per_row(w, m) for w in inertia])
            with np.errstate(invalid="ignore"):
                g = ref_log.mean(axis=0) - log_w
                s = ref_log.std(axis=0) * math.sqrt(1.0 + 1.0 / n_refs)
            gap_1, gap_se_1 = float(g[0]), float(s[0])
            gap, gap_se = [float(v) for v in g[1:]], [float(v) for v in s[1:]]

        if cand and n_boot > 0:
            boots = [_rs(base, _BOOT_DRAW, 0, b).randint(0, m, size=n_bs) for b in range(n_boot)]
            for j, k in enumerate(cand):
                aris: list[float] = []
                jacs: list[NDArray[np.float64]] = []
                for b, idx in enumerate(boots):
                    lab = fit_labels(k, sample[idx], _rs(base, _BOOT_FIT, k, b))
                    ari, jac = _bootstrap_scores(codes_by_k[j], idx, np.asarray(lab))
                    aris.append(ari)
                    jacs.append(jac)
                stability[j] = float(np.mean(aris))
                jm = np.vstack(jacs)
                seen = np.isfinite(jm)
                with np.errstate(invalid="ignore"):
                    per = np.where(seen, jm, 0.0).sum(axis=0) / seen.sum(axis=0)
                seg_stab[k] = [float(v) for v in per]

    silhouette = silhouette_by_k(sample, codes_by_k) if cand else []
    ch = [_metric(calinski_harabasz_score, sample, c) for c in codes_by_k]
    db = [_metric(davies_bouldin_score, sample, c) for c in codes_by_k]

    crit = KCriteria(
        ks=cand,
        inertia=inertia,
        silhouette=[float(v) for v in silhouette],
        calinski_harabasz=ch,
        davies_bouldin=db,
        gap=gap,
        gap_se=gap_se,
        stability=stability,
        segment_stability=seg_stab,
        elbow_k=knee_point(cand, inertia) if cand else None,
        gap_k=_gap_rule([1, *cand], [gap_1, *gap], [gap_se_1, *gap_se]) if cand else None,
        best_silhouette_k=_argbest(cand, [float(v) for v in silhouette]),
        chosen_k=1,
        reason="",
        sample_size=m,
        n_boot=int(n_boot),
        n_refs=int(n_refs),
        gap_1=gap_1,
        gap_se_1=gap_se_1,
        requested_ks=requested,
        ref_size=n_ref if cand else 0,
        boot_size=n_bs if cand else 0,
        gap_reference=gap_reference,
        centers={k: _group_means(sample, c) for k, c in zip(cand, codes_by_k, strict=True)},
    )
    crit.chosen_k, crit.reason = choose_from_criteria(crit, forced_k=forced_k)
    crit.forced = forced_k is not None
    return crit


def _argbest(ks: Sequence[int], values: Sequence[float], ndigits: int | None = None) -> int | None:
    """The k with the highest finite value (first, i.e. smallest k, on ties)."""
    best: int | None = None
    best_value = -math.inf
    for k, v in zip(ks, values, strict=True):
        if not math.isfinite(v):
            continue
        key = round(v, ndigits) if ndigits is not None else v
        if key > best_value:
            best, best_value = int(k), key
    return best


def _cross_check(crit: KCriteria, k: int) -> str:
    elbow, gap_k = crit.elbow_k, crit.gap_k
    if elbow == k and gap_k == k:
        return "the elbow and the gap statistic agree"
    if elbow is None:
        elbow_part = "the inertia curve has no clear elbow"
    elif elbow == k:
        elbow_part = "the elbow agrees"
    else:
        elbow_part = f"the elbow suggests {elbow}"
    if crit.n_refs == 0 or not crit.ks:
        gap_part = "the gap statistic was not computed"
    elif gap_k is None:
        gap_part = f"the gap statistic still rises at k = {crit.ks[-1]}"
    elif gap_k == k:
        gap_part = "the gap statistic agrees"
    elif gap_k == 1:
        gap_part = "the gap statistic suggests 1 (no cluster structure)"
    else:
        gap_part = f"the gap statistic suggests {gap_k}"
    return f"{elbow_part}, {gap_part}"


def _rule(crit: KCriteria) -> tuple[int, str, bool]:
    """The chosen k, its sentence, and whether the cross-check should follow it."""
    ks = crit.ks
    if not ks:
        return (
            1,
            "k = 1: all sampled customers have the same feature values, so there is one segment",
            False,
        )
    sil = crit.silhouette
    finite_sil = [s for s in sil if math.isfinite(s)]
    has_stab = any(math.isfinite(v) for v in crit.stability)
    if finite_sil and has_stab:
        best = max(finite_sil)
        near = [
            i
            for i, s in enumerate(sil)
            if math.isfinite(s) and s >= best - SILHOUETTE_MARGIN - 1e-12
        ]
        chosen = _argbest([ks[i] for i in near], [crit.stability[i] for i in near], ndigits=2)
        if chosen is not None:
            stab = crit.stability[ks.index(chosen)]
            head = (
                f"k = {chosen}: the highest stability ({stab:.2f}) among the k with a "
                f"silhouette within {SILHOUETTE_MARGIN:.2f} of the best"
            )
            return chosen, head, True
    if finite_sil:
        chosen = _argbest(ks, sil)
        assert chosen is not None
        s = sil[ks.index(chosen)]
        why = "stability was not assessed" if crit.n_boot == 0 else "no stability could be computed"
        return chosen, f"k = {chosen}: the best silhouette ({s:.2f}); {why}", True
    if has_stab:
        chosen = _argbest(ks, crit.stability, ndigits=2)
        assert chosen is not None
        stab = crit.stability[ks.index(chosen)]
        return (
            chosen,
            f"k = {chosen}: the highest stability ({stab:.2f}); no silhouette could be computed",
            True,
        )
    if crit.elbow_k is not None:
        return (
            crit.elbow_k,
            f"k = {crit.elbow_k}: the elbow of the inertia curve; "
            "neither silhouette nor stability could be computed",
            False,
        )
    return (
        ks[0],
        f"k = {ks[0]}: too few customers to compare segmentations, "
        "so the smallest candidate was used",
        False,
    )


def choose_from_criteria(crit: KCriteria, forced_k: int | None = None) -> tuple[int, str]:
    """Apply the rule of the module notes to computed criteria.

    Parameters
    ----------
    crit : KCriteria
        Its ``chosen_k``, ``reason`` and ``forced`` are ignored.
    forced_k : int, optional
        A *k* set by the user; it is returned as is, with a sentence that says what the
        rule would have picked.

    Returns
    -------
    chosen_k : int
    reason : str

    Examples
    --------
    >>> crit = KCriteria(
    ...     ks=[2, 3, 4, 5], inertia=[100.0, 40.0, 20.0, 17.0],
    ...     silhouette=[0.50, 0.61, 0.62, 0.55], calinski_harabasz=[1.0] * 4,
    ...     davies_bouldin=[1.0] * 4, gap=[0.2, 0.5, 0.6, 0.6], gap_se=[0.05] * 4,
    ...     stability=[0.99, 0.93, 0.80, 0.7], segment_stability={}, elbow_k=3, gap_k=4,
    ...     best_silhouette_k=4, chosen_k=0, reason="", sample_size=500, n_boot=5, n_refs=5)
    >>> choose_from_criteria(crit)[1]
    'k = 3: the highest stability (0.93) among the k with a silhouette within 0.02 of the best; the elbow agrees, the gap statistic suggests 4'
    >>> choose_from_criteria(crit, forced_k=5)[1]
    'k = 5 as asked; the rule would pick 3 (the highest stability (0.93) among the k with a silhouette within 0.02 of the best; the elbow agrees, the gap statistic suggests 4)'
    """  # noqa: E501
    chosen, reason, cross_check = _rule(crit)
    if cross_check:
        reason = f"{reason}; {_cross_check(crit, chosen)}"
    if crit.ks and any(k > crit.ks[-1] for k in crit.requested_ks if k != forced_k):
        reason = (
            f"{reason}; k was capped at {crit.ks[-1]} by the {crit.sample_size} sampled customers"
        )
    if forced_k is None:
        return chosen, reason
    forced = int(forced_k)
    rest = reason.split(": ", 1)[1]
    if forced == chosen:
        return forced, f"k = {forced} as asked, which the rule would pick too ({rest})"
    return forced, f"k = {forced} as asked; the rule would pick {chosen} ({rest})"
