"""Turn one segmentation run into plain data that the report renders.

The summary is a ``dict`` made only of ``str``, ``int``, ``float``, ``bool``, ``None``,
``list`` and ``dict``: it can be written as JSON, stored, and rendered later without
pandas. Customer keys never enter it (they may be e-mail addresses): the projection
keeps only coordinates and a segment name per point.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from clustomer.report.common import (
    DENSITY_METHODS,
    FEATURE_DISPLAY,
    METHOD_LABELS,
    feature_label,
    plain,
)
from clustomer.report.common import float_or_none as _float_or_none
from clustomer.report.common import int_or_none as _int_or_none
from clustomer.report.explain import summarize_details, summarize_migration
from clustomer.report.kchoice import summarize_criteria
from clustomer.report.strategy import summarize_strategy
from clustomer.report.value import summarize_value
from clustomer.segment.criteria import LOW_STABILITY, stability_label
from clustomer.segment.result import FEATURE_COLUMNS, KSelection, SegmentationResult

__all__ = [
    "FEATURE_DISPLAY",
    "MAX_REJECTS",
    "SUMMARY_VERSION",
    "UNCERTAIN_BELOW",
    "plain",
    "summarize_import",
    "summarize_run",
]

#: Version of the summary layout; bump when keys change meaning.
#: 2: k criteria, method, segment stability, unassigned (-2), probabilities, explanations,
#: migration.
SUMMARY_VERSION = 2

#: How many rejected lines per import the report lists.
MAX_REJECTS = 20

#: Decimals kept for projection coordinates (enough for a plot, keeps the file small).
_XY_DECIMALS = 4

#: A ``gmm`` member whose membership probability is below this is an "uncertain member".
UNCERTAIN_BELOW = 0.8


def summarize_import(imp: Mapping[str, Any], *, max_rejects: int = MAX_REJECTS) -> dict[str, Any]:
    """Summarise one import's row accounting and check that every row is accounted for.

    The check is ``rows_read == rows_kept + sum(rows_dropped)``; ``reconciled`` is
    ``True``/``False``, or ``None`` when the counts needed are missing. Rejected lines
    keep their line, column and message but never the raw value (it may be personal data).

    Parameters
    ----------
    imp : mapping
        An import summary as the ingest step reports it (``rows_read``, ``rows_kept``,
        ``rows_dropped``, ``revenue_dropped``, ``rejects``, ...). Missing keys are tolerated.
    max_rejects : int, default 20
        How many rejected lines to keep.

    Returns
    -------
    dict
        Plain data; ``drops`` is a list of ``{"reason", "rows", "revenue"}``.

    Examples
    --------
    >>> s = summarize_import({"file": "a.csv", "rows_read": 10, "rows_kept": 7,
    ...                       "rows_dropped": {"missing customer": 2}})
    >>> s["reconciled"], s["unaccounted_rows"]
    (False, 1)
    """
    rows_dropped = dict(imp.get("rows_dropped") or {})
    revenue_dropped = dict(imp.get("revenue_dropped") or {})
    reasons = list(rows_dropped) + [r for r in revenue_dropped if r not in rows_dropped]
    drop_rows = [_int_or_none(rows_dropped.get(reason)) for reason in reasons]
    drop_revenue = [_float_or_none(revenue_dropped.get(reason)) for reason in reasons]
    drops = [
        {"reason": str(reason), "rows": n, "revenue": money}
        for reason, n, money in zip(reasons, drop_rows, drop_revenue, strict=True)
    ]
    dropped_total = sum(n or 0 for n in drop_rows)

    rows_read = _int_or_none(imp.get("rows_read"))
    rows_kept = _int_or_none(imp.get("rows_kept"))
    if rows_read is None or rows_kept is None:
        reconciled: bool | None = None
        unaccounted: int | None = None
    else:
        unaccounted = rows_read - rows_kept - dropped_total
        reconciled = unaccounted == 0

    revenue = _float_or_none(imp.get("revenue"))
    revenue_kept = _float_or_none(imp.get("revenue_kept"))
    revenue_dropped_total = sum(money or 0.0 for money in drop_revenue)
    revenue_unaccounted: float | None = None
    if revenue is not None and revenue_kept is not None and revenue_dropped:
        revenue_unaccounted = round(revenue - revenue_kept - revenue_dropped_total, 2)

    all_rejects = list(imp.get("rejects") or [])
    rejects = [
        {
            "line": _int_or_none(r.get("line")),
            "column": plain(r.get("column")),
            "message": plain(r.get("message")),
        }
        for r in all_rejects[:max_rejects]
    ]
    rejects_total = _int_or_none(imp.get("rejects_total"))
    if rejects_total is None:
        rejects_total = len(all_rejects)

    return {
        "import_id": plain(imp.get("import_id")),
        "file": str(imp.get("file") or "(unnamed file)"),
        "layout": plain(imp.get("layout")),
        "currency": plain(imp.get("currency")),
        "imported_at": plain(imp.get("imported_at")),
        "already_imported": bool(imp.get("already_imported", False)),
        "rows_read": rows_read,
        "rows_kept": rows_kept,
        "rows_dropped_total": dropped_total,
        "drops": drops,
        "reconciled": reconciled,
        "unaccounted_rows": unaccounted,
        "customers": _int_or_none(imp.get("customers")),
        "orders": _int_or_none(imp.get("orders")),
        "cancellation_lines": _int_or_none(imp.get("cancellation_lines")),
        "extra_lines": _int_or_none(imp.get("extra_lines")),
        "revenue": revenue,
        "revenue_kept": revenue_kept,
        "revenue_dropped_total": round(revenue_dropped_total, 2),
        "revenue_unaccounted": revenue_unaccounted,
        "rejects": rejects,
        "rejects_total": rejects_total,
    }


def _median_columns(
    profiles: pd.DataFrame, column_names: Mapping[str, str] | None = None
) -> list[dict[str, str]]:
    present = [c[len("median_") :] for c in profiles.columns if str(c).startswith("median_")]
    ordered = [f for f in FEATURE_COLUMNS if f in present] + [
        f for f in present if f not in FEATURE_COLUMNS
    ]
    out = []
    for feature in ordered:
        if feature in FEATURE_DISPLAY:
            label, kind = FEATURE_DISPLAY[feature]
        else:  # topic shares are shares of spend; anything else is a plain number
            label = feature_label(feature, column_names)
            kind = "rate" if feature.startswith("topic_") else "number"
        out.append({"feature": feature, "label": label, "kind": kind})
    return out


def _segment_names(result: SegmentationResult) -> dict[int, str]:
    names: dict[int, str] = {}
    a = result.assignments
    if {"segment_id", "segment_name"} <= set(a.columns):
        pairs = a[["segment_id", "segment_name"]].drop_duplicates("segment_id")
        for sid, name in zip(pairs["segment_id"], pairs["segment_name"], strict=True):
            if _int_or_none(sid) is not None and plain(name) is not None:
                names[int(sid)] = str(name)
    p = result.profiles
    if {"segment_id", "name"} <= set(p.columns):
        for sid, name in zip(p["segment_id"], p["name"], strict=True):
            if _int_or_none(sid) is not None and plain(name) is not None:
                names[int(sid)] = str(name)
    return names


def _probability_stats(values: np.ndarray) -> dict[str, Any]:
    q = np.quantile(values, [0.0, 0.25, 0.5, 0.75, 1.0])
    uncertain = int((values < UNCERTAIN_BELOW).sum())
    return {
        "customers": int(values.size),
        "min": round(float(q[0]), 4),
        "q1": round(float(q[1]), 4),
        "median": round(float(q[2]), 4),
        "q3": round(float(q[3]), 4),
        "max": round(float(q[4]), 4),
        "uncertain": uncertain,
        "uncertain_share": round(uncertain / values.size, 4),
    }


def _probabilities(result: SegmentationResult) -> tuple[dict[int, dict[str, Any]], Any]:
    """Membership probabilities per segment and overall (``gmm``), from the assignments."""
    a = result.assignments
    if not {"probability", "segment_id"} <= set(a.columns):
        return {}, None
    p = pd.to_numeric(a["probability"], errors="coerce").to_numpy(dtype=np.float64)
    sid = pd.to_numeric(a["segment_id"], errors="coerce").to_numpy(dtype=np.float64)
    known = np.isfinite(p) & np.isfinite(sid) & (sid >= 0)
    if not known.any():
        return {}, None
    per = {int(s): _probability_stats(p[known & (sid == s)]) for s in np.unique(sid[known])}
    overall = dict(_probability_stats(p[known]), threshold=UNCERTAIN_BELOW)
    return per, overall


def _stability(row: Mapping[Any, Any]) -> tuple[float | None, bool, str]:
    value = _float_or_none(row.get("stability"))
    flag = plain(row.get("unstable"))
    if isinstance(flag, bool | int):
        unstable = bool(flag)
    else:
        unstable = value is not None and value < LOW_STABILITY
    return value, unstable, stability_label(float("nan") if value is None else value)


def _segments(
    result: SegmentationResult,
    medians: list[dict[str, str]],
    probabilities: Mapping[int, dict[str, Any]],
) -> list[dict[str, Any]]:
    names = _segment_names(result)
    out = []
    for row in result.profiles.to_dict(orient="records"):
        sid = _int_or_none(row.get("segment_id"))
        name = plain(row.get("name"))
        if not name:
            name = names.get(sid, f"Segment {sid}") if sid is not None else "Unknown"
        stability, unstable, label = _stability(row)
        out.append(
            {
                "segment_id": sid,
                "name": str(name),
                "description": str(plain(row.get("description")) or ""),
                "size": _int_or_none(row.get("size")) or 0,
                "share_customers": _float_or_none(row.get("share_customers")),
                "share_revenue": _float_or_none(row.get("share_revenue")),
                "medians": {
                    m["feature"]: _float_or_none(row.get("median_" + m["feature"])) for m in medians
                },
                "stability": stability,
                "stability_label": label,
                "unstable": unstable,
                "probability": probabilities.get(sid) if sid is not None else None,
            }
        )
    return out


def _without_segment(result: SegmentationResult, method: str | None) -> list[dict[str, Any]]:
    """Customers in no segment: returns only (-1) and unassigned by the method (-2)."""
    a = result.assignments
    ids = a["segment_id"] if "segment_id" in a.columns else pd.Series([], dtype="int64")
    total = max(len(a), 1)
    who = METHOD_LABELS.get(method or "", method or "the method")
    rows = [
        (
            -1,
            "returns_only",
            "Returns only",
            "Only returned goods (no net purchase), so they were not clustered.",
        ),
        (
            -2,
            "unassigned",
            "Unassigned by the method",
            f"{who} put them in no segment: they fit none of the dense groups it found "
            "(noise). They are counted here, not dropped.",
        ),
    ]
    out = []
    for sid, kind, label, explanation in rows:
        n = int((ids == sid).sum())
        out.append(
            {
                "segment_id": sid,
                "kind": kind,
                "label": label,
                "customers": n,
                "share_customers": n / total if len(a) else None,
                "explanation": explanation,
            }
        )
    return out


def _projection(result: SegmentationResult) -> list[dict[str, Any]]:
    proj = result.projection
    if proj.empty or not {"x", "y"} <= set(proj.columns):
        return []
    names = _segment_names(result)
    ids = proj["segment_id"] if "segment_id" in proj.columns else pd.Series(-1, index=proj.index)
    points = []
    # only x, y and the segment name: never the customer key
    for x, y, sid in zip(proj["x"], proj["y"], ids, strict=True):
        fx, fy = _float_or_none(x), _float_or_none(y)
        if fx is None or fy is None:
            continue
        key = _int_or_none(sid)
        name = names.get(key, f"Segment {key}") if key is not None else "Unknown"
        points.append({"x": round(fx, _XY_DECIMALS), "y": round(fy, _XY_DECIMALS), "segment": name})
    return points


def _rfm(result: SegmentationResult) -> list[dict[str, Any]]:
    out = []
    for row in result.rfm_counts.to_dict(orient="records"):
        out.append(
            {
                "rfm_segment": str(plain(row.get("rfm_segment"))),
                "customers": _int_or_none(row.get("customers")) or 0,
                "share_customers": _float_or_none(row.get("share_customers")),
                "share_revenue": _float_or_none(row.get("share_revenue")),
            }
        )
    return out


def _k_selection(ks: KSelection) -> dict[str, Any]:
    # the raw criteria (with the sample's segment centres) are summarised in k_criteria
    data: dict[str, Any] = plain({k: v for k, v in ks.to_dict().items() if k != "criteria"})
    return data


def _run(run: Mapping[str, Any], method: str | None) -> dict[str, Any]:
    keys = ("run_id", "created_at", "as_of", "n_customers", "method", "currency")
    out: dict[str, Any] = {k: plain(run.get(k)) for k in keys}
    if not out["method"]:
        out["method"] = plain(method)
    out["method_label"] = METHOD_LABELS.get(str(out["method"]), out["method"])
    timings = run.get("timings") or {}
    out["timings"] = {str(k): _float_or_none(v) for k, v in dict(timings).items()}
    out["total_seconds"] = round(sum(v for v in out["timings"].values() if v is not None), 3)
    return out


def summarize_run(
    result: SegmentationResult,
    *,
    imports: list[dict[str, Any]],
    run: dict[str, Any],
    title: str | None = None,
    generated_at: str | None = None,
) -> dict[str, Any]:
    """Summarise a segmentation run as plain, JSON-serialisable data for the report.

    Parameters
    ----------
    result : SegmentationResult
        What the segmentation produced.
    imports : list of dict
        One import summary per file that fed the run (row accounting, rejects, ...).
    run : dict
        The run's record: ``run_id, created_at, as_of, n_customers, method, currency,
        timings``; optionally ``details`` (the run's explanations: ``features``,
        ``rules``, ``rules_text``, ``fidelity``, ``classifier``; see
        :func:`clustomer.report.explain.summarize_details`) and ``migration`` (a
        ``RunComparison.to_dict()`` against an earlier run); for the value section
        ``backtest`` (a stored backtest) and ``values`` (per-customer value columns);
        for the strategy section ``playbook`` (a ``Playbook`` or a path; default otherwise).
    title : str, optional
        Report title; defaults to ``"Customer segments"``.
    generated_at : str, optional
        ISO timestamp to print as the generation time; defaults to now (UTC).

    Returns
    -------
    dict
        Keys ``version, title, generated_at, run, imports, accounting_ok, k_selection,
        k_mode, k_criteria, feature_columns, median_columns, segments,
        stability_known, unstable_segments, low_stability, unassigned_customers and
        returns_only_customers (both: returns only, -1), unassigned_by_method (-2),
        without_segment, probabilities, rfm, projection,
        explained_variance, explain, migration, value`` (see
        :func:`clustomer.report.value.summarize_value`), ``strategy`` (see
        :func:`clustomer.report.strategy.summarize_strategy`). No customer keys anywhere.

        ``k_mode`` is ``"criteria"`` (every criterion per k, in ``k_criteria``),
        ``"density"`` (the method found k itself) or ``"curves"`` (inertia and
        silhouette only). Each segment carries ``stability`` (None when unknown),
        ``stability_label``, ``unstable`` and ``probability`` (``gmm`` only: quartiles,
        ``uncertain`` members below :data:`UNCERTAIN_BELOW`).

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result
    >>> s = summarize_run(_example_result(), imports=[], run={"as_of": "2011-12-10"})
    >>> [seg["name"] for seg in s["segments"]]
    ['Loyal', 'Lapsed']
    >>> s["projection"][0]
    {'x': 1.0, 'y': 0.5, 'segment': 'Loyal'}
    >>> s["run"]["method"], s["k_mode"], s["migration"]
    ('kmeans', 'curves', None)
    """
    run_data = _run(run, result.method)
    method = run_data["method"]
    details = run.get("details") if isinstance(run.get("details"), Mapping) else None
    column_names = {}
    if details and isinstance(details.get("features"), Mapping):
        column_names = dict(details["features"].get("column_names") or {})
    medians = _median_columns(result.profiles, column_names)
    imports_data = [summarize_import(imp) for imp in imports]
    without = _without_segment(result, method)
    n_customers = run_data.get("n_customers")
    if n_customers is None:
        run_data["n_customers"] = int(len(result.assignments))
    per_segment, probabilities = _probabilities(result)
    segments = _segments(result, medians, per_segment)
    k_criteria = summarize_criteria(result.k_selection)
    if k_criteria is not None:
        k_mode = "criteria"
    elif method in DENSITY_METHODS:
        k_mode = "density"
    else:
        k_mode = "curves"
    n_clustered = int(len(result.assignments)) - without[0]["customers"]
    return {
        "version": SUMMARY_VERSION,
        "title": title or "Customer segments",
        "generated_at": generated_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_data,
        "imports": imports_data,
        "accounting_ok": all(i["reconciled"] is True for i in imports_data),
        "k_selection": _k_selection(result.k_selection),
        "k_mode": k_mode,
        "k_criteria": k_criteria,
        "feature_columns": [str(f) for f in result.feature_columns],
        "median_columns": medians,
        "segments": segments,
        "stability_known": any(s["stability"] is not None for s in segments),
        "unstable_segments": [s["name"] for s in segments if s["unstable"]],
        "low_stability": LOW_STABILITY,
        "unassigned_customers": without[0]["customers"],
        "returns_only_customers": without[0]["customers"],
        "unassigned_by_method": without[1]["customers"],
        "without_segment": without,
        "probabilities": probabilities,
        "rfm": _rfm(result),
        "projection": _projection(result),
        "explained_variance": [_float_or_none(v) for v in result.explained_variance],
        "explain": summarize_details(details, n_clustered=n_clustered),
        "migration": summarize_migration(run.get("migration")),
        "value": summarize_value(run, result.profiles),
        "strategy": summarize_strategy(run, result),
    }


def _example_result() -> SegmentationResult:
    """A tiny hand-made result, for docstring examples only."""
    profiles = pd.DataFrame(
        {
            "segment_id": [0, 1],
            "name": ["Loyal", "Lapsed"],
            "description": ["Buy often", "Gone quiet"],
            "size": [2, 1],
            "share_customers": [2 / 3, 1 / 3],
            "share_revenue": [0.9, 0.1],
            "median_recency_days": [5.0, 200.0],
            "median_monetary": [1234.5, 20.0],
        }
    )
    assignments = pd.DataFrame(
        {
            "customer_key": ["a@example.com", "b@example.com", "c@example.com"],
            "segment_id": [0, 0, 1],
            "segment_name": ["Loyal", "Loyal", "Lapsed"],
            "rfm_segment": ["Champions", "Champions", "Hibernating"],
        }
    )
    projection = pd.DataFrame(
        {
            "customer_key": ["a@example.com", "b@example.com", "c@example.com"],
            "segment_id": [0, 0, 1],
            "x": [1.0, 0.8, -2.0],
            "y": [0.5, 0.4, -1.0],
        }
    )
    rfm_counts = pd.DataFrame(
        {
            "rfm_segment": ["Champions", "Hibernating"],
            "customers": [2, 1],
            "share_customers": [2 / 3, 1 / 3],
            "share_revenue": [0.9, 0.1],
        }
    )
    ks = KSelection(
        ks=[2, 3, 4],
        inertia=[10.0, 6.0, 5.0],
        silhouette=[0.5, 0.4, 0.3],
        elbow_k=3,
        best_silhouette_k=2,
        chosen_k=2,
        reason="2 segments: the best silhouette.",
        sample_size=3,
    )
    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k_selection=ks,
        projection=projection,
        feature_columns=["recency_days", "monetary"],
        rfm_counts=rfm_counts,
        explained_variance=[0.6, 0.3],
    )
