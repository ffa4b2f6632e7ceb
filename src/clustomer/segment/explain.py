"""After a segmentation: plain rules per segment, and a classifier from features to segment.

:func:`explain_run` is what ``Workspace.segment`` calls once the segments are known. It
returns plain data for the run's ``details`` (and the report), plus the trained
classifier, which is stored with the run's model.

Both are fitted on at most :data:`EXPLAIN_ROWS` customers (a random sample): a depth-4
tree and a gradient-boosting classifier learn no more from 450,000 customers than from
50,000, and the full set would cost tens of seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clustomer.segment.classify import SegmentClassifier, train_segment_classifier
from clustomer.segment.result import SegmentationResult
from clustomer.segment.rules import SegmentRules, explain_segments

__all__ = ["EXPLAIN_ROWS", "explain_run"]

#: Customers the rules and the classifier learn from (a random sample above this).
EXPLAIN_ROWS = 50_000


def explain_run(
    features: pd.DataFrame,
    result: SegmentationResult,
    *,
    currency: str | None = None,
    random_state: int = 0,
) -> tuple[dict[str, Any], SegmentClassifier | None, SegmentRules | None]:
    """Rules and a classifier for the segmented customers of ``result``.

    Parameters
    ----------
    features : DataFrame
        The feature table the run clustered (rows aligned with ``result.assignments``).
    result : SegmentationResult
    currency : str, optional
        ISO code for the amounts in the rules' sentences.

    Returns
    -------
    details : dict
        ``{"rules": ..., "fidelity": ..., "classifier": {"cv_accuracy": ...}}`` (plain data).
    classifier : SegmentClassifier or None
        None when there is only one segment (nothing to tell apart).
    rules : SegmentRules or None

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from clustomer.segment.run import run_segmentation
    >>> rng = np.random.default_rng(0)
    >>> n = 120
    >>> freq = np.r_[rng.integers(6, 12, 40), np.ones(80, dtype=int)]
    >>> f = pd.DataFrame({"customer_key": [f"c{i}" for i in range(n)],
    ...     "recency_days": np.r_[rng.uniform(0, 20, 40), rng.uniform(150, 400, 80)],
    ...     "frequency": freq, "monetary": freq * rng.uniform(20, 60, n),
    ...     "tenure_days": np.r_[rng.uniform(300, 700, 40), rng.uniform(150, 400, 80)]})
    >>> res = run_segmentation(f, n_clusters=2, feature_columns=["recency_days", "frequency"])
    >>> details, clf, rules = explain_run(f, res)
    >>> details["fidelity"]
    1.0
    """
    labels = result.assignments["segment_id"].to_numpy()
    clustered = labels != -1  # returns-only customers were never clustered
    cols = list(result.feature_columns)
    table = features.loc[clustered].reset_index(drop=True)
    y = labels[clustered]
    if len(table) > EXPLAIN_ROWS:
        rng = np.random.default_rng(random_state)
        pick = np.sort(rng.choice(len(table), size=EXPLAIN_ROWS, replace=False))
        table, y = table.iloc[pick].reset_index(drop=True), y[pick]
    names = dict(
        zip(result.profiles["segment_id"].tolist(), result.profiles["name"].tolist(), strict=True)
    )
    names[-2] = "Unassigned"
    details: dict[str, Any] = {"explained_on": int(len(table))}
    if len(np.unique(y)) < 2:
        details["note"] = "one segment only: nothing to explain or classify"
        return details, None, None
    rules = explain_segments(table, y, names, cols, currency=currency, random_state=random_state)
    clf = train_segment_classifier(table, y, cols, random_state=random_state)
    details["rules"] = rules.to_dict()
    details["rules_text"] = rules.to_text()
    details["fidelity"] = round(float(rules.fidelity), 4)
    details["classifier"] = {
        "model": "HistGradientBoostingClassifier",
        "cv_accuracy": _round(clf.cv_accuracy_),
        "cv_accuracy_std": _round(clf.cv_accuracy_std_),
    }
    return details, clf, rules


def _round(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if not np.isfinite(v) else round(v, 4)
