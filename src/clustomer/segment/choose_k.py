"""Choosing the number of segments *k*.

For every candidate *k* a k-means model is fitted on a random sample of the (already
scaled) customers, and two curves are recorded on that same sample:

* the **inertia** (within-cluster sum of squares), which always falls as *k* grows, and
* the **silhouette** (mean over the sampled customers, from -1 to 1; higher means
  tighter, better separated segments).

Notes
-----
The rule that turns the two curves into one *k*:

1. ``elbow_k`` is the knee of the inertia curve (:func:`knee_point`, Kneedle-style:
   both axes normalised to [0, 1], the *k* lying furthest below the straight chord
   from the first to the last point; ``None`` when the curve has fewer than three points
   or no point below the chord).
2. ``best_silhouette_k`` is the *k* with the highest silhouette (``None`` when no
   silhouette could be computed, e.g. for two customers).
3. If the silhouette at ``elbow_k`` is within :data:`SILHOUETTE_TOLERANCE` (0.05) of the
   best silhouette, ``elbow_k`` is chosen: the elbow usually gives the coarser, more
   actionable split. Otherwise ``best_silhouette_k`` is chosen.
4. With only one of the two available, that one is chosen; with neither, the smallest
   candidate.

A *k* forced by the user (``--k``) is taken as is; the curves are still computed so
that they can be shown next to it (:func:`forced_k_selection`).

The silhouettes of all candidates are computed in one pass over the pairwise distances
of the sample (:func:`silhouette_by_k`), which on a 10,000-customer sample is several
times faster than calling :func:`sklearn.metrics.silhouette_score` once per *k*.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
>>> X = np.vstack([c + rng.normal(size=(30, 2)) for c in centres])
>>> sel = choose_k(X, range(2, 8), sample_size=1000, random_state=0, n_init=3)
>>> sel.chosen_k, sel.elbow_k, sel.best_silhouette_k
(4, 4, 4)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from clustomer.segment.result import KSelection
from clustomer.segment.silhouette import silhouette_by_k

__all__ = [
    "SILHOUETTE_TOLERANCE",
    "KCurves",
    "candidate_ks",
    "choose_k",
    "forced_k_selection",
    "k_curves",
    "knee_point",
    "select_k",
    "selection_from_curves",
    "silhouette_by_k",
]

#: How far (in silhouette units) the elbow may lag the best silhouette and still win.
SILHOUETTE_TOLERANCE = 0.05

#: Below this many rows k-means runs on one OpenMP thread: the work per Lloyd iteration
#: is too small to share, and on a busy machine a second thread that is not scheduled
#: stalls every iteration's barrier (measured: 1,000 rows, 2 threads, 1.9 s instead of
#: 0.01 s while other processes kept both cores busy).
SINGLE_THREAD_ROWS = 20_000


def knee_point(ks: Sequence[int], values: Sequence[float]) -> int | None:
    """Return the knee (elbow) of a decreasing curve, Kneedle-style.

    Both axes are normalised to [0, 1]; the knee is the *k* whose point lies furthest
    below the chord joining the first and the last point.

    Parameters
    ----------
    ks : sequence of int
        Increasing candidate numbers of clusters.
    values : sequence of float
        The curve at each ``k`` (typically the k-means inertia), aligned with ``ks``.

    Returns
    -------
    int or None
        The knee, or ``None`` when there are fewer than three points, the curve is
        flat, or no point lies below the chord (a straight or concave curve).

    Examples
    --------
    >>> knee_point([1, 2, 3, 4, 5, 6], [100, 40, 20, 15, 12, 10])
    3
    >>> knee_point([2, 3], [10.0, 5.0]) is None
    True
    """
    if len(ks) != len(values):
        raise ValueError(f"ks and values differ in length ({len(ks)} != {len(values)})")
    if len(ks) < 3:
        return None
    x = np.asarray(ks, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None
    x_span = x[-1] - x[0]
    y_span = y.max() - y.min()
    if x_span <= 0 or y_span <= 0:
        return None
    xn = (x - x[0]) / x_span
    yn = (y - y.min()) / y_span
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    below = chord - yn
    best = int(np.argmax(below))
    if below[best] <= 1e-12:
        return None
    return int(ks[best])


@dataclass
class KCurves:
    """The k-means fits behind a k selection, on one sample of customers.

    Attributes
    ----------
    ks : list of int
        Candidate numbers of clusters, increasing.
    inertia, silhouette : list of float
        Aligned with ``ks``; computed on the sample (``nan`` silhouette where undefined).
    centers : dict of int to ndarray
        The fitted cluster centres for each ``k`` (in the space of ``X``).
    sample_size : int
        How many customers the sample holds.
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    centers: dict[int, NDArray[np.float64]] = field(default_factory=dict)
    sample_size: int = 0


