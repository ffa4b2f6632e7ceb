"""Segmentation: k-means with automatic *k*, segment names, RFM scores.

The entry point is :func:`run_segmentation`; :class:`CustomerSegmenter` is the
scikit-learn compatible model underneath.

Examples
--------
>>> from clustomer.segment import CustomerSegmenter, RFM_SEGMENTS
>>> len(RFM_SEGMENTS)
10
"""

from clustomer.segment.choose_k import (
    SILHOUETTE_TOLERANCE,
    KCurves,
    choose_k,
    forced_k_selection,
    k_curves,
    knee_point,
    select_k,
)
from clustomer.segment.profile import PROTOTYPES, describe, name_segments, profile_segments
from clustomer.segment.result import (
    CLUSTER_FEATURES,
    FEATURE_COLUMNS,
    KSelection,
    SegmentationResult,
)
from clustomer.segment.rfm import RFM_SEGMENTS, rfm_scores, rfm_segment_name
from clustomer.segment.run import NO_PURCHASES, RETURNS_ONLY, run_segmentation
from clustomer.segment.segmenter import CustomerSegmenter, segment_customers, signed_log1p

__all__ = [
    "CLUSTER_FEATURES",
    "FEATURE_COLUMNS",
    "NO_PURCHASES",
    "PROTOTYPES",
    "RETURNS_ONLY",
    "RFM_SEGMENTS",
    "SILHOUETTE_TOLERANCE",
    "CustomerSegmenter",
    "KCurves",
    "KSelection",
    "SegmentationResult",
    "choose_k",
    "describe",
    "forced_k_selection",
    "k_curves",
    "knee_point",
    "name_segments",
    "profile_segments",
    "rfm_scores",
    "rfm_segment_name",
    "run_segmentation",
    "segment_customers",
    "select_k",
    "signed_log1p",
]
