"""Explain segments as plain rules, read off a shallow surrogate decision tree.

A :class:`~sklearn.tree.DecisionTreeClassifier` (depth at most 4) learns the segments
from the original, unscaled features. Each leaf is an AND of conditions; conditions on
the same feature merge into the tightest bound (two bounds make a range). A segment's
rules are the leaves that predict it, largest first (at most three); *fidelity* is the
share of customers the tree puts in the same segment as the clustering.

Every cut moves from the tree's midpoint to the roundest number in the same gap between
observed values (``frequency > 5.5`` becomes ``frequency >= 6``, ``monetary > 1187.3``
may become ``monetary >= 1200``), so the rule matches the customers of its leaf. Features
whose values are all whole numbers (except amounts and rates) get whole-number bounds;
other cuts are then rounded as the sentence shows them (whole money units from 100,
3 significant digits otherwise) where that moves at most 0.1% of the customers (else the
condition keeps the exact cut and only the sentence rounds). ``support`` and
``precision`` are counted on the conditions as written.

**Missing values** (``mean_days_between_orders`` of one-order customers, the recency
of customers who never bought) count as *larger than any value*: the tree sees a
sentinel above the column's maximum, a lower bound such as ``x >= 60`` also matches
customers with no value (the rule says so), and a cut above every known value reads
``x is empty`` / ``x is known``.

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"customer_key": list("abcdef"),
...                   "frequency": [1, 1, 2, 7, 8, 9]})
>>> r = explain_segments(f, [1, 1, 1, 0, 0, 0], {0: "Loyal", 1: "New"}, ["frequency"])
>>> r.fidelity, r.rules["text"].tolist()
(1.0, ['Loyal: at least 5 orders', 'New: at most 4 orders'])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.tree import DecisionTreeClassifier

from clustomer.errors import ClustomerError
from clustomer.segment.rule_text import (
    _PHRASES,
    OR_EMPTY,
    Condition,
    _pct,
    _phrase,
    _plural,
    describe_condition,
)

__all__ = [
    "MAX_RULES",
    "OR_EMPTY",
    "SegmentRules",
    "describe_condition",
    "explain_segments",
]

#: Most rules kept per segment.
MAX_RULES = 3
_CONTINUOUS = frozenset({"monetary", "avg_order_value", "return_rate", "mean_days_between_orders"})


def _shown(feature: str, v: float) -> float:
    """``v`` rounded as the sentence shows it (whole money units from 100, 3 digits...)."""
    if feature in ("monetary", "avg_order_value"):
        return float(round(v, 0 if abs(v) >= 100 else 2))
    digits = 3 if feature in _PHRASES else 4
    return float(f"{v:.{digits}g}") if v else 0.0


def _cut(lo: float, hi: float, integer: bool) -> float | int:
    """The roundest number ``c`` with ``lo < c <= hi`` (nearest the middle)."""
    mid, span = (lo + hi) / 2, hi - lo
    top = math.floor(math.log10(max(abs(lo), abs(hi), span))) + 1
    bottom = max(0, math.floor(math.log10(span))) if integer else math.floor(math.log10(span))
    for e in range(top, bottom - 1, -1):
        step = 10.0**e
        cands = [
            round(k * step, max(0, -e)) for k in (math.floor(mid / step), math.ceil(mid / step))
        ]
        ok = [c for c in cands if lo < c <= hi]
        if ok:
            c = min(ok, key=lambda c: (abs(c - mid), -c))
            return int(c) if integer else float(c)
    return int(hi) if integer else float(hi)


@dataclass
class SegmentRules:
    """Rules that describe each segment, from a surrogate decision tree.

    Attributes
    ----------
    rules : DataFrame
        One row per kept rule: ``segment_id, segment_name, rule_id, conditions`` (list of
        ``(feature, op, value)``), ``text`` (plain sentence), ``support`` (customers matching
        the rule), ``covered`` (of them, in the segment) and ``precision`` (covered ÷ support).
    fidelity : float
        Share of customers the tree puts in their clustering segment.
    per_segment_fidelity : dict of int to float
        Per segment, the share of its customers the tree puts back in it (recall).
    max_depth : int
    segment_names, segment_sizes : dict of int
    feature_columns : list of str
    currency : str or None

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"recency_days": [3, 5, 200, 300]})
    >>> print(explain_segments(f, [0, 0, 1, 1], {0: "Active", 1: "Lost"},
    ...                        ["recency_days"]).to_text())
    # Segment rules: the tree behind them puts 100% of customers in their own segment
    <BLANKLINE>
    # Active (segment 0, 2 customers); 100% of them match one of these lines
    # ordered in the last 99 days
    recency_days <= 99
    <BLANKLINE>
    # Lost (segment 1, 2 customers); 100% of them match one of these lines
    # no order for more than 99 days
    recency_days >= 100
    """

    rules: pd.DataFrame
    fidelity: float
    per_segment_fidelity: dict[int, float]
    max_depth: int
    segment_names: dict[int, str]
    segment_sizes: dict[int, int]
    feature_columns: list[str]
    currency: str | None = None

    def _rows(self, seg: int) -> list[dict[str, Any]]:
        return cast(
            list[dict[str, Any]], self.rules[self.rules["segment_id"] == seg].to_dict("records")
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: summary numbers and, per segment, its rules."""
        segments = [
            {
                "segment_id": int(seg),
                "segment_name": name,
                "size": int(self.segment_sizes[seg]),
                "fidelity": float(self.per_segment_fidelity[seg]),
                "rules": [
                    {
                        "rule_id": int(r["rule_id"]),
                        "conditions": [
                            {"feature": f, "op": op, "value": v} for f, op, v in r["conditions"]
                        ],
                        "text": str(r["text"]),
                        "support": int(r["support"]),
                        "covered": int(r["covered"]),
                        "precision": float(r["precision"]),
                    }
                    for r in self._rows(seg)
                ],
            }
            for seg, name in self.segment_names.items()
        ]
        return {
            "fidelity": float(self.fidelity),
            "max_depth": int(self.max_depth),
            "feature_columns": list(self.feature_columns),
            "currency": self.currency,
            "segments": segments,
        }

    def to_text(self) -> str:
        """Conditions to paste into a shop's segment editor, one block per segment.

        Each rule is one line (its conditions joined by AND; a segment's lines are
        alternatives), under its plain sentence as a ``#`` comment.
        """
        out = [
            f"# Segment rules: the tree behind them puts {_pct(self.fidelity)} of customers "
            "in their own segment"
        ]
        for seg, name in self.segment_names.items():
            rows = self._rows(seg)
            size = self.segment_sizes[seg]
            seg_id = "" if name == f"Segment {seg}" else f"segment {seg}, "
            out += ["", f"# {name} ({seg_id}{_plural(size, 'customer')})"]
            if not rows:
                out[-1] += "; no simple rule found"
                continue
            share = sum(int(r["covered"]) for r in rows) / max(size, 1)
            out[-1] += f"; {_pct(share)} of them match one of these lines"
            for r in rows:
                out += [f"# {str(r['text']).split(': ', 1)[1]}", _machine(r["conditions"])]
        return "\n".join(out)