def candidate_ks(
    k_values: Iterable[int], n_samples: int, n_distinct: int | None = None
) -> list[int]:
    """Clip candidate *k* values to what ``n_samples`` points can support.

    Every candidate is capped to ``n_samples - 1`` (so that the silhouette is defined)
    and to the number of distinct points, but never below 2. Duplicates are removed.

    Parameters
    ----------
    k_values : iterable of int
    n_samples : int
    n_distinct : int, optional
        Number of distinct points; defaults to ``n_samples``.

    Returns
    -------
    list of int
        Sorted, possibly empty (when fewer than two distinct points exist).

    Examples
    --------
    >>> candidate_ks(range(2, 11), n_samples=5)
    [2, 3, 4]
    >>> candidate_ks(range(2, 11), n_samples=2)
    [2]
    >>> candidate_ks(range(2, 11), n_samples=50, n_distinct=1)
    []
    """
    distinct = n_samples if n_distinct is None else min(n_distinct, n_samples)
    if distinct < 2:
        return []
    upper = min(distinct, max(n_samples - 1, 2))
    return sorted({min(max(int(k), 2), upper) for k in k_values})


def k_curves(
    X_scaled: ArrayLike,
    k_values: Iterable[int],
    *,
    sample_size: int,
    random_state: int | np.random.RandomState | None,
    n_init: int,
) -> KCurves:
    """Fit k-means for each candidate *k* on a sample and record inertia and silhouette.

    Parameters
    ----------
    X_scaled : array-like of shape (n_samples, n_features)
        Customers in the (already transformed and standardised) clustering space.
    k_values : iterable of int
        Candidates; clipped with :func:`candidate_ks` to what the sample supports.
    sample_size : int
        At most this many customers are sampled (without replacement); all of them
        when there are fewer.
    random_state : int, RandomState or None
        Seeds the sample and the k-means initialisations.
    n_init : int
        k-means++ restarts per candidate.

    Returns
    -------
    KCurves

    Examples
    --------
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [9.0]])
    >>> curves = k_curves(X, range(2, 6), sample_size=100, random_state=0, n_init=2)
    >>> curves.ks, curves.sample_size
    ([2, 3, 4, 5], 6)
    """
    X = np.asarray(X_scaled, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X_scaled must be a non-empty 2-D array, got shape {X.shape}")
    if sample_size < 1:
        raise ValueError(f"sample_size must be at least 1, got {sample_size}")
    rng = check_random_state(random_state)
    n = X.shape[0]
    if n > sample_size:
        idx = np.sort(rng.choice(n, size=sample_size, replace=False))
        sample = X[idx]
    else:
        sample = X
    m = sample.shape[0]
    n_distinct = int(np.unique(sample, axis=0).shape[0])
    ks = candidate_ks(k_values, m, n_distinct)

    inertia: list[float] = []
    labelings: list[NDArray[np.intp]] = []
    centers: dict[int, NDArray[np.float64]] = {}
    with (
        threadpool_limits(limits=1 if m < SINGLE_THREAD_ROWS else None, user_api="openmp"),
        warnings.catch_warnings(),
    ):
        # Ties between duplicate customers can leave fewer distinct clusters than k;
        # the silhouette then reflects that, which is what the curve should show.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in ks:
            km = KMeans(n_clusters=k, init="k-means++", n_init=n_init, random_state=rng)
            km.fit(sample)
            inertia.append(float(km.inertia_))
            labelings.append(np.asarray(km.labels_, dtype=np.intp))
            centers[k] = np.asarray(km.cluster_centers_, dtype=np.float64)
    silhouette = silhouette_by_k(sample, labelings) if ks else []
    return KCurves(ks=ks, inertia=inertia, silhouette=silhouette, centers=centers, sample_size=m)


def _best_silhouette(ks: Sequence[int], silhouette: Sequence[float]) -> int | None:
    best: int | None = None
    best_value = -math.inf
    for k, s in zip(ks, silhouette, strict=True):
        if math.isfinite(s) and s > best_value:
            best, best_value = k, s
    return best


def _silhouette_at(ks: Sequence[int], silhouette: Sequence[float], k: int) -> float:
    return float(silhouette[list(ks).index(k)])


def select_k(
    ks: Sequence[int],
    inertia: Sequence[float],
    silhouette: Sequence[float],
    *,
    sample_size: int,
) -> KSelection:
    """Apply the k rule (see the module notes) to precomputed curves.

    Parameters
    ----------
    ks : sequence of int
        Increasing candidates (at least one).
    inertia, silhouette : sequence of float
        Aligned with ``ks``; ``nan`` silhouettes are ignored.
    sample_size : int
        Size of the sample the curves were computed on (recorded in the result).

    Returns
    -------
    KSelection

    Examples
    --------
    >>> sel = select_k([2, 3, 4, 5, 6], [100, 50, 20, 17, 15],
    ...                [0.40, 0.42, 0.44, 0.30, 0.28], sample_size=500)
    >>> sel.chosen_k
    4
    >>> sel.reason
    'k = 4: both the elbow of the inertia curve and the best silhouette (0.44)'
    """
    ks = [int(k) for k in ks]
    if not ks:
        raise ValueError("select_k needs at least one candidate k")
    if not (len(ks) == len(inertia) == len(silhouette)):
        raise ValueError("ks, inertia and silhouette must have the same length")
    sil = [float(s) for s in silhouette]
    elbow = knee_point(ks, inertia)
    best = _best_silhouette(ks, sil)
    tol = SILHOUETTE_TOLERANCE

    if elbow is None and best is None:
        chosen = ks[0]
        reason = (
            f"k = {chosen}: too few customers to compare segmentations, "
            "so the smallest candidate was used"
        )
    elif best is None:
        assert elbow is not None
        chosen = elbow
        reason = f"k = {chosen}: the elbow of the inertia curve (no silhouette could be computed)"
    elif elbow is None:
        chosen = best
        reason = (
            f"k = {chosen}: the best silhouette ({_silhouette_at(ks, sil, best):.2f}); "
            "the inertia curve has no clear elbow"
        )
    else:
        s_best = _silhouette_at(ks, sil, best)
        s_elbow = _silhouette_at(ks, sil, elbow)
        if elbow == best:
            chosen = elbow
            reason = (
                f"k = {chosen}: both the elbow of the inertia curve "
                f"and the best silhouette ({s_best:.2f})"
            )
        elif math.isfinite(s_elbow) and s_elbow >= s_best - tol - 1e-12:
            chosen = elbow
            reason = (
                f"k = {chosen}: the elbow of the inertia curve, with a silhouette of "
                f"{s_elbow:.2f} (best {s_best:.2f} at k = {best}, within {tol:.2f})"
            )
        else:
            chosen = best
            elbow_part = (
                f"the elbow at k = {elbow} scores only {s_elbow:.2f}, more than {tol:.2f} below"
                if math.isfinite(s_elbow)
                else f"the elbow at k = {elbow} has no silhouette"
            )
            reason = f"k = {chosen}: the best silhouette ({s_best:.2f}); {elbow_part}"
    return KSelection(
        ks=ks,
        inertia=[float(v) for v in inertia],
        silhouette=sil,
        elbow_k=elbow,
        best_silhouette_k=best,
        chosen_k=chosen,
        reason=reason,
        sample_size=int(sample_size),
        forced=False,
    )


def forced_k_selection(
    k: int,
    ks: Sequence[int],
    inertia: Sequence[float],
    silhouette: Sequence[float],
    *,
    sample_size: int,
) -> KSelection:
    """Record a *k* set by the user, keeping the curves (and elbow/best) for display.

    Parameters
    ----------
    k : int
        The number of segments the user asked for.
    ks, inertia, silhouette : sequences
        The curves, as for :func:`select_k` (may be empty).
    sample_size : int

    Returns
    -------
    KSelection
        With ``forced=True`` and ``chosen_k == k``.

    Examples
    --------
    >>> sel = forced_k_selection(6, [2, 3, 4], [9.0, 4.0, 3.0], [0.5, 0.4, 0.3],
    ...                          sample_size=100)
    >>> sel.chosen_k, sel.forced, sel.reason
    (6, True, 'k = 6 was set with --k')
    """
    ks = [int(v) for v in ks]
    sil = [float(s) for s in silhouette]
    return KSelection(
        ks=ks,
        inertia=[float(v) for v in inertia],
        silhouette=sil,
        elbow_k=knee_point(ks, inertia),
        best_silhouette_k=_best_silhouette(ks, sil),
        chosen_k=int(k),
        reason=f"k = {int(k)} was set with --k",
        sample_size=int(sample_size),
        forced=True,
    )


def choose_k(
    X_scaled: ArrayLike,
    k_values: Iterable[int],
    *,
    sample_size: int,
    random_state: int | np.random.RandomState | None,
    n_init: int,
    forced_k: int | None = None,
) -> KSelection:
    """Compute the k curves on a sample and choose *k* (see the module notes).

    Parameters
    ----------
    X_scaled : array-like of shape (n_samples, n_features)
        Customers in the standardised clustering space.
    k_values : iterable of int
        Candidates (clipped to what the sample supports, see :func:`candidate_ks`).
    sample_size : int
        At most this many customers are used for the curves.
    random_state : int, RandomState or None
    n_init : int
        k-means++ restarts per candidate.
    forced_k : int, optional
        A *k* set by the user: it is chosen as is, and added to the curves when the
        sample supports it.

    Returns
    -------
    KSelection

    Examples
    --------
    >>> X = np.array([[0.0], [0.2], [0.1], [9.0], [9.1], [9.2]])
    >>> choose_k(X, [2, 3, 4], sample_size=100, random_state=0, n_init=2).chosen_k
    2
    >>> choose_k(X, [2, 3], sample_size=100, random_state=0, n_init=2, forced_k=3).forced
    True
    """
    ks = list(k_values)
    if forced_k is not None:
        ks.append(int(forced_k))
    curves = k_curves(
        X_scaled, ks, sample_size=sample_size, random_state=random_state, n_init=n_init
    )
    return selection_from_curves(curves, forced_k=forced_k)


def selection_from_curves(curves: KCurves, *, forced_k: int | None = None) -> KSelection:
    """Turn :class:`KCurves` into a :class:`KSelection` (forced or by the rule).

    Parameters
    ----------
    curves : KCurves
    forced_k : int, optional

    Returns
    -------
    KSelection
        When there are no candidates (fewer than two distinct customers) and no forced
        *k*, ``chosen_k`` is 1.

    Examples
    --------
    >>> selection_from_curves(KCurves(ks=[], inertia=[], silhouette=[])).chosen_k
    1
    """
    if forced_k is not None:
        return forced_k_selection(
            forced_k, curves.ks, curves.inertia, curves.silhouette, sample_size=curves.sample_size
        )
    if not curves.ks:
        return KSelection(
            ks=[],
            inertia=[],
            silhouette=[],
            elbow_k=None,
            best_silhouette_k=None,
            chosen_k=1,
            reason="k = 1: all customers have the same feature values, so there is one segment",
            sample_size=curves.sample_size,
            forced=False,
        )
    return select_k(curves.ks, curves.inertia, curves.silhouette, sample_size=curves.sample_size)
