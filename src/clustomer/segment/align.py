"""Stable segment ids across runs: a refreshed run keeps the ids of the segments it continues.

When the data is refreshed and the customers segmented again, k-means (or any method)
numbers its segments afresh. :func:`align_with_previous` matches the new segments to the
previous run's by the Hungarian assignment on their centres
(:func:`clustomer.segment.compare.match_segments`), both expressed in the new run's
clustering space, and renumbers the new run so that a matched segment takes its old id;
segments without a partner get new ids after the previous largest one.

The previous centres are carried into the new space through the original units: undo the
previous scaling (standardisation, then the signed ``log1p``), apply the new one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from clustomer.segment.compare import match_segments
from clustomer.segment.result import SegmentationResult

__all__ = ["align_with_previous", "centers_in_original_units"]


def centers_in_original_units(segmenter: Any) -> NDArray[np.float64]:
    """A fitted segmenter's centres in the features' own units.

    >>> import numpy as np
    >>> from clustomer.segment.segmenter import CustomerSegmenter
    >>> X = np.array([[1.0, 10], [1.2, 11], [50, 900], [55, 1000]])
    >>> m = CustomerSegmenter(n_clusters=2, n_boot=0).fit(X)
    >>> centers_in_original_units(m).round(0).tolist()
    [[1.0, 10.0], [52.0, 949.0]]
    """
    z = segmenter.scaler_.inverse_transform(segmenter.cluster_centers_)
    if segmenter.log_transform:
        z = np.sign(z) * np.expm1(np.abs(z))
    return np.asarray(z, dtype=np.float64)


def _to_space(segmenter: Any, original: NDArray[np.float64]) -> NDArray[np.float64]:
    z = np.sign(original) * np.log1p(np.abs(original)) if segmenter.log_transform else original
    return np.asarray(segmenter.scaler_.transform(z), dtype=np.float64)


def align_with_previous(
    result: SegmentationResult, previous: Any, previous_ids: dict[int, int] | None = None
) -> tuple[SegmentationResult, dict[int, int]]:
    """Renumber ``result``'s segments after those of a previous run's segmenter.

    Parameters
    ----------
    result : SegmentationResult
        The new run (segment ids 0..k-1; -1 returns only, -2 unassigned stay).
    previous : CustomerSegmenter
        The previous run's fitted segmenter, on the same feature columns.
    previous_ids : dict, optional
        The previous run's own map from its model's segment index to the id it showed
        (when it was aligned in turn); identity by default.

    Returns
    -------
    result : SegmentationResult
        With ``assignments``, ``profiles`` and ``projection`` renumbered.
    id_map : dict
        New internal id (as the model predicts it) -> id shown and stored.
    """
    new_model = result.model
    k_new = int(new_model.n_clusters_)
    identity = {i: i for i in range(k_new)}
    prev_centers = centers_in_original_units(previous)
    if prev_centers.shape[1] != new_model.cluster_centers_.shape[1]:
        return result, identity
    in_new_space = _to_space(new_model, prev_centers)
    mapping = match_segments(in_new_space, new_model.cluster_centers_)
    shown = {int(k): int(v) for k, v in (previous_ids or {}).items()}
    shown_prev = {j: shown.get(j, j) for j in range(len(prev_centers))}
    next_id = max(shown_prev.values(), default=-1) + 1
    id_map = {}
    for i in range(k_new):
        partner = mapping.get(i)
        if partner is not None:
            id_map[i] = shown_prev[int(partner)]
        else:
            id_map[i], next_id = next_id, next_id + 1
    if id_map == identity:
        return result, identity

    def renumber(values: pd.Series) -> pd.Series:
        arr = values.to_numpy(dtype=np.int64)
        out = arr.copy()
        for old, new in id_map.items():
            out[arr == old] = new
        return pd.Series(out, index=values.index)

    assignments = result.assignments.copy()
    assignments["segment_id"] = renumber(assignments["segment_id"])
    profiles = result.profiles.copy()
    profiles["segment_id"] = renumber(profiles["segment_id"])
    profiles = profiles.sort_values("segment_id").reset_index(drop=True)
    projection = result.projection.copy()
    if len(projection):
        projection["segment_id"] = renumber(projection["segment_id"])
    probabilities = result.probabilities
    if probabilities is not None:
        probabilities = probabilities.rename(
            columns={f"p_{old}": f"p_{new}" for old, new in id_map.items()}
        )
    return (
        replace(
            result,
            assignments=assignments,
            profiles=profiles,
            projection=projection,
            probabilities=probabilities,
        ),
        id_map,
    )