def _machine(conditions: list[Condition]) -> str:
    if not conditions:
        return "(all customers)"
    parts = []
    for f, op, v in conditions:
        if op == OR_EMPTY:
            parts.append(f"({f} >= {_plain(v)} OR {f} is empty)")
        else:
            parts.append(f"{f} {op}" + ("" if v is None else f" {_plain(v)}"))
    return " AND ".join(parts)


def _plain(v: float | int | None) -> str:
    return str(int(v)) if v is not None and float(v).is_integer() else f"{v:.10g}"


def _validate(
    features: pd.DataFrame, labels: ArrayLike, cols: list[str], max_depth: int, share: float
) -> NDArray[np.int64]:
    if not cols:
        raise ClustomerError("no feature columns to explain the segments with")
    missing = [c for c in cols if c not in features.columns]
    if missing:
        raise ClustomerError(f"the customer feature table lacks the columns {', '.join(missing)}")
    bad = [c for c in cols if not pd.api.types.is_numeric_dtype(features[c])]
    if bad:
        raise ClustomerError(f"these feature columns are not numeric: {', '.join(bad)}")
    if not 1 <= int(max_depth) <= 4:
        raise ClustomerError(f"max_depth must be 1 to 4 for readable rules; got {max_depth}")
    if not 0 <= share < 0.5:
        raise ClustomerError(f"min_leaf_share must be in [0, 0.5); got {share}")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(features):
        raise ClustomerError(f"got {y.size} segment labels for {len(features)} customers")
    if len(y) == 0:
        raise ClustomerError("no customers to explain")
    if not np.issubdtype(y.dtype, np.integer) or (y < -2).any():
        raise ClustomerError("segment labels must be whole numbers, -2 or more")
    return y.astype(np.int64)


