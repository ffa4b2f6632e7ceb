"""Compare two segmentation runs: stable segment ids, and who moved where.

When the shop's data is refreshed and the segmentation re-run, two questions come up:

* *Is this still the same segment?* :func:`match_segments` pairs each new segment with
  the old one it continues (an optimal one-to-one assignment on the distances between
  segment centres), and :func:`relabel` renumbers the new labels so that a continuing
  segment keeps its old id.
* *Who moved where?* :func:`transition_matrix` counts customers by (segment before) x
  (segment after), :func:`movements` turns the off-diagonal cells into plain sentences
  ("312 Loyal customers became At risk"), and :func:`compare_runs` does both and adds
  the totals.

Segments are compared **by name** in the transition matrix: a customer "stayed" when the
segment name is the same in both runs (names are unique within a run).

Examples
--------
>>> import pandas as pd
>>> before = pd.DataFrame({"customer_key": ["a", "b", "c"], "segment_id": [0, 0, 1],
...                        "segment_name": ["Loyal", "Loyal", "At risk"]})
>>> after = pd.DataFrame({"customer_key": ["a", "b", "c"], "segment_id": [0, 1, 1],
...                       "segment_name": ["Loyal", "At risk", "At risk"]})
>>> compare_runs(before, after, before_name="May", after_name="June").summary_sentence()
'Between May and June, 67% of customers stayed in their segment; 1 Loyal customer became At risk.'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from clustomer.errors import ClustomerError
from clustomer.segment.result import SegmentationResult

__all__ = [
    "GONE",
    "NEW",
    "Movement",
    "RunComparison",
    "compare_runs",
    "match_segments",
    "movement_sentence",
    "movements",
    "relabel",
    "transition_matrix",
]

#: Row label of the transition matrix for customers found only in the later run.
NEW = "(new)"
#: Column label of the transition matrix for customers found only in the earlier run.
GONE = "(gone)"

_ASSIGNMENT_COLUMNS = ("customer_key", "segment_name")


# --------------------------------------------------------------------------------------
# Stable segment ids
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Who moved where
# --------------------------------------------------------------------------------------


def _assignments(data: pd.DataFrame | SegmentationResult, which: str) -> pd.DataFrame:
    frame = data.assignments if isinstance(data, SegmentationResult) else data
    if not isinstance(frame, pd.DataFrame):
        raise ClustomerError(
            f"the {which} run must be a table of segment assignments; got {type(data).__name__}"
        )
    missing = [c for c in _ASSIGNMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ClustomerError(
            f"the {which} run's assignments lack the column(s) {', '.join(missing)}"
        )
    keys = frame["customer_key"]
    if keys.isna().any():
        raise ClustomerError(f"the {which} run has customers without a customer_key")
    dup = keys[keys.duplicated()]
    if len(dup):
        raise ClustomerError(
            f"the {which} run lists {dup.nunique()} customer(s) more than once; "
            "each customer must have one segment"
        )
    names = frame["segment_name"]
    if names.isna().any():
        raise ClustomerError(
            f"{int(names.isna().sum())} customer(s) of the {which} run have no segment name"
        )
    out = pd.DataFrame(
        {
            "customer_key": keys.astype(str).to_numpy(dtype=object),
            "segment_name": names.astype(str).to_numpy(dtype=object),
        }
    )
    clash = sorted({NEW, GONE} & set(out["segment_name"]))
    if clash:
        raise ClustomerError(
            f"the {which} run has a segment named {clash[0]}, which is reserved for "
            "customers found in only one run"
        )
    if "segment_id" in frame.columns:
        ids = pd.to_numeric(frame["segment_id"], errors="coerce")
        out["segment_id"] = ids.to_numpy(dtype=np.float64, na_value=np.nan)
    return out


def _segment_order(frame: pd.DataFrame) -> list[str]:
    """Names ordered by segment id (clustered first, then not clustered), else first seen."""
    names = frame["segment_name"]
    if "segment_id" not in frame.columns:
        return list(dict.fromkeys(names.tolist()))
    ids = frame.groupby("segment_name", sort=False)["segment_id"].min()
    clustered = sorted((float(i), str(n)) for n, i in ids.items() if not math.isnan(i) and i >= 0)
    others = sorted(str(n) for n, i in ids.items() if math.isnan(i) or i < 0)
    return [n for _, n in clustered] + others


def transition_matrix(
    before: pd.DataFrame | SegmentationResult,
    after: pd.DataFrame | SegmentationResult,
) -> pd.DataFrame:
    """Count customers by segment in the earlier run x segment in the later run.

    Parameters
    ----------
    before, after : DataFrame or SegmentationResult
        Segment assignments: one row per customer with ``customer_key`` and
        ``segment_name`` (``segment_id`` is used to order the segments when present).
        A :class:`SegmentationResult` stands for its ``assignments``.

    Returns
    -------
    DataFrame of int64
        Rows: the earlier run's segment names, then ``"(new)"`` (customers found only in
        the later run). Columns: the later run's segment names, then ``"(gone)"``
        (customers found only in the earlier run). The ``"(new)"`` row and ``"(gone)"``
        column are always there (zeros when nobody joined or left), so the whole table
        adds up to the number of customers in either run. Segments are ordered by
        segment id within their own run: clustered ones (id 0 and up) first, then those
        with id ``-1`` (such as ``"Returns only"``) alphabetically; without a
        ``segment_id`` column, in order of first appearance. The index is named
        ``"before"`` and the columns ``"after"``.

    Raises
    ------
    ClustomerError
        Missing columns (named), a customer listed twice or without a key or segment
        name, or a segment named ``"(new)"`` or ``"(gone)"``.

    Examples
    --------
    >>> import pandas as pd
    >>> before = pd.DataFrame({"customer_key": ["a", "b", "c"], "segment_id": [0, 1, 1],
    ...                        "segment_name": ["Loyal", "At risk", "At risk"]})
    >>> after = pd.DataFrame({"customer_key": ["a", "b", "d"], "segment_id": [0, 0, 1],
    ...                       "segment_name": ["At risk", "At risk", "Champions"]})
    >>> transition_matrix(before, after)  # doctest: +NORMALIZE_WHITESPACE
    after    At risk  Champions  (gone)
    before
    Loyal          1          0       0
    At risk        1          0       1
    (new)          0          1       0
    """
    b = _assignments(before, "earlier")
    a = _assignments(after, "later")
    rows = [*_segment_order(b), NEW]
    cols = [*_segment_order(a), GONE]
    merged = b[["customer_key", "segment_name"]].merge(
        a[["customer_key", "segment_name"]],
        on="customer_key",
        how="outer",
        suffixes=("_before", "_after"),
    )
    src = (
        merged["segment_name_before"]
        .astype(object)
        .where(merged["segment_name_before"].notna(), NEW)
    )
    dst = (
        merged["segment_name_after"]
        .astype(object)
        .where(merged["segment_name_after"].notna(), GONE)
    )
    counts = pd.crosstab(src.to_numpy(dtype=object), dst.to_numpy(dtype=object))
    matrix = counts.reindex(index=rows, columns=cols, fill_value=0).astype(np.int64)
    matrix.index = pd.Index(rows, dtype=object, name="before")
    matrix.columns = pd.Index(cols, dtype=object, name="after")
    return matrix


@dataclass(frozen=True)
class Movement:
    """Customers who went from one segment to another between two runs.

    Attributes
    ----------
    from_segment : str
        Segment name in the earlier run, or ``"(new)"``.
    to_segment : str
        Segment name in the later run, or ``"(gone)"``.
    customers : int
        How many customers made this move.
    sentence : str
        The move in plain words (see :func:`movement_sentence`).

    Examples
    --------
    >>> Movement("Loyal", "At risk", 312, "312 Loyal customers became At risk").customers
    312
    """

    from_segment: str
    to_segment: str
    customers: int
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON.

        >>> Movement("(new)", "Loyal", 2, "2 new customers joined Loyal").to_dict()["to_segment"]
        'Loyal'
        """
        return {
            "from_segment": self.from_segment,
            "to_segment": self.to_segment,
            "customers": int(self.customers),
            "sentence": self.sentence,
        }


