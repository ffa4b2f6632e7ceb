"""The report's "Customer value" section as plain data: backtest, tracking, distributions.

Inputs are the run record's ``details["value"]`` (the model used, the backtest id, the
12-month CLV total), ``backtest`` (a stored ``BacktestResult.to_dict()``) and ``values``
(a per-customer frame with the value columns); the segment totals come from the
profiles. Only aggregates leave this module: no customer keys.

Examples
--------
>>> values = pd.DataFrame({"customer_key": ["a@x", "b@x"], "p_active_90d": [0.05, 0.95],
...                        "value_confidence": ["low", "high"]})
>>> v = summarize_value({"values": values}, pd.DataFrame())
>>> v["p_active"]["counts"], [c["customers"] for c in v["confidence"]]
([1, 0, 0, 0, 0, 0, 0, 0, 0, 1], [1, 0, 1])
>>> summarize_value({}, pd.DataFrame()) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from clustomer.report.common import float_or_none, int_or_none, plain

__all__ = ["BTYD_NAMES", "CONFIDENCE_LEVELS", "METRIC_COLUMNS", "P_ACTIVE_BINS", "summarize_value"]

#: Bins of the ``p_active_90d`` histogram (equal width over 0..1).
P_ACTIVE_BINS = 10

#: The BTYD models whose P(alive) the report can show.
BTYD_NAMES = {"bgnbd": "BG/NBD", "paretonbd": "Pareto/NBD"}

#: Levels of ``value_confidence``, in the order shown.
CONFIDENCE_LEVELS = ("high", "medium", "low")

#: Backtest columns shown, with their header and whether higher is better (None: neither).
METRIC_COLUMNS: tuple[tuple[str, str, bool | None], ...] = (
    ("revenue_spearman", "Revenue Spearman", True),
    ("top_decile_capture", "Top-decile capture", True),
    ("auc_active", "AUC active", True),
    ("auc_alive", "AUC alive", True),
    ("orders_mae", "Orders MAE", False),
    ("orders_rmse", "Orders RMSE", False),
    ("orders_spearman", "Orders Spearman", True),
    ("revenue_mae", "Revenue MAE", False),
    ("orders_total_ratio", "Predicted ÷ actual orders", None),
    ("fit_seconds", "Fit seconds", False),
)


def _backtest(bt: Mapping[str, Any], used: str | None) -> dict[str, Any]:
    degenerate = dict(bt.get("degenerate") or {})
    best = plain(bt.get("best_model"))
    rows = []
    for name, m in dict(bt.get("models") or {}).items():
        m = dict(m or {})
        rows.append(
            {
                "model": str(name),
                "label": str(m.get("label") or name),
                "metrics": {key: float_or_none(m.get(key)) for key, _, _ in METRIC_COLUMNS},
                "best": name == best,
                "used": name == used,
                "degenerate": bool(m.get("degenerate")) or name in degenerate,
                "degenerate_reason": plain(degenerate.get(name)),
            }
        )
    return {
        "backtest_id": int_or_none(bt.get("backtest_id")),
        "cutoff": plain(bt.get("cutoff")),
        "horizon": int_or_none(bt.get("horizon")),
        "n_customers": int_or_none(bt.get("n_customers")),
        "share_active": float_or_none(bt.get("share_active")),
        "oracle_top_decile_capture": float_or_none(bt.get("oracle_top_decile_capture")),
        "best_model": best,
        "best_rule": plain(bt.get("best_rule")),
        "columns": [{"key": k, "label": lab, "higher": h} for k, lab, h in METRIC_COLUMNS],
        "rows": rows,
        "notes": [str(n) for n in bt.get("notes") or []],
    }


def _tracking(bt: Mapping[str, Any]) -> dict[str, Any] | None:
    tr = bt.get("tracking")
    if not isinstance(tr, Mapping) or not tr.get("weeks"):
        return None
    weeks = [str(w) for w in tr["weeks"]]
    n = int_or_none(tr.get("holdout_weeks")) or 0
    predicted = {
        str(k): [float_or_none(v) for v in vals]
        for k, vals in dict(tr.get("predicted") or {}).items()
        if len(vals) == n
    }
    return {
        "weeks": weeks,
        "actual": [int_or_none(v) for v in tr.get("actual") or []],
        "actual_cohort": [int_or_none(v) for v in tr.get("actual_cohort") or []],
        "holdout_start": plain(tr.get("holdout_start")),
        "holdout_weeks": n,
        "predicted": predicted,
        "actual_holdout_total": sum(int_or_none(v) or 0 for v in tr.get("actual_cohort", [])[-n:])
        if n
        else None,
        "predicted_totals": {k: round(sum(v or 0.0 for v in p), 2) for k, p in predicted.items()},
    }


def _p_active(values: pd.DataFrame) -> dict[str, Any] | None:
    if "p_active_90d" not in values.columns:
        return None
    p = pd.to_numeric(values["p_active_90d"], errors="coerce").to_numpy(dtype=np.float64)
    p = p[np.isfinite(p)]
    if not p.size:
        return None
    edges = np.linspace(0.0, 1.0, P_ACTIVE_BINS + 1)
    counts, _ = np.histogram(np.clip(p, 0.0, 1.0), bins=edges)
    return {
        "edges": [round(float(e), 2) for e in edges],
        "counts": [int(c) for c in counts],
        "customers": int(p.size),
        "mean": round(float(p.mean()), 4),
        "median": round(float(np.median(p)), 4),
    }


def _p_alive(bt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first non-degenerate BTYD model's P(alive) histogram, or a note why none."""
    hists = {str(k): dict(h or {}) for k, h in dict(bt.get("p_alive") or {}).items()}
    if not hists:
        return None
    for name, h in hists.items():
        if not h.get("degenerate") and h.get("counts"):
            return {
                "model": name,
                "label": f"P(alive), {BTYD_NAMES.get(name, name)}",
                "edges": [float(e) for e in h.get("edges") or []],
                "counts": [int_or_none(c) or 0 for c in h["counts"]],
                "note": None,
            }
    names = " and ".join(BTYD_NAMES.get(n, n) for n in hists)
    verb = "fits are" if len(hists) > 1 else "fit is"
    return {
        "model": None,
        "label": None,
        "edges": [],
        "counts": [],
        "note": (
            f"P(alive) is not shown: the {names} {verb} degenerate on this data (nearly "
            "everyone looks alive), so the histogram shows the probability of buying in "
            "the next 90 days instead"
        ),
    }