class _Column:
    """One feature: its raw values, the float32 values the tree compares, and its kind."""

    def __init__(self, name: str, raw: NDArray[np.float64]) -> None:
        # Amounts, rates and averages are continuous even when the data are whole numbers.
        self.name, self.raw = name, raw
        known = raw[~np.isnan(raw)]
        lo, hi = (float(known.min()), float(known.max())) if known.size else (0.0, 0.0)
        self.has_nan = bool(known.size < raw.size)
        self.integer = name not in _CONTINUOUS and bool(np.all(known == np.round(known)))
        # Missing values count as larger than any value: a sentinel above the maximum.
        self.filled = np.where(np.isnan(raw), hi + max(1.0, hi - lo), raw)
        self.as32 = self.filled.astype(np.float32).astype(np.float64)
        self.top32 = float(self.as32[~np.isnan(raw)].max()) if known.size else -np.inf

    def cut(self, t: float, shown: bool = True) -> float | int:
        """A round cut for the tree's ``x <= t``: ``x < cut`` holds for the same customers.

        A continuous cut is then rounded as the sentence shows it, when that moves at
        most 0.1% of the customers to the other side.
        """
        left = self.as32 <= t
        lo = float(self.raw[left].max())
        hi = float(np.nanmin(np.where(left, np.nan, self.raw)))
        c = _cut(lo, hi, self.integer)
        if self.integer or not shown:
            return c
        r = _shown(self.name, float(c))
        moved = int(((self.raw >= min(c, r)) & (self.raw < max(c, r))).sum())
        return r if moved <= 0.001 * self.raw.size else c

    def matches(self, op: str, v: float | int | None) -> NDArray[np.bool_]:
        x = self.raw
        if op in ("is empty", "is known"):
            return np.isnan(x) == (op == "is empty")
        if op in (">=", OR_EMPTY):
            return (x >= float(v or 0)) | (np.isnan(x) & (op == OR_EMPTY))
        return x <= float(v or 0) if op == "<=" else x < float(v or 0)

    def conditions(self, lows: list[float], highs: list[float]) -> list[Condition]:
        """Merge one path's ``x > t`` (lows) and ``x <= t`` (highs) into tight bounds."""
        c = self.name
        out: list[Condition] = []
        if lows and max(lows) >= self.top32:
            return [(c, "is empty", None)]
        low = self.cut(max(lows)) if lows else None
        if highs and min(highs) >= self.top32:  # "x <= t" above every known value
            return [(c, "is known", None) if low is None else (c, ">=", low)]
        if low is not None:  # a finite upper bound already rules out empty values
            out.append((c, OR_EMPTY if self.has_nan and not highs else ">=", low))
        if highs:
            hi = self.cut(min(highs))
            if low is not None and low >= hi:  # rounding closed a narrow range: keep it exact
                out[-1] = (c, out[-1][1], self.cut(max(lows), shown=False))
                hi = self.cut(min(highs), shown=False)
            out.append((c, "<=", int(hi) - 1) if self.integer else (c, "<", hi))
        return out


