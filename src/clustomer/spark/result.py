"""A :class:`~clustomer.segment.result.SegmentationResult` from a Spark-fitted segmenter.

Everything after the fit is the local code: the checks and the RFM-rules path for tiny
shops (:func:`clustomer.segment.run.run_segmentation` itself), the profiles and names
(:func:`~clustomer.segment.profile.profile_segments`), the RFM scores, each segment's
stability, the PCA map and the confidence, through the helpers of
:mod:`clustomer.segment.run`. Only the fit is different (:mod:`clustomer.spark.kmeans`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError

if TYPE_CHECKING:
    from clustomer.segment.result import SegmentationResult
    from clustomer.segment.segmenter import CustomerSegmenter

__all__ = ["FitFn", "segment_features"]

#: ``fit(X, n_clusters) -> fitted CustomerSegmenter`` for the customers with purchases.
FitFn = Callable[["np.ndarray[Any, Any]", "int | None"], "CustomerSegmenter"]


def segment_features(
    features: pd.DataFrame,
    fit: FitFn,
    *,
    n_clusters: int | None = None,
    feature_columns: Sequence[str],
    random_state: int = 0,
    projection_size: int = 3000,
) -> SegmentationResult:
    """Segment ``features`` (one row per customer) with the segmenter ``fit`` returns.

    The same contract as :func:`clustomer.segment.run.run_segmentation` with
    ``method="kmeans"`` (same errors, the RFM rules below 30 customers with purchases).

    Examples
    --------
    >>> from clustomer.segment.segmenter import CustomerSegmenter
    >>> f = pd.DataFrame({"customer_key": list("abcdef"), "recency_days": [1.0] * 6,
    ...                   "frequency": [1, 1, 2, 9, 9, 0], "monetary": [5.0, 6, 9, 90, 99, 0],
    ...                   "tenure_days": [9.0] * 6})
    >>> fit = lambda X, k: CustomerSegmenter(n_clusters=k).fit(X)
    >>> r = segment_features(f, fit, n_clusters=2, feature_columns=["frequency", "monetary"])
    >>> r.profiles["size"].tolist(), r.assignments["segment_id"].tolist()
    ([3, 2], [0, 0, 0, 1, 1, -1])
    """
    from clustomer.segment.criteria import LOW_STABILITY
    from clustomer.segment.profile import profile_segments
    from clustomer.segment.result import SegmentationResult
    from clustomer.segment.rfm import rfm_scores
    from clustomer.segment.run import (
        MIN_CLUSTER_CUSTOMERS,
        NO_PURCHASES,
        RETURNS_ONLY,
        _actual_k,
        _check_columns,
        _projection,
        _rfm_counts,
        _stability_by_segment,
        confidence,
        run_segmentation,
    )

    cols = list(feature_columns)
    if not cols:
        raise ClustomerError("no feature columns to cluster on")
    _check_columns(features, cols)
    buyer = features["frequency"].to_numpy(dtype=np.float64, na_value=0.0) > 0
    n_buyers = int(buyer.sum())
    if n_buyers < MIN_CLUSTER_CUSTOMERS:  # the checks and the RFM rules: the local code
        return run_segmentation(
            features, n_clusters=n_clusters, feature_columns=cols, random_state=random_state
        )
    if n_clusters is not None and not 2 <= int(n_clusters) <= n_buyers:
        raise ClustomerError(
            f"the number of segments must be between 2 and {n_buyers} "
            f"(the customers with purchases); got {n_clusters}"
        )
    buyers = features.loc[buyer].reset_index(drop=True)
    X = buyers[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = [c for c, ok in zip(cols, np.isfinite(X).all(axis=0), strict=True) if not ok]
    if bad:
        raise ClustomerError(
            f"some customers with purchases have no value for {', '.join(bad)}; "
            "leave these features out of the clustering"
        )
    try:
        model = fit(X, n_clusters)
    except ValueError as exc:
        raise ClustomerError(str(exc)) from None
    labels = np.asarray(model.labels_, dtype=np.int64)

    profiles = profile_segments(buyers, labels, feature_columns=cols)
    profiles["stability"] = _stability_by_segment(model, len(profiles))
    profiles["unstable"] = profiles["stability"] < LOW_STABILITY
    if len(profiles) == 1:
        profiles["name"] = "All customers"
        profiles["description"] = "the customers look alike on these features"
    names = dict(zip(profiles["segment_id"].tolist(), profiles["name"].tolist(), strict=True))
    rfm = rfm_scores(buyers)
    n = len(features)
    segment_id = np.full(n, -1, dtype=np.int64)
    segment_id[buyer] = labels
    segment_name = np.full(n, RETURNS_ONLY, dtype=object)
    segment_name[buyer] = [names.get(int(i), "") for i in labels]
    rfm_segment = np.full(n, NO_PURCHASES, dtype=object)
    rfm_segment[buyer] = rfm["rfm_segment"].to_numpy(dtype=object)
    assignments = pd.DataFrame(
        {
            "customer_key": features["customer_key"].to_numpy(),
            "segment_id": segment_id,
            "segment_name": pd.Series(segment_name, dtype="str"),
            "rfm_segment": pd.Series(rfm_segment, dtype="str"),
        }
    )
    projection, explained = _projection(
        model, X, buyers["customer_key"], labels, size=projection_size, random_state=random_state
    )
    monetary = features["monetary"].to_numpy(dtype=np.float64, na_value=np.nan)
    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k_selection=_actual_k(model),
        projection=projection,
        feature_columns=cols,
        rfm_counts=_rfm_counts(assignments, monetary),
        explained_variance=explained,
        method="kmeans",
        model=model,
        confidence=confidence(n_buyers, profiles),
    )
