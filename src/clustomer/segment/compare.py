"""Compare two segmentation runs: stable segment ids, and who moved where.

When the shop's data is refreshed and the segmentation re-run, two questions come up:

* *Is this still the same segment?* :func:`match_segments` pairs each new segment with
  the old one it continues (an optimal one-to-one assignment on the distances between
  segment centres), and :func:`relabel` renumbers the new labels so that a continuing
  segment keeps its old id (both in :mod:`clustomer.segment.matching`).
* *Who moved where?* :func:`transition_matrix` counts customers by (segment before) x
  (segment after), :func:`movements` turns the off-diagonal cells into plain sentences
  ("312 Loyal customers became At risk") (both in :mod:`clustomer.segment.transitions`),
  and :func:`compare_runs`, here, does both and adds the totals.

Segments are compared **by name** in the transition matrix: a customer "stayed" when the
segment name is the same in both runs (names are unique within a run). Every public name
of the two helper modules is importable from this one.

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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustomer.segment.matching import match_segments, relabel
from clustomer.segment.result import SegmentationResult
from clustomer.segment.transitions import (
    GONE,
    NEW,
    Movement,
    movement_sentence,
    movements,
    transition_matrix,
)

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