def _is_plural_noun(name: str) -> bool:
    """Whether a segment name already ends in a plural noun ("Champions", "New customers")."""
    words = name.split()
    if not words:
        return False
    last = words[-1]
    return (
        len(last) > 2
        and last.isalpha()
        and last.endswith("s")
        and not last.lower().endswith(("ss", "us", "is"))
    )


def _customers_of(name: str, n: int) -> str:
    """ "312 Loyal customers", "1 Loyal customer", "12 Champions", "1 Champion"."""
    if _is_plural_noun(name):
        return f"{n:,} {name if n != 1 else name[:-1]}"
    return f"{n:,} {name} {'customer' if n == 1 else 'customers'}"


def movement_sentence(from_segment: str, to_segment: str, customers: int) -> str:
    """One movement in plain words.

    The rule for naming the customers: when the segment name's last word is already a
    plural noun (it ends in "s", but not "ss", "us" or "is": "Champions", "New
    customers", "Big spenders"), the name itself names the customers; otherwise
    "customers" is appended ("Loyal customers", "At risk customers"). For one customer
    the plural "s" is dropped ("1 Champion", "1 New customer") or "customer" is used.

    Parameters
    ----------
    from_segment : str
        Segment in the earlier run, or ``"(new)"``.
    to_segment : str
        Segment in the later run, or ``"(gone)"``.
    customers : int
        How many customers moved.

    Returns
    -------
    str

    Examples
    --------
    >>> movement_sentence("Loyal", "At risk", 312)
    '312 Loyal customers became At risk'
    >>> movement_sentence("Champions", "At risk", 1)
    '1 Champion became At risk'
    >>> movement_sentence("(new)", "Champions", 1085)
    '1,085 new customers joined Champions'
    >>> movement_sentence("Loyal", "(gone)", 1)
    '1 Loyal customer is no longer in the data'
    """
    n = int(customers)
    if from_segment == NEW:
        who = "new customer" if n == 1 else "new customers"
        return f"{n:,} {who} joined {to_segment}"
    if to_segment == GONE:
        verb = "is" if n == 1 else "are"
        return f"{_customers_of(from_segment, n)} {verb} no longer in the data"
    return f"{_customers_of(from_segment, n)} became {to_segment}"


