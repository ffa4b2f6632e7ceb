"""Who moved where between two runs: the transition matrix and movement sentences.

:func:`transition_matrix` counts customers by (segment before) x (segment after),
:func:`movements` turns its off-diagonal cells into plain sentences ("312 Loyal customers
became At risk", see :func:`movement_sentence`). Segments are compared **by name**: a
customer "stayed" when the segment name is the same in both runs (names are unique
within a run). Everything here is re-exported by :mod:`clustomer.segment.compare`.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.segment.result import SegmentationResult

__all__ = [
    "GONE",
    "NEW",
    "Movement",
    "movement_sentence",
    "movements",
    "transition_matrix",
]

#: Row label of the transition matrix for customers found only in the later run.
NEW = "(new)"
#: Column label of the transition matrix for customers found only in the earlier run.
GONE = "(gone)"

_ASSIGNMENT_COLUMNS = ("customer_key", "segment_name")


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
