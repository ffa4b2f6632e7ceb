"""Leave out features that say the same thing as another feature.

Two features that rise and fall together (``monetary`` and ``avg_order_value`` often do)
count twice in a distance-based clustering. :func:`prune_correlated` walks the features in
order of priority and keeps one only if it is not strongly correlated with a feature
already kept. Features with a single value (or none at all) carry no information and are
left out too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError

__all__ = ["METHODS", "Pruned", "PruneResult", "prune_correlated"]

#: Correlation methods and how a sentence names them.
METHODS = {"spearman": "Spearman", "pearson": "Pearson", "kendall": "Kendall"}
#: A pair needs this many customers with both values before its correlation counts.
MIN_PERIODS = 3
#: Slack for floating-point error when comparing a correlation with the threshold.
_EPS = 1e-12


@dataclass(frozen=True)
class Pruned:
    """One feature left out, and why.

    Attributes
    ----------
    column : str
        The feature left out.
    because_of : str or None
        The kept feature it is correlated with (``None`` unless ``reason`` is
        ``"correlated"``).
    correlation : float or None
        Their correlation, with its sign (``None`` unless ``reason`` is ``"correlated"``).
    reason : str
        ``"correlated"``, ``"constant"`` (one value for every customer) or ``"empty"``
        (no values at all).
    method : str
        The correlation method (``"spearman"``, ``"pearson"`` or ``"kendall"``).

    Examples
    --------
    >>> Pruned("avg_order_value", "monetary", 0.93, "correlated").message()
    'avg_order_value left out: it moves with monetary (Spearman 0.93)'
    """

    column: str
    because_of: str | None
    correlation: float | None
    reason: str
    method: str = "spearman"

    def message(self) -> str:
        """A plain sentence saying why the feature was left out."""
        if self.reason == "constant":
            return f"{self.column} left out: it is the same for every customer"
        if self.reason == "empty":
            return f"{self.column} left out: it has no values"
        corr = float(self.correlation) if self.correlation is not None else math.nan
        how = "moves with" if corr >= 0 else "moves opposite to"
        label = METHODS.get(self.method, self.method)
        return f"{self.column} left out: it {how} {self.because_of} ({label} {corr:.2f})"


@dataclass
class PruneResult:
    """The outcome of :func:`prune_correlated`.

    Attributes
    ----------
    kept : list of str
        The features kept, in priority order.
    pruned : list of Pruned
        The features left out, in priority order.
    correlation : pandas.DataFrame
        The correlation matrix of all requested features (NaN where undefined, e.g. for a
        constant feature).
    method : str
        The correlation method used.
    threshold : float
        The absolute correlation from which a feature is left out.
    """

    kept: list[str]
    pruned: list[Pruned] = field(default_factory=list)
    correlation: pd.DataFrame = field(default_factory=pd.DataFrame)
    method: str = "spearman"
    threshold: float = 0.9

    def messages(self) -> list[str]:
        """One plain sentence per feature left out.

        Examples
        --------
        >>> df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 6, 9], "c": [5, 5, 5, 5]})
        >>> prune_correlated(df, ["a", "b", "c"]).messages()  # doctest: +NORMALIZE_WHITESPACE
        ['b left out: it moves with a (Spearman 1.00)',
         'c left out: it is the same for every customer']
        """
        return [p.message() for p in self.pruned]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly account (missing correlations become ``None``).

        Examples
        --------
        >>> df = pd.DataFrame({"a": [1, 2, 3], "b": [3, 2, 1]})
        >>> d = prune_correlated(df, ["a", "b"]).to_dict()
        >>> d["kept"], d["pruned"][0]["because_of"], d["correlation"]["a"]["b"]
        (['a'], 'a', -1.0)
        """
        return {
            "method": self.method,
            "threshold": self.threshold,
            "kept": list(self.kept),
            "pruned": [asdict(p) for p in self.pruned],
            "messages": self.messages(),
            "correlation": {
                str(col): {str(row): _json_float(v) for row, v in values.items()}
                for col, values in self.correlation.to_dict().items()
            },
        }