def movements(
    matrix: pd.DataFrame,
    *,
    top: int | None = 5,
    min_customers: int = 1,
) -> list[Movement]:
    """The biggest moves between segments in a transition matrix, in plain words.

    Parameters
    ----------
    matrix : DataFrame
        From :func:`transition_matrix`.
    top : int or None, default=5
        Keep at most this many movements; ``None`` keeps them all.
    min_customers : int, default=1
        Leave out moves of fewer customers than this (at least 1).

    Returns
    -------
    list of Movement
        Off-diagonal cells only (a customer whose segment name is the same in both runs
        stayed), largest first; equal counts keep the matrix order (row, then column).

    Raises
    ------
    ClustomerError
        A negative ``top`` or a ``min_customers`` below 1.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame([[500, 312, 7], [40, 90, 0], [85, 0, 0]],
    ...                  index=["Loyal", "At risk", "(new)"],
    ...                  columns=["Loyal", "At risk", "(gone)"])
    >>> for mv in movements(m, top=3):
    ...     print(mv.sentence)
    312 Loyal customers became At risk
    85 new customers joined Loyal
    40 At risk customers became Loyal
    """
    if top is not None and (
        isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 0
    ):
        raise ClustomerError(f"top must be a whole number, zero or more; got {top!r}")
    if isinstance(min_customers, bool) or not isinstance(min_customers, numbers.Integral):
        raise ClustomerError(f"min_customers must be a whole number; got {min_customers!r}")
    if min_customers < 1:
        raise ClustomerError(f"min_customers must be at least 1; got {min_customers}")
    values = matrix.to_numpy()
    found: list[tuple[int, int, int, str, str]] = []
    for i, src in enumerate(matrix.index):
        for j, dst in enumerate(matrix.columns):
            s, d = str(src), str(dst)
            if s == d or (s == NEW and d == GONE):
                continue
            n = int(values[i, j])
            if n >= min_customers:
                found.append((-n, i, j, s, d))
    found.sort()
    if top is not None:
        found = found[: int(top)]
    return [Movement(s, d, -neg, movement_sentence(s, d, -neg)) for neg, _, _, s, d in found]


