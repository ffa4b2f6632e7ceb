"""Segments of a shop that has customers but no orders: clustered on their attributes.

A workspace holding only a ``customers`` table (age, income, ... — ``docs/formats.md``)
is segmented on the ``demographics`` group alone. Every customer is clustered (there is
no purchase to require); the RFM features are empty, the RFM segment is "No purchases",
and segments are named after the attribute that sets them apart
(:func:`clustomer.segment.profile.name_by_attributes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.segment.profile import name_by_attributes
from clustomer.segment.result import SegmentationResult
from clustomer.segment.run import NO_PURCHASES, RETURNS_ONLY, UNASSIGNED
from clustomer.store.db import Store

__all__ = ["attribute_frame", "attributes_only", "by_attributes", "now_utc"]

#: The order-history columns, empty for customers known only by their attributes.
_EMPTY = ("recency_days", "monetary", "tenure_days")


def now_utc() -> datetime:
    """Now, in UTC, without a time zone (the as-of date of an attributes-only run)."""
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def attributes_only(store: Store, features: str | Sequence[str] | None) -> bool:
    """Whether the workspace has customers but no order lines (then only ``demographics``
    can be clustered: any other group asked for is an error that says so).

    >>> s = Store()
    >>> attributes_only(s, None)
    False
    >>> s.execute("INSERT INTO customers (customer_key) VALUES ('a')")
    >>> attributes_only(s, None)
    True
    """
    if store.scalar("SELECT count(*) FROM order_lines"):
        return False
    if not store.scalar("SELECT count(*) FROM customers"):
        return False
    from clustomer.features.sets import parse_groups

    if features is not None and set(parse_groups(features)) != {"demographics"}:
        raise ClustomerError(
            "this workspace holds customers but no orders: only their attributes can be "
            "clustered (--features demographics); import an order export for the others"
        )
    return True


def attribute_frame(store: Store) -> pd.DataFrame:
    """One row per customer, the order-history columns empty and ``frequency`` 1 (so
    that everyone is clustered), ready for the ``demographics`` group."""
    rows = store.rows("SELECT customer_key, country FROM customers ORDER BY customer_key")
    table = pd.DataFrame(rows, columns=["customer_key", "country"])
    table["frequency"] = 1
    for col in _EMPTY:
        table[col] = np.nan
    return table


def by_attributes(
    result: SegmentationResult, table: pd.DataFrame, columns: Sequence[str]
) -> SegmentationResult:
    """The run's segments renamed after their attributes; no RFM segment, no frequency."""
    profiles = name_by_attributes(result.profiles, table, list(columns))
    if "median_frequency" in profiles.columns:
        profiles["median_frequency"] = np.nan
    names = dict(zip(profiles["segment_id"].tolist(), profiles["name"].tolist(), strict=True))
    assignments = result.assignments.copy()
    keep = assignments["segment_name"].isin([RETURNS_ONLY, UNASSIGNED])
    renamed = assignments["segment_id"].map(names)
    assignments["segment_name"] = assignments["segment_name"].where(keep, renamed).astype(str)
    assignments["rfm_segment"] = NO_PURCHASES
    counts = result.rfm_counts.iloc[0:0] if result.rfm_counts is not None else None
    return replace(result, profiles=profiles, assignments=assignments, rfm_counts=counts)