def prune_correlated(
    features: pd.DataFrame,
    columns: Sequence[str],
    *,
    threshold: float = 0.9,
    method: str = "spearman",
) -> PruneResult:
    """Keep features in priority order, leaving out those correlated with one already kept.

    Parameters
    ----------
    features : pandas.DataFrame
        One row per customer.
    columns : sequence of str
        The numeric features to consider, most important first: of two correlated features
        the earlier one stays.
    threshold : float
        Leave a feature out when its absolute correlation with a kept feature is at least
        this (in (0, 1]; default 0.9).
    method : str
        ``"spearman"`` (default: rank correlation, robust to skew), ``"pearson"`` or
        ``"kendall"``. Missing values are handled pair by pair; a pair with fewer than
        three customers having both values counts as uncorrelated.

    Returns
    -------
    PruneResult

    Raises
    ------
    ClustomerError
        If columns are unknown, repeated or not numeric, none are given, the threshold is
        outside (0, 1] or the method is unknown.

    Examples
    --------
    >>> df = pd.DataFrame({
    ...     "monetary": [10.0, 20.0, 30.0, 40.0, 50.0],
    ...     "avg_order_value": [1.0, 2.5, 2.6, 9.0, 10.0],
    ...     "recency_days": [5.0, 1.0, 9.0, 3.0, 7.0],
    ... })
    >>> result = prune_correlated(df, ["monetary", "avg_order_value", "recency_days"])
    >>> result.kept
    ['monetary', 'recency_days']
    >>> result.messages()
    ['avg_order_value left out: it moves with monetary (Spearman 1.00)']
    """
    cols = _check(features, columns, threshold, method)
    data = features[cols].astype("float64")
    corr = data.corr(method=method, min_periods=MIN_PERIODS)  # type: ignore[arg-type]
    distinct = data.nunique(dropna=True)
    matrix = corr.to_numpy(dtype=float)
    position = {c: i for i, c in enumerate(cols)}

    kept: list[str] = []
    pruned: list[Pruned] = []
    for col in cols:
        if distinct[col] == 0:
            pruned.append(Pruned(col, None, None, "empty", method))
            continue
        if distinct[col] == 1:
            pruned.append(Pruned(col, None, None, "constant", method))
            continue
        best: str | None = None
        best_corr = 0.0
        for other in kept:
            value = float(matrix[position[col], position[other]])
            if math.isnan(value):
                continue
            if abs(value) >= threshold - _EPS and (best is None or abs(value) > abs(best_corr)):
                best, best_corr = other, value
        if best is None:
            kept.append(col)
        else:
            pruned.append(Pruned(col, best, best_corr, "correlated", method))
    return PruneResult(
        kept=kept,
        pruned=pruned,
        correlation=corr,
        method=method,
        threshold=float(threshold),
    )


def _check(
    features: pd.DataFrame, columns: Sequence[str], threshold: float, method: str
) -> list[str]:
    if isinstance(columns, str):
        raise ClustomerError(f"columns must be a list of column names, not the text {columns!r}")
    cols = list(columns)
    if not cols:
        raise ClustomerError("no columns to compare; name at least one feature")
    unknown = [c for c in cols if c not in features.columns]
    if unknown:
        raise ClustomerError(
            f"unknown column(s): {', '.join(map(str, unknown))}; "
            f"the features have {', '.join(map(str, features.columns))}"
        )
    repeated = sorted({c for c in cols if cols.count(c) > 1})
    if repeated:
        raise ClustomerError(f"column(s) named more than once: {', '.join(repeated)}")
    not_numeric = [
        c
        for c in cols
        if not (
            pd.api.types.is_numeric_dtype(features[c]) or pd.api.types.is_bool_dtype(features[c])
        )
    ]
    if not_numeric:
        raise ClustomerError(
            f"only numeric columns can be compared; not numeric: {', '.join(not_numeric)}"
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or math.isnan(threshold)
        or not 0 < threshold <= 1
    ):
        raise ClustomerError(f"threshold must be a number above 0 and at most 1, not {threshold!r}")
    if method not in METHODS:
        raise ClustomerError(
            f"unknown correlation method {method!r}; use one of {', '.join(METHODS)}"
        )
    return cols


def _json_float(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number