# --------------------------------------------------------------------------------------
# Whole comparison
# --------------------------------------------------------------------------------------


@dataclass
class RunComparison:
    """How customers' segments changed between two runs.

    Attributes
    ----------
    before_name, after_name : str
        What to call the two runs in sentences.
    matrix : DataFrame
        From :func:`transition_matrix`.
    movements : list of Movement
        The biggest moves (see :func:`movements`), largest first.
    stayed : int
        Customers in both runs with the same segment name in each.
    moved : int
        Customers in both runs whose segment name changed.
    new : int
        Customers found only in the later run.
    gone : int
        Customers found only in the earlier run.
    share_stayed : float or None
        ``stayed / (stayed + moved)``: the share of the customers present in both runs
        who stayed; ``None`` when no customer is in both.

    Examples
    --------
    >>> import pandas as pd
    >>> m = pd.DataFrame([[3, 1, 0], [0, 0, 0]], index=["Loyal", "(new)"],
    ...                  columns=["Loyal", "At risk", "(gone)"])
    >>> cmp = RunComparison(matrix=m, movements=movements(m), stayed=3, moved=1, new=0,
    ...                     gone=0, share_stayed=0.75, before_name="May", after_name="June")
    >>> print(cmp.summary_sentence())
    Between May and June, 75% of customers stayed in their segment; 1 Loyal customer became At risk.
    """

    matrix: pd.DataFrame
    movements: list[Movement]
    stayed: int
    moved: int
    new: int
    gone: int
    share_stayed: float | None
    before_name: str = "run A"
    after_name: str = "run B"

    @property
    def sentences(self) -> list[str]:
        """The movements' sentences, largest move first."""
        return [m.sentence for m in self.movements]

    def summary_sentence(self) -> str:
        """The comparison in one sentence: the share who stayed, then the biggest moves.

        The share is rounded to a whole percent, but never shown as 100% when anyone
        moved, nor as 0% when anyone stayed.

        Examples
        --------
        >>> import pandas as pd
        >>> m = pd.DataFrame([[0, 0], [4, 0]], index=["Loyal", "(new)"],
        ...                  columns=["Loyal", "(gone)"])
        >>> RunComparison(matrix=m, movements=movements(m), stayed=0, moved=0, new=4,
        ...               gone=0, share_stayed=None).summary_sentence()
        'Between run A and run B, no customer was in both runs; 4 new customers joined Loyal.'
        """
        head = f"Between {self.before_name} and {self.after_name}, "
        if self.share_stayed is None:
            head += "no customer was in both runs"
        else:
            pct = round(100 * self.share_stayed)
            if self.moved > 0:
                pct = min(pct, 99)
            if self.stayed > 0:
                pct = max(pct, 1)
            head += f"{pct}% of customers stayed in their segment"
        return "; ".join([head, *self.sentences]) + "."

    def to_dict(self) -> dict[str, Any]:
        """Plain data, ready for :func:`json.dumps`.

        Examples
        --------
        >>> import json, pandas as pd
        >>> m = pd.DataFrame([[3, 1, 0], [0, 0, 0]], index=["Loyal", "(new)"],
        ...                  columns=["Loyal", "At risk", "(gone)"])
        >>> d = RunComparison(matrix=m, movements=movements(m), stayed=3, moved=1, new=0,
        ...                   gone=0, share_stayed=0.75).to_dict()
        >>> d["matrix"]["rows"], d["matrix"]["columns"], d["matrix"]["counts"]
        (['Loyal', '(new)'], ['Loyal', 'At risk', '(gone)'], [[3, 1, 0], [0, 0, 0]])
        >>> json.loads(json.dumps(d))["sentences"]
        ['1 Loyal customer became At risk']
        """
        return {
            "before_name": self.before_name,
            "after_name": self.after_name,
            "matrix": {
                "rows": [str(r) for r in self.matrix.index],
                "columns": [str(c) for c in self.matrix.columns],
                "counts": [[int(v) for v in row] for row in self.matrix.to_numpy().tolist()],
            },
            "movements": [m.to_dict() for m in self.movements],
            "sentences": list(self.sentences),
            "stayed": int(self.stayed),
            "moved": int(self.moved),
            "new": int(self.new),
            "gone": int(self.gone),
            "share_stayed": None if self.share_stayed is None else float(self.share_stayed),
            "summary": self.summary_sentence(),
        }