def explain_segments(
    features: pd.DataFrame,
    labels: ArrayLike,
    names: Mapping[int, str],
    feature_columns: Sequence[str],
    *,
    max_depth: int = 4,
    currency: str | None = None,
    random_state: int = 0,
    min_leaf_share: float = 0.01,
) -> SegmentRules:
    """Explain a segmentation with plain rules from a shallow decision tree.

    Parameters
    ----------
    features : DataFrame
        One row per customer, holding ``feature_columns`` (original units).
    labels : array-like of int
        Segment of each row; a negative one (``-2``: unassigned by a density method) is
        a segment of its own.
    names : mapping of int to str
        Segment names; a missing one reads ``"Segment <id>"`` (``"Unassigned"`` for a negative id).
    feature_columns : sequence of str
        Numeric features the rules may use.
    max_depth : int, default=4
        Depth of the tree (1 to 4): the most conditions in a rule.
    currency : str, optional
        ISO code of the shop currency for amounts (GBP £, EUR €, USD $, others by code).
    random_state : int, default=0
    min_leaf_share : float, default=0.01
        A leaf holds at least this share of the customers (at least one customer).

    Returns
    -------
    SegmentRules

    Raises
    ------
    ClustomerError
        Missing or non-numeric columns, infinite values, labels that do not fit.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"monetary": [50.0, 80.0, 1500.0, 2200.0]})
    >>> r = explain_segments(f, [1, 1, 0, 0], {0: "Big", 1: "Small"}, ["monetary"],
    ...                      currency="EUR")
    >>> r.rules[["text", "support", "precision"]].values.tolist()
    [['Big: spent at least €1,000', 2, 1.0], ['Small: spent less than €1,000', 2, 1.0]]
    """
    cols = list(feature_columns)
    y = _validate(features, labels, cols, max_depth, min_leaf_share)
    raw = features[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    if np.isinf(raw).any():
        raise ClustomerError("some feature values are infinite")
    columns = [_Column(c, raw[:, j]) for j, c in enumerate(cols)]
    X = np.column_stack([col.filled for col in columns])
    tree = DecisionTreeClassifier(
        max_depth=int(max_depth),
        min_samples_leaf=max(1, round(min_leaf_share * len(y))),
        random_state=random_state,
    ).fit(X, y)
    pred, t = tree.predict(X), tree.tree_

    leaves = []  # (segment, conditions, support, covered)
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        if t.children_left[node] == -1:
            seg = int(tree.classes_[int(np.argmax(t.value[node]))])
            conds = [
                cond
                for j, col in enumerate(columns)
                for cond in col.conditions(
                    [thr for f, le, thr in path if f == j and not le],
                    [thr for f, le, thr in path if f == j and le],
                )
            ]
            members = np.ones(len(y), dtype=bool)
            for name, op, v in conds:
                members &= columns[cols.index(name)].matches(op, v)
            leaves.append((seg, conds, int(members.sum()), int((y[members] == seg).sum())))
            continue
        f, thr = int(t.feature[node]), float(t.threshold[node])
        stack.append((int(t.children_right[node]), [*path, (f, False, thr)]))
        stack.append((int(t.children_left[node]), [*path, (f, True, thr)]))

    ordered = sorted(set(y.tolist()), key=lambda s: (s < 0, s))
    seg_names = {s: str(names.get(s, "Unassigned" if s < 0 else f"Segment {s}")) for s in ordered}
    records = []
    for s in ordered:
        mine = sorted((leaf for leaf in leaves if leaf[0] == s), key=lambda leaf: -leaf[3])
        for _, conds, support, covered in mine[:MAX_RULES]:
            text = _rule_text(conds, cols, currency)
            records.append((s, seg_names[s], conds, f"{seg_names[s]}: {text}", support, covered))
    rules = pd.DataFrame(
        records, columns=["segment_id", "segment_name", "conditions", "text", "support", "covered"]
    )
    rules.insert(2, "rule_id", np.arange(1, len(rules) + 1, dtype=np.int64))
    rules = rules.astype({"segment_id": np.int64, "support": np.int64, "covered": np.int64})
    rules["precision"] = rules["covered"] / rules["support"].clip(lower=1)
    return SegmentRules(
        rules=rules,
        fidelity=float((pred == y).mean()),
        per_segment_fidelity={s: float((pred[y == s] == s).mean()) for s in ordered},
        max_depth=int(max_depth),
        segment_names=seg_names,
        segment_sizes={s: int((y == s).sum()) for s in ordered},
        feature_columns=cols,
        currency=currency.upper() if currency else None,
    )


def _rule_text(conds: list[Condition], cols: list[str], currency: str | None) -> str:
    if not conds:
        return "all customers"
    parts = [_phrase(c, [x for x in conds if x[0] == c], currency) for c in cols]
    return " AND ".join(
        p for c, p in zip(cols, parts, strict=True) if any(x[0] == c for x in conds)
    )
