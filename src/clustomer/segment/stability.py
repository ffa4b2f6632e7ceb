"""Reading per-segment bootstrap stabilities (Hennig 2007).

A segment's stability is the mean bootstrap Jaccard similarity computed by
:func:`clustomer.segment.criteria.k_criteria` (``segment_stability``). Hennig's reading: a
cluster with a Jaccard similarity of 0.5 or less has *dissolved*; a mean of 0.6-0.75
indicates a pattern whose members are doubtful; 0.75 or more is stable, 0.85 or more
highly stable. :func:`flag_unstable` lists the segments below :data:`LOW_STABILITY`,
:func:`stability_label` names the band. Both are re-exported by
:mod:`clustomer.segment.criteria`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["LOW_STABILITY", "flag_unstable", "stability_label"]

#: Segments whose mean bootstrap Jaccard similarity is below this are flagged as unstable
#: (Hennig 2007: below 0.6 a cluster "should not be trusted").
LOW_STABILITY = 0.6


def flag_unstable(
    segment_stability: Sequence[float], threshold: float = LOW_STABILITY
) -> list[int]:
    """Positions of the segments whose stability is below ``threshold`` (or unknown).

    Parameters
    ----------
    segment_stability : sequence of float
        Mean bootstrap Jaccard similarities, one per segment (e.g.
        ``crit.segment_stability[k]``); ``nan`` (never seen in a resample) counts as
        unstable.
    threshold : float, default :data:`LOW_STABILITY`

    Returns
    -------
    list of int
        Increasing positions into ``segment_stability``.

    Examples
    --------
    >>> flag_unstable([0.95, 0.41, 0.6, float("nan"), 0.59])
    [1, 3, 4]
    """
    return [i for i, v in enumerate(segment_stability) if not (math.isfinite(v) and v >= threshold)]


def stability_label(jaccard: float) -> str:
    """Hennig's (2007) reading of a segment's mean bootstrap Jaccard similarity.

    Parameters
    ----------
    jaccard : float

    Returns
    -------
    str
        ``"highly stable"`` (>= 0.85), ``"stable"`` (>= 0.75), ``"a pattern"``
        (>= 0.6), ``"not to be trusted"`` (> 0.5), ``"dissolved"`` (<= 0.5) or
        ``"unknown"`` (nan).

    Examples
    --------
    >>> [stability_label(v) for v in (0.9, 0.8, 0.65, 0.55, 0.3)]
    ['highly stable', 'stable', 'a pattern', 'not to be trusted', 'dissolved']
    """
    if not math.isfinite(jaccard):
        return "unknown"
    if jaccard >= 0.85:
        return "highly stable"
    if jaccard >= 0.75:
        return "stable"
    if jaccard >= LOW_STABILITY:
        return "a pattern"
    if jaccard > 0.5:
        return "not to be trusted"
    return "dissolved"