def compare_runs(
    before_assignments: pd.DataFrame | SegmentationResult,
    after_assignments: pd.DataFrame | SegmentationResult,
    *,
    before_name: str = "run A",
    after_name: str = "run B",
    top: int | None = 5,
    min_customers: int = 1,
) -> RunComparison:
    """Compare two segmentation runs customer by customer.

    Parameters
    ----------
    before_assignments, after_assignments : DataFrame or SegmentationResult
        Segment assignments of the earlier and the later run (``customer_key``,
        ``segment_name``, optionally ``segment_id``).
    before_name, after_name : str
        What to call the runs in the summary sentence.
    top : int or None, default=5
        How many movements to keep (``None``: all).
    min_customers : int, default=1
        Leave out movements of fewer customers.

    Returns
    -------
    RunComparison

    Raises
    ------
    ClustomerError
        As :func:`transition_matrix` and :func:`movements`.

    Examples
    --------
    >>> import pandas as pd
    >>> before = pd.DataFrame({"customer_key": ["a", "b", "c"],
    ...                        "segment_name": ["Champions", "Champions", "Loyal"]})
    >>> after = pd.DataFrame({"customer_key": ["a", "b", "d"],
    ...                       "segment_name": ["Champions", "At risk", "Champions"]})
    >>> cmp = compare_runs(before, after, before_name="May", after_name="June")
    >>> cmp.stayed, cmp.moved, cmp.new, cmp.gone
    (1, 1, 1, 1)
    >>> for sentence in cmp.sentences:
    ...     print(sentence)
    1 Champion became At risk
    1 Loyal customer is no longer in the data
    1 new customer joined Champions
    """
    matrix = transition_matrix(before_assignments, after_assignments)
    values = matrix.to_numpy(dtype=np.int64)
    rows = [str(r) for r in matrix.index]
    cols = [str(c) for c in matrix.columns]
    new = int(values[rows.index(NEW)].sum())
    gone = int(values[:, cols.index(GONE)].sum())
    common = int(values.sum()) - new - gone
    col_of = {c: j for j, c in enumerate(cols)}
    stayed = sum(int(values[i, col_of[r]]) for i, r in enumerate(rows) if r in col_of)
    return RunComparison(
        matrix=matrix,
        movements=movements(matrix, top=top, min_customers=min_customers),
        stayed=stayed,
        moved=common - stayed,
        new=new,
        gone=gone,
        share_stayed=stayed / common if common else None,
        before_name=before_name,
        after_name=after_name,
    )
