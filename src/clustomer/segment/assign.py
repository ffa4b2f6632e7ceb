"""Put customers into the segments of a stored run, without refitting it.

A run stores its fitted model (:class:`~clustomer.segment.segmenter.CustomerSegmenter`
with the scaling, the centres or the method's own assignment rule) and the classifier
trained beside it. :func:`assign_customers` applies the stored segmenter to a fresh
feature table: a customer whose features have not changed gets exactly the segment the
run gave them; a new customer, or one with new orders, gets the segment their features
fall in now.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from clustomer.segment.run import run_segmentation
>>> rng = np.random.default_rng(0)
>>> n = 60
>>> freq = np.r_[rng.integers(6, 12, 20), np.ones(40, dtype=int)]
>>> f = pd.DataFrame({"customer_key": [f"c{i}" for i in range(n)],
...     "recency_days": np.r_[rng.uniform(0, 20, 20), rng.uniform(150, 400, 40)],
...     "frequency": freq, "monetary": freq * rng.uniform(20, 60, n),
...     "tenure_days": np.r_[rng.uniform(300, 700, 20), rng.uniform(150, 400, 40)]})
>>> cols = ["recency_days", "frequency", "monetary"]
>>> res = run_segmentation(f, n_clusters=2, feature_columns=cols)
>>> model = {"segmenter": res.model, "feature_columns": cols, "method": "kmeans",
...          "segment_names": dict(zip(res.profiles.segment_id, res.profiles.name))}
>>> out = assign_customers(model, f)
>>> bool((out["segment_id"].to_numpy() == res.assignments["segment_id"].to_numpy()).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError

__all__ = [
    "assign_buyers",
    "assign_customers",
    "check_buyer_features",
    "compare_with_run",
    "segment_name",
    "segment_names",
    "shown_ids",
    "UNKNOWN_COUNTRY",
]


def assign_customers(model: dict[str, Any], features: pd.DataFrame) -> pd.DataFrame:
    """Segment of each customer of ``features`` under a stored run's model.

    Parameters
    ----------
    model : dict
        What ``Workspace.segment`` stores: ``segmenter``, ``feature_columns``,
        ``segment_names`` (and ``method``, ``classifier``).
    features : DataFrame
        ``customer_key``, the feature columns (and ``country`` for k-prototypes).

    Returns
    -------
    DataFrame
        ``customer_key, segment_id, segment_name, probability`` — ``segment_id`` -1 and
        "Returns only" for customers without a purchase, -2 and "Unassigned" for those a
        density method puts in no segment; ``probability`` only for ``gmm``.

    Raises
    ------
    ClustomerError
        When the feature table lacks a column the run was fitted on.
    """
    cols = list(model["feature_columns"])
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ClustomerError(
            f"the run was fitted on {', '.join(missing)}, which these customers lack; "
            "segment them with the same --features as the run"
        )
    segmenter = model["segmenter"]
    n = len(features)
    freq = features["frequency"].to_numpy(dtype=np.float64, na_value=0.0)
    buyer = freq > 0
    X = features.loc[buyer, cols].to_numpy(dtype=np.float64, na_value=np.nan)
    check_buyer_features(cols, X)
    segment_id = np.full(n, -1, dtype=np.int64)
    probability = np.full(n, np.nan)
    if buyer.any():
        categories = None
        if getattr(segmenter, "categories_", None) is not None:
            countries = features.loc[buyer, "country"].fillna(UNKNOWN_COUNTRY)
            categories = countries.astype(str).to_numpy()
        segment_id[buyer], probability[buyer] = assign_buyers(model, X, categories)
    names = segment_names(model)
    name = np.array([segment_name(names, int(i)) for i in segment_id], dtype=object)
    return pd.DataFrame(
        {
            "customer_key": features["customer_key"].to_numpy(),
            "segment_id": segment_id,
            "segment_name": pd.Series(name, dtype="str"),
            "probability": probability,
        }
    )


#: The category of a customer without a country, for k-prototypes.
UNKNOWN_COUNTRY = "(unknown)"


def check_buyer_features(columns: list[str], X: np.ndarray) -> None:
    """Refuse a matrix of customers with purchases that lacks a value the model needs.

    >>> check_buyer_features(["a", "b"], np.array([[1.0, np.nan]]))
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: some customers with purchases have no value for b
    """
    if not np.isfinite(X).all():
        bad = [c for c, ok in zip(columns, np.isfinite(X).all(axis=0), strict=True) if not ok]
        raise ClustomerError(f"some customers with purchases have no value for {', '.join(bad)}")


def assign_buyers(
    model: dict[str, Any], X: np.ndarray, categories: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The core of :func:`assign_customers` on a matrix of customers with purchases.

    Parameters
    ----------
    model : dict
        As in :func:`assign_customers`.
    X : ndarray of shape (n, len(model["feature_columns"]))
        Finite features in the model's column order.
    categories : ndarray of str, optional
        Each row's country, for k-prototypes (:data:`UNKNOWN_COUNTRY` when missing).

    Returns
    -------
    segment_id, probability : ndarray
        The shown segment id (-2: in no segment) and, for ``gmm``, the probability of it.
    """
    segmenter = model["segmenter"]
    labels = np.asarray(segmenter.predict(X, categories=categories), dtype=np.int64)
    probability = np.full(len(labels), np.nan)
    if hasattr(segmenter, "predict_proba"):
        proba = segmenter.predict_proba(X)
        probability = proba[np.arange(len(labels)), np.maximum(labels, 0)]
    return shown_ids(model, labels), probability