def _confidence(values: pd.DataFrame) -> list[dict[str, Any]]:
    if "value_confidence" not in values.columns:
        return []
    counts = values["value_confidence"].dropna().astype(str).value_counts()
    total = int(counts.sum())
    levels = [*CONFIDENCE_LEVELS, *sorted(set(counts.index) - set(CONFIDENCE_LEVELS))]
    return [
        {
            "level": level,
            "customers": int(counts.get(level, 0)),
            "share": round(int(counts.get(level, 0)) / total, 4) if total else None,
        }
        for level in levels
    ]


def _segments(profiles: pd.DataFrame) -> list[dict[str, Any]]:
    if "clv_12m_total" not in profiles.columns:
        return []
    out = []
    for row in profiles.to_dict(orient="records"):
        sid = int_or_none(row.get("segment_id"))
        out.append(
            {
                "segment_id": sid,
                "name": str(plain(row.get("name")) or f"Segment {sid}"),
                "clv_12m_total": float_or_none(row.get("clv_12m_total")),
                "expected_revenue_90d_total": float_or_none(row.get("expected_revenue_90d_total")),
            }
        )
    return out


def _sum(values: pd.DataFrame, column: str) -> float | None:
    if column not in values.columns:
        return None
    return round(float(pd.to_numeric(values[column], errors="coerce").sum()), 2)


def summarize_value(run: Mapping[str, Any], profiles: pd.DataFrame) -> dict[str, Any] | None:
    """The customer-value section, or None when the run has no value data (older runs).

    Parameters
    ----------
    run : mapping
        The run record given to :func:`~clustomer.report.summarize.summarize_run`; reads
        ``details["value"]``, ``backtest`` (a ``BacktestResult.to_dict()``, as stored) and
        ``values`` (a DataFrame with any of the value columns; other columns ignored).
    profiles : DataFrame
        The segment profiles (``segment_id``, ``name``, ``clv_12m_total``,
        ``expected_revenue_90d_total`` when the run computed values).

    Returns
    -------
    dict or None
        ``model, backtest_id, note, clv_12m_total, expected_revenue_90d_total,
        customers, backtest, tracking, p_active, p_alive, confidence, segments``;
        ``backtest``, ``tracking``, ``p_active`` and ``p_alive`` (a non-degenerate BTYD
        model's P(alive) histogram; when every fit is degenerate the backtest notes say
        so) may be None, the lists empty.
    """
    details = run.get("details")
    info = dict(details.get("value") or {}) if isinstance(details, Mapping) else {}
    bt = run.get("backtest") if isinstance(run.get("backtest"), Mapping) else None
    values = run.get("values")
    if not isinstance(values, pd.DataFrame):
        values = pd.DataFrame()
    segments = _segments(profiles)
    p_active = _p_active(values)
    confidence = _confidence(values)
    if not (info or bt or segments or p_active or confidence):
        return None
    model = plain(info.get("model"))
    backtest_id = int_or_none(info.get("backtest_id"))
    stale = bt is not None and backtest_id is not None and bt.get("backtest_id") != backtest_id
    table = _backtest(bt, model) if bt else None
    p_alive = _p_alive(bt) if bt else None
    if table is not None and p_alive is not None and p_alive["note"]:
        table["notes"].append(p_alive["note"])
    return {
        "model": model,
        "backtest_id": backtest_id,
        "note": plain(info.get("note")),
        "backtest_is_newer": stale,
        "clv_12m_total": float_or_none(info.get("clv_12m_total")) or _sum(values, "clv_12m"),
        "expected_revenue_90d_total": _sum(values, "expected_revenue_90d"),
        "customers": p_active["customers"] if p_active else None,
        "backtest": table,
        "tracking": _tracking(bt) if bt else None,
        "p_active": p_active,
        "p_alive": p_alive if p_alive and p_alive["model"] else None,
        "confidence": confidence,
        "segments": segments,
    }
