"""Stable segment ids across runs: pair each new segment with the old one it continues.

:func:`match_segments` pairs the segments of two runs by an optimal one-to-one assignment
(the Hungarian method) on the distances between their centres, and :func:`relabel`
renumbers the new run's labels so that a continuing segment keeps its old id. Both are
re-exported by :mod:`clustomer.segment.compare`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from clustomer.errors import ClustomerError

__all__ = ["match_segments", "relabel"]


def _centres(x: ArrayLike, which: str) -> NDArray[np.float64]:
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ClustomerError(f"the {which} segment centres are not numbers") from exc
    if arr.ndim != 2:
        raise ClustomerError(
            f"the {which} segment centres must be a table (segments x features); "
            f"got an array with {arr.ndim} dimension(s)"
        )
    if not np.isfinite(arr).all():
        raise ClustomerError(f"the {which} segment centres contain missing or infinite values")
    return arr


def match_segments(
    previous: ArrayLike,
    current: ArrayLike,
    *,
    max_distance: float | None = None,
) -> dict[int, int | None]:
    """Pair each current segment with the previous segment it continues.

    An optimal one-to-one assignment (:func:`scipy.optimize.linear_sum_assignment`)
    minimises the total Euclidean distance between paired centres. Both sets of centres
    must live in the same (scaled) feature space.

    Parameters
    ----------
    previous : array-like of shape (k_previous, n_features)
        Segment centres of the earlier run; row ``i`` is segment ``i``.
    current : array-like of shape (k_current, n_features)
        Segment centres of the later run; row ``j`` is segment ``j``.
    max_distance : float, optional
        Centres further apart than this are never the same segment. The assignment then
        first pairs as many segments as the limit allows, and among those pairings takes
        the one with the least total distance. ``None`` (default): no limit.

    Returns
    -------
    dict of int to int or None
        For every current segment index ``0 .. k_current - 1``: the previous segment
        index it continues, or ``None`` when it has no partner (there are more current
        than previous segments, or every candidate is beyond ``max_distance``).

    Raises
    ------
    ClustomerError
        Centres that are not a finite 2-D table, a different number of features in the
        two runs, or a negative ``max_distance``.

    Notes
    -----
    The result is deterministic: the same centres always give the same pairing. When
    several pairings are exactly equally good (identical centres), the one SciPy's
    solver returns first is used, which for all-equal costs pairs segments in index
    order.

    Examples
    --------
    >>> previous = [[0.0, 0.0], [5.0, 5.0]]
    >>> current = [[5.1, 4.9], [0.2, 0.0], [9.0, -9.0]]
    >>> match_segments(previous, current)
    {0: 1, 1: 0, 2: None}
    >>> match_segments(previous, current, max_distance=0.15)
    {0: 1, 1: None, 2: None}
    """
    prev = _centres(previous, "previous")
    cur = _centres(current, "current")
    if prev.shape[0] and cur.shape[0] and prev.shape[1] != cur.shape[1]:
        raise ClustomerError(
            "the two runs' segment centres have a different number of features "
            f"({prev.shape[1]} before, {cur.shape[1]} now); compare runs on the same features"
        )
    if max_distance is not None:
        max_distance = float(max_distance)
        if not max_distance >= 0:
            raise ClustomerError(f"max_distance must be zero or more; got {max_distance}")
    mapping: dict[int, int | None] = {j: None for j in range(cur.shape[0])}
    if prev.shape[0] == 0 or cur.shape[0] == 0:
        return mapping

    cost = cdist(cur, prev)  # rows: current segments, columns: previous segments
    allowed = np.ones_like(cost, dtype=bool) if max_distance is None else cost <= max_distance
    if not allowed.any():
        return mapping
    # a forbidden pair costs more than any whole assignment of allowed pairs, so the
    # solver pairs as many allowed segments as it can before it minimises the distance
    penalty = (float(cost[allowed].sum()) + 1.0) * 2.0
    rows, cols = linear_sum_assignment(np.where(allowed, cost, penalty))
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if allowed[r, c]:
            mapping[int(r)] = int(c)
    return mapping


def relabel(
    current_labels: ArrayLike,
    mapping: Mapping[int, int | None],
    previous_k: int,
) -> NDArray[np.int64]:
    """Renumber current segment labels so continuing segments keep their previous id.

    Parameters
    ----------
    current_labels : array-like of int
        Segment label of each customer in the current run (``-1``: not clustered).
    mapping : mapping of int to int or None
        From :func:`match_segments`: current segment -> previous segment, or ``None``.
    previous_k : int
        Number of segments of the previous run (its ids were ``0 .. previous_k - 1``).

    Returns
    -------
    ndarray of int64
        Labels where a matched segment carries its previous id, unmatched segments get
        new ids ``previous_k, previous_k + 1, ...`` in the order of their current index,
        and ``-1`` stays ``-1``. When *k* shrank, some previous ids are simply unused.

    Raises
    ------
    ClustomerError
        A label below ``-1`` or missing from ``mapping``, a mapping target outside
        ``0 .. previous_k - 1``, or two current segments mapped to one previous segment.

    Examples
    --------
    >>> relabel([0, 1, 2, -1, 1], {0: 1, 1: 0, 2: None}, previous_k=2).tolist()
    [1, 0, 2, -1, 0]
    """
    if isinstance(previous_k, bool) or not isinstance(previous_k, numbers.Integral):
        raise ClustomerError(f"previous_k must be a whole number; got {previous_k!r}")
    if previous_k < 0:
        raise ClustomerError(f"previous_k must be zero or more; got {previous_k}")
    raw = np.asarray(current_labels).reshape(-1)
    if raw.dtype.kind in "iu":
        labels = raw.astype(np.int64)
    elif raw.dtype.kind == "f" and np.isfinite(raw).all() and (raw == np.round(raw)).all():
        labels = raw.astype(np.int64)
    elif raw.size == 0:
        labels = np.empty(0, dtype=np.int64)
    else:
        raise ClustomerError("segment labels must be whole numbers")

    targets = [int(v) for v in mapping.values() if v is not None]
    bad = sorted({t for t in targets if not 0 <= t < previous_k})
    if bad:
        raise ClustomerError(
            f"the mapping points to segment(s) {', '.join(map(str, bad))}, "
            f"outside the previous run's 0 .. {previous_k - 1}"
        )
    if len(set(targets)) != len(targets):
        raise ClustomerError("the mapping sends two current segments to one previous segment")
    if (labels < -1).any():
        raise ClustomerError(
            f"segment labels must be -1 (not clustered) or 0 and up; got {int(labels.min())}"
        )
    present = {int(v) for v in np.unique(labels[labels >= 0])}
    unknown = sorted(present - {int(k) for k in mapping})
    if unknown:
        raise ClustomerError(
            f"the mapping has no entry for segment(s) {', '.join(map(str, unknown))}"
        )

    new_id: dict[int, int] = {}
    next_id = int(previous_k)
    for cur in sorted(int(k) for k in mapping):
        target = mapping[cur]
        if target is None:
            new_id[cur] = next_id
            next_id += 1
        else:
            new_id[cur] = int(target)
    out = labels.copy()
    for cur, target in new_id.items():
        out[labels == cur] = target
    return out