def shown_ids(model: dict[str, Any], labels: np.ndarray) -> np.ndarray:
    """The segmenter's labels as the run's shown segment ids (-2: in no segment).

    >>> shown_ids({"id_map": {0: 1, 1: 0}}, np.array([0, 1, -1])).tolist()
    [1, 0, -2]
    """
    id_map = model.get("id_map") or {}
    shown = np.array([id_map.get(int(v), int(v)) for v in labels], dtype=np.int64)
    shown[np.asarray(labels) < 0] = -2
    return shown


def segment_names(model: dict[str, Any]) -> dict[int, str]:
    """The names of a stored run's segments, by segment id."""
    return {int(k): str(v) for k, v in model["segment_names"].items()}


def segment_name(names: dict[int, str], segment_id: int) -> str:
    """The name of a segment id of :func:`assign_customers` (``names``: :func:`segment_names`).

    >>> segment_name({0: "Loyal"}, 0), segment_name({0: "Loyal"}, -1)
    ('Loyal', 'Returns only')
    """
    if segment_id in names:
        return names[segment_id]
    return (
        "Unassigned"
        if segment_id == -2
        else "Returns only"
        if segment_id == -1
        else str(segment_id)
    )


def compare_with_run(assigned: pd.DataFrame, previous: pd.DataFrame) -> dict[str, int]:
    """Counts of new, moved and unchanged customers against the run's own assignments.

    >>> a = pd.DataFrame({"customer_key": ["x", "y", "z"], "segment_id": [0, 1, 1]})
    >>> p = pd.DataFrame({"customer_key": ["x", "y"], "segment_id": [0, 0]})
    >>> compare_with_run(a, p)
    {'customers': 3, 'new': 1, 'moved': 1, 'unchanged': 1}
    """
    merged = assigned[["customer_key", "segment_id"]].merge(
        previous[["customer_key", "segment_id"]],
        on="customer_key",
        how="left",
        suffixes=("", "_run"),
    )
    known = merged["segment_id_run"].notna()
    same = known & (merged["segment_id"] == merged["segment_id_run"])
    return {
        "customers": int(len(merged)),
        "new": int((~known).sum()),
        "moved": int((known & ~same).sum()),
        "unchanged": int(same.sum()),
    }
