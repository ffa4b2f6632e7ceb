"""Plain result types shared by the segmentation code and its consumers (store, report)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# the columns of the per-customer feature table, defined beside the feature SQL
from clustomer.features.customer import FEATURE_COLUMNS as FEATURE_COLUMNS

#: Numeric features the clustering uses by default. ``mean_days_between_orders`` is left
#: out because it is undefined for one-order customers (most of a small shop's base).
CLUSTER_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_order_value",
    "return_rate",
    "distinct_products",
)


@dataclass
class KSelection:
    """How the number of segments was chosen.

    ``ks`` are the candidates; ``inertia`` and ``silhouette`` are aligned with them
    (computed on a sample of ``sample_size`` customers). ``reason`` is a plain sentence.
    """

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    elbow_k: int | None
    best_silhouette_k: int | None
    chosen_k: int
    reason: str
    sample_size: int
    forced: bool = False
    #: every criterion of :func:`clustomer.segment.criteria.k_criteria`, as plain data
    criteria: dict[str, Any] | None = None
    #: stability (mean Jaccard, Hennig 2007) of each segment of the chosen k, in the
    #: order of the sample fit's segments (None when not computed)
    segment_stability: list[float | None] | None = None
    #: centres of the sample fit at the chosen k (scaled space), to match the stabilities
    #: to the final segments; not stored
    sample_centers: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def from_criteria(cls, crit: Any) -> KSelection:
        """Build from a :class:`clustomer.segment.criteria.KCriteria`."""
        data = crit.to_dict()
        stab = data["segment_stability"].get(str(crit.chosen_k))
        return cls(
            ks=list(data["ks"]),
            inertia=[float("nan") if v is None else v for v in data["inertia"]],
            silhouette=[float("nan") if v is None else v for v in data["silhouette"]],
            elbow_k=crit.elbow_k,
            best_silhouette_k=crit.best_silhouette_k,
            chosen_k=int(crit.chosen_k),
            reason=crit.reason,
            sample_size=int(crit.sample_size),
            forced=bool(crit.forced),
            criteria=data,
            segment_stability=stab,
            sample_centers=crit.centers.get(crit.chosen_k),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ks": list(self.ks),
            "inertia": [float(v) for v in self.inertia],
            "silhouette": [float(v) for v in self.silhouette],
            "elbow_k": self.elbow_k,
            "best_silhouette_k": self.best_silhouette_k,
            "chosen_k": self.chosen_k,
            "reason": self.reason,
            "sample_size": self.sample_size,
            "forced": self.forced,
            "criteria": self.criteria,
            "segment_stability": self.segment_stability,
        }


@dataclass
class SegmentationResult:
    """Everything one segmentation run produces, as plain pandas objects.

    Attributes
    ----------
    assignments : DataFrame
        One row per customer: ``customer_key, segment_id, segment_name, rfm_segment``.
        Customers with no purchase (returns only) get ``segment_id == -1``.
    profiles : DataFrame
        One row per segment: ``segment_id, name, description, size, share_customers,
        share_revenue`` then ``median_<feature>`` for each feature.
    k_selection : KSelection
    projection : DataFrame
        ``customer_key, segment_id, x, y``: a 2-D PCA of (at most a few thousand sampled)
        customers in the scaled feature space, for plotting.
    feature_columns : list of str
        The features the clustering used.
    rfm_counts : DataFrame
        ``rfm_segment, customers, share_customers, share_revenue``.
    method : str
    probabilities : DataFrame or None
    model : CustomerSegmenter
    """

    assignments: pd.DataFrame
    profiles: pd.DataFrame
    k_selection: KSelection
    projection: pd.DataFrame
    feature_columns: list[str]
    rfm_counts: pd.DataFrame
    explained_variance: list[float] = field(default_factory=list)
    #: the method that ran (``kmeans`` turns into ``minibatch`` on many customers)
    method: str = "kmeans"
    #: membership probabilities per segment (``gmm`` only): ``p_0..p_{k-1}, customer_key``
    probabilities: pd.DataFrame | None = None
    #: the fitted :class:`~clustomer.segment.segmenter.CustomerSegmenter` (None for the
    #: RFM rules used when there are too few customers)
    model: Any = None
    #: ``{"label": "high" | "medium" | "low" | "rules only", "reason": sentence}``
    confidence: dict[str, str] = field(default_factory=dict)
