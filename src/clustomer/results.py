"""What the workspace's calls return: a stored segmentation run, an assignment outcome.

Plain containers with ``to_dict``/``summary`` for the CLI's ``--json`` and the report;
:class:`~clustomer.workspace.Workspace` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from clustomer.features.sets import FeatureSet
    from clustomer.segment.result import SegmentationResult
    from clustomer.store.imports import ImportSummary


def _maybe(value: Any) -> float | None:
    """A float for JSON, None for missing or NaN."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return None if np.isnan(v) else round(v, 4)


@dataclass
class SegmentRun:
    """One stored segmentation run with everything needed to write its outputs."""

    run_id: int
    as_of: datetime
    result: SegmentationResult
    features: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    feature_set: FeatureSet | None = None
    #: plain data: feature groups and pruning, rules and fidelity, classifier accuracy
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return self.result.k_selection.chosen_k

    def table(self) -> pd.DataFrame:
        """One row per customer: key, segment id and name, RFM segment, then the features.

        This is what ``segments.csv`` holds.
        """
        from clustomer.segment.result import FEATURE_COLUMNS
        from clustomer.store.values import VALUE_COLUMNS

        extra = [c for c in self.result.feature_columns if c not in FEATURE_COLUMNS]
        value = [c for c in VALUE_COLUMNS if c in self.features.columns]
        cols = ["customer_key", *value, *FEATURE_COLUMNS, *extra, "country"]
        cols = [c for c in cols if c in self.features.columns]
        assigned = self.result.assignments.reset_index(drop=True)
        feats = self.features[cols].reset_index(drop=True)
        keys = assigned["customer_key"]
        if len(keys) == len(feats) and keys.equals(feats["customer_key"]):
            # the usual case: assignments follow the feature rows; no join needed
            table = pd.concat([assigned, feats.drop(columns="customer_key")], axis=1)
        else:
            table = assigned.merge(feats, on="customer_key", how="left", validate="one_to_one")
        if table["customer_key"].is_monotonic_increasing:  # features come sorted by key
            order = np.argsort(table["segment_id"].to_numpy(), kind="stable")
            return table.take(order).reset_index(drop=True)
        return table.sort_values(["segment_id", "customer_key"], kind="stable").reset_index(
            drop=True
        )

    def summary(self) -> dict[str, Any]:
        """Plain data for ``--json`` and logs: k, why, and each segment's size and shares."""
        prof = self.result.profiles
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.date().isoformat(),
            "customers": int(len(self.result.assignments)),
            "customers_segmented": int(prof["size"].sum()),
            "returns_only": int((self.result.assignments["segment_id"] == -1).sum()),
            "unassigned": int((self.result.assignments["segment_id"] == -2).sum()),
            "k": self.k,
            "k_reason": self.result.k_selection.reason,
            "method": self.result.method,
            "fidelity": self.details.get("fidelity"),
            "value": self.details.get("value"),
            "confidence": self.result.confidence,
            "cv_accuracy": (self.details.get("classifier") or {}).get("cv_accuracy"),
            "features": self.feature_set.to_dict() if self.feature_set else None,
            "segments": [
                {
                    "id": int(r["segment_id"]),
                    "name": str(r["name"]),
                    "description": str(r["description"]),
                    "size": int(r["size"]),
                    "share_customers": round(float(r["share_customers"]), 4),
                    "share_revenue": round(float(r["share_revenue"]), 4),
                    "stability": _maybe(r.get("stability")),
                    "clv_12m_total": _maybe(r.get("clv_12m_total")),
                    "unstable": bool(r.get("unstable", False)),
                }
                for r in prof.to_dict("records")
            ],
            "rfm_segments": {
                str(r["rfm_segment"]): int(r["customers"])
                for r in self.result.rfm_counts.to_dict("records")
            },
        }


@dataclass
class AssignOutcome:
    """What ``clustomer assign`` did: the run used, each customer's segment, the counts."""

    run_id: int
    as_of: datetime
    assigned: pd.DataFrame
    counts: dict[str, int]
    imported: ImportSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json`` (segment sizes, never customer keys)."""
        sizes = self.assigned.groupby("segment_name").size().sort_values(ascending=False)
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.date().isoformat(),
            **self.counts,
            "segments": {str(k): int(v) for k, v in sizes.items()},
            "import": self.imported.to_dict() if self.imported else None,
        }


def with_value_totals(result: SegmentationResult, values: pd.DataFrame) -> SegmentationResult:
    """Per-segment totals of expected 90-day revenue and 12-month CLV, on the profiles."""
    from dataclasses import replace

    joined = result.assignments[["customer_key", "segment_id"]].merge(
        values, on="customer_key", how="left"
    )
    totals = joined.groupby("segment_id")[["expected_revenue_90d", "clv_12m"]].sum()
    profiles = result.profiles.merge(
        totals.rename(columns=lambda c: f"{c}_total"),
        left_on="segment_id",
        right_index=True,
        how="left",
    )
    return replace(result, profiles=profiles)
