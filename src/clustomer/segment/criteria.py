"""Several criteria for the number of segments *k*, computed on one sample.

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


The rule that combines them -- the best stability among the *k* whose silhouette is
near the best, with the elbow and the gap statistic as a stated cross-check -- lives in
:mod:`clustomer.segment.k_rule` (:func:`choose_from_criteria`, with the :class:`KCriteria`
table); the reading of segment stabilities in :mod:`clustomer.segment.stability`. Their
public names are re-exported here.

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
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, davies_bouldin_score
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from clustomer.segment.choose_k import SINGLE_THREAD_ROWS, candidate_ks, knee_point
from clustomer.segment.k_rule import SILHOUETTE_MARGIN, KCriteria, _argbest, choose_from_criteria
from clustomer.segment.silhouette import silhouette_by_k
from clustomer.segment.stability import LOW_STABILITY, flag_unstable, stability_label

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
