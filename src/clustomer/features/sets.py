"""Feature groups (``--features``): which columns a segmentation clusters on.

==============  ===========================================================================
group           columns
==============  ===========================================================================
rfm             recency_days, frequency, monetary
behaviour       tenure_days, avg_order_value, return_rate, distinct_products
products        topic_0 … topic_{n-1}: each customer's share of spend per product topic
                (TF-IDF + NMF on the product names, :mod:`clustomer.features.products`)
demographics    numeric attributes of the customers table (e.g. age, income) when the
                workspace has them; and the customer's country, which only
                ``--method kprototypes`` can use (as a categorical feature)
==============  ===========================================================================

The default is ``rfm,behaviour``. The chosen columns then go through
:func:`clustomer.features.prune.prune_correlated`: a column that moves with an earlier one
(|Spearman| ≥ 0.9) is left out, and the run says so.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store

__all__ = ["DEFAULT_GROUPS", "FEATURE_GROUPS", "FeatureSet", "build_feature_set", "parse_groups"]

#: The fixed columns of each group (``products`` and ``demographics`` are found per run).
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "rfm": ("recency_days", "frequency", "monetary"),
    "behaviour": ("tenure_days", "avg_order_value", "return_rate", "distinct_products"),
    "products": (),
    "demographics": (),
}
DEFAULT_GROUPS: tuple[str, ...] = ("rfm", "behaviour")
#: Correlation above which a feature is pruned (absolute Spearman).
PRUNE_THRESHOLD = 0.9
#: The correlations are measured on a random sample of at most this many customers.
PRUNE_ROWS = 50_000


@dataclass
class FeatureSet:
    """The feature table of one run and what went into it.

    ``table`` is the per-customer feature table with any added columns (topic shares,
    demographic attributes); ``columns`` the columns to cluster on, after pruning.
    """

    table: pd.DataFrame
    groups: list[str]
    columns: list[str]
    pruned: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    topics: dict[str, Any] | None = None
    column_names: dict[str, str] = field(default_factory=dict)
    #: each product's topic weights (``product_id, topic_<i>``), kept with the run's model
    product_weights: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "columns": list(self.columns),
            "pruned": list(self.pruned),
            "messages": list(self.messages),
            "topics": self.topics,
            "column_names": dict(self.column_names),
        }


def parse_groups(value: str | Sequence[str] | None) -> list[str]:
    """``"rfm,products"`` -> ``["rfm", "products"]``, checked against the known groups.

    >>> parse_groups("rfm, behaviour")
    ['rfm', 'behaviour']
    >>> parse_groups(None)
    ['rfm', 'behaviour']
    """
    if value is None:
        return list(DEFAULT_GROUPS)
    parts = value.split(",") if isinstance(value, str) else list(value)
    groups = [p.strip().lower() for p in parts if p.strip()]
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown or not groups:
        raise ClustomerError(
            f"unknown feature group {', '.join(unknown) or '(none)'}; choose from "
            f"{', '.join(FEATURE_GROUPS)} (comma-separated)"
        )
    return list(dict.fromkeys(groups))


def build_feature_set(
    store: Store,
    features: pd.DataFrame,
    groups: Sequence[str],
    *,
    as_of: datetime | None = None,
    method: str = "kmeans",
    random_state: int = 0,
    prune: bool = True,
    product_weights: pd.DataFrame | None = None,
) -> FeatureSet:
    """Add the columns of the chosen groups to ``features`` and pick the ones to cluster on.

    Parameters
    ----------
    store : Store
        The workspace (for the order lines and the customers' attributes).
    features : DataFrame
        The per-customer features (:func:`clustomer.features.customer_features`).
    groups : sequence of str
        Feature groups, see the module docstring.
    as_of : datetime, optional
        Only order lines before this date count (for product topics).
    method : str
        The clustering method; ``demographics`` without numeric attributes is only
        possible with ``kprototypes`` (which uses the country).
    product_weights : DataFrame, optional
        Product topics learned by an earlier run (its ``FeatureSet.product_weights``):
        the customers' topic shares are computed with them instead of new topics.

    Raises
    ------
    ClustomerError
        When a group has nothing to offer in this workspace.

    Examples
    --------
    >>> from clustomer.store import Store
    >>> import pandas as pd
    >>> f = pd.DataFrame({"customer_key": ["a", "b", "c"], "recency_days": [1.0, 5, 9],
    ...                   "frequency": [3, 1, 2], "monetary": [30.0, 10, 25]})
    >>> build_feature_set(Store(), f, ["rfm"], prune=False).columns
    ['recency_days', 'frequency', 'monetary']
    """
    groups = parse_groups(list(groups))
    table = features.copy()
    columns: list[str] = []
    topics: dict[str, Any] | None = None
    names: dict[str, str] = {}
    weights = product_weights
    for group in groups:
        if group == "products":
            table, topics, names, weights = _product_columns(
                store, table, as_of, random_state, product_weights
            )
            columns += list(names)
        elif group == "demographics":
            table, numeric = _demographic_columns(store, table)
            if not numeric and method != "kprototypes":
                raise ClustomerError(
                    "the demographics group needs numeric customer attributes (age, income, "
                    "...), and this workspace has none; import a customers table with them, "
                    "or use --method kprototypes, which clusters on the country as well"
                )
            columns += numeric
        else:
            columns += [c for c in FEATURE_GROUPS[group] if c not in columns]
    if not columns:
        raise ClustomerError(
            "these feature groups give no numeric feature to cluster on; add rfm or behaviour"
        )
    result = FeatureSet(
        table, groups, columns, topics=topics, column_names=names, product_weights=weights
    )
    if prune and len(columns) > 1:
        from clustomer.features.prune import prune_correlated

        buyers = table[table["frequency"] > 0] if "frequency" in table.columns else table
        if len(buyers) > PRUNE_ROWS:  # rank correlations settle long before 450,000 rows
            buyers = buyers.sample(n=PRUNE_ROWS, random_state=random_state)
        pr = prune_correlated(buyers, columns, threshold=PRUNE_THRESHOLD)
        result.columns = list(pr.kept)
        result.pruned = [
            dict(d, message=m) for d, m in zip(pr.to_dict()["pruned"], pr.messages(), strict=True)
        ]
        result.messages = pr.messages()
    return result


def _product_columns(
    store: Store,
    table: pd.DataFrame,
    as_of: datetime | None,
    random_state: int,
    product_weights: pd.DataFrame | None,
) -> tuple[pd.DataFrame, dict[str, Any] | None, dict[str, str], pd.DataFrame]:
    from clustomer.features.products import product_lines, product_topics, topic_shares

    lines = product_lines(store.con, as_of)
    if product_weights is not None:
        shares = topic_shares(lines, product_weights)
        info, weights = None, product_weights
    else:
        topics = product_topics(lines, random_state=random_state)
        shares, info = topics.shares, topics.to_dict()
        weights = topics.product_topics.drop(columns=["product_name", "dominant_topic"])
    cols = [c for c in shares.columns if c != "customer_key"]
    merged = table.merge(shares, on="customer_key", how="left")
    merged[cols] = merged[cols].fillna(0.0)
    readable = (info or {}).get("column_names") or {}
    names = {c: f"{c} ({readable.get(c, c)})" if readable else c for c in cols}
    return merged, info, names, weights


def _demographic_columns(store: Store, table: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Numeric attributes of the customers table, one column each (``attr_<name>``)."""
    rows = store.rows("SELECT customer_key, attributes FROM customers WHERE attributes IS NOT NULL")
    if not rows:
        return table, []
    records = []
    for key, attrs in rows:
        data = json.loads(attrs) if isinstance(attrs, str) else attrs
        if isinstance(data, dict):
            records.append({"customer_key": key, **data})
    attrs_df = pd.DataFrame.from_records(records)
    numeric = sorted(  # a fixed order, whatever order the customers' attributes came in
        c
        for c in attrs_df.columns
        if c != "customer_key" and pd.api.types.is_numeric_dtype(attrs_df[c])
    )
    if not numeric:
        return table, []
    renamed = {c: f"attr_{c}" for c in numeric}
    attrs_df = attrs_df[["customer_key", *numeric]].rename(columns=renamed)
    merged = table.merge(attrs_df, on="customer_key", how="left")
    cols = list(renamed.values())
    for c in cols:  # a customer without the attribute gets the median (said in the docs)
        merged[c] = merged[c].fillna(merged[c].median())
    return merged, cols
