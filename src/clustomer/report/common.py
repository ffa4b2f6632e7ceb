"""Small helpers shared by the report's summary modules: plain values and labels.

Examples
--------
>>> feature_label("monetary"), feature_label("topic_0", {"topic_0": "bag / lunch"})
('Spend', 'bag / lunch')
>>> pct_text(0.934), pct_text(0.9996), pct_text(0.0004)
('93%', '99.96%', '0.04%')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

#: Label and display kind of each feature median. Kinds: money, days, count, rate, number.
FEATURE_DISPLAY: dict[str, tuple[str, str]] = {
    "recency_days": ("Days since last order", "days"),
    "frequency": ("Orders", "count"),
    "monetary": ("Spend", "money"),
    "tenure_days": ("Days as customer", "days"),
    "avg_order_value": ("Average order", "money"),
    "mean_days_between_orders": ("Days between orders", "days"),
    "return_rate": ("Returned share", "rate"),
    "distinct_products": ("Distinct products", "count"),
}

#: Readable name of each clustering method (``result.method``).
METHOD_LABELS: dict[str, str] = {
    "kmeans": "k-means",
    "minibatch": "mini-batch k-means",
    "ward": "Ward (hierarchical)",
    "gmm": "Gaussian mixture",
    "hdbscan": "HDBSCAN",
    "dbscan": "DBSCAN",
    "kprototypes": "k-prototypes",
}

#: Methods that find the number of segments by themselves and may leave customers out.
DENSITY_METHODS: frozenset[str] = frozenset({"hdbscan", "dbscan"})


def plain(value: Any) -> Any:
    """Convert a value to JSON-friendly Python (numpy, pandas, dates, NaN included).

    NaN and infinities become ``None``; dates and timestamps become ISO strings;
    tuples become lists; mapping keys become strings.

    Parameters
    ----------
    value : object
        Anything made of scalars, sequences and mappings.

    Returns
    -------
    object
        The same data as ``str``, ``int``, ``float``, ``bool``, ``None``, ``list``, ``dict``.

    Examples
    --------
    >>> import numpy as np
    >>> plain({"n": np.int64(3), "x": float("nan"), "t": (1, 2.5)})
    {'n': 3, 'x': None, 't': [1, 2.5]}
    """
    if value is None or value is pd.NaT or isinstance(value, str | bool):
        return value if value is not pd.NaT else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    # numpy scalars (and anything else with .item()) become Python scalars
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    if isinstance(value, set | frozenset):
        return [plain(v) for v in sorted(value, key=str)]
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def int_or_none(value: Any) -> int | None:
    """An ``int``, or ``None`` for missing values, booleans and non-numbers.

    Examples
    --------
    >>> int_or_none("7"), int_or_none(float("nan")), int_or_none(True)
    (7, None, None)
    """
    value = plain(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def float_or_none(value: Any) -> float | None:
    """A finite ``float``, or ``None``.

    Examples
    --------
    >>> float_or_none("0.5"), float_or_none(float("inf")), float_or_none("x")
    (0.5, None, None)
    """
    value = plain(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def feature_label(column: str, column_names: Mapping[str, str] | None = None) -> str:
    """A readable name for a feature column (``column_names`` first, then the known ones).

    Examples
    --------
    >>> feature_label("basket_size")
    'Basket size'
    """
    if column_names and column_names.get(column):
        return str(column_names[column])
    if column in FEATURE_DISPLAY:
        return FEATURE_DISPLAY[column][0]
    return column.replace("_", " ").capitalize()


def pct_text(share: float) -> str:
    """A share (0..1) as a whole percentage, with more digits only where rounding would lie.

    ``0.9996`` does not read ``100%`` and ``0.0004`` does not read ``0%``.

    Examples
    --------
    >>> pct_text(1.0), pct_text(0.0), pct_text(0.5)
    ('100%', '0%', '50%')
    """
    value = 100.0 * share
    for decimals in range(0, 4):
        text = f"{value:.{decimals}f}"
        if (float(text) != 100 or value == 100) and (float(text) != 0 or value == 0):
            return text + "%"
    return f"{value:.4g}%"
