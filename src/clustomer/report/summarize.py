"""Turn one segmentation run into plain data that the report renders.

The summary is a ``dict`` made only of ``str``, ``int``, ``float``, ``bool``, ``None``,
``list`` and ``dict``: it can be written as JSON, stored, and rendered later without
pandas. Customer keys never enter it (they may be e-mail addresses): the projection
keeps only coordinates and a segment name per point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd

from clustomer.segment.result import FEATURE_COLUMNS, KSelection, SegmentationResult

#: Version of the summary layout; bump when keys change meaning.
SUMMARY_VERSION = 1

#: How many rejected lines per import the report lists.
MAX_REJECTS = 20

#: Decimals kept for projection coordinates (enough for a plot, keeps the file small).
_XY_DECIMALS = 4

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


def _int_or_none(value: Any) -> int | None:
    value = plain(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    value = plain(value)
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


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


def _median_columns(profiles: pd.DataFrame) -> list[dict[str, str]]:
    present = [c[len("median_") :] for c in profiles.columns if str(c).startswith("median_")]
    ordered = [f for f in FEATURE_COLUMNS if f in present] + [
        f for f in present if f not in FEATURE_COLUMNS
    ]
    out = []
    for feature in ordered:
        label, kind = FEATURE_DISPLAY.get(
            feature, (feature.replace("_", " ").capitalize(), "number")
        )
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


def _segments(result: SegmentationResult, medians: list[dict[str, str]]) -> list[dict[str, Any]]:
    names = _segment_names(result)
    out = []
    for row in result.profiles.to_dict(orient="records"):
        sid = _int_or_none(row.get("segment_id"))
        name = plain(row.get("name"))
        if not name:
            name = names.get(sid, f"Segment {sid}") if sid is not None else "Unknown"
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
    data: dict[str, Any] = plain(ks.to_dict())
    return data


def _run(run: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("run_id", "created_at", "as_of", "n_customers", "method", "currency")
    out: dict[str, Any] = {k: plain(run.get(k)) for k in keys}
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
        timings``.
    title : str, optional
        Report title; defaults to ``"Customer segments"``.
    generated_at : str, optional
        ISO timestamp to print as the generation time; defaults to now (UTC).

    Returns
    -------
    dict
        Keys ``version, title, generated_at, run, imports, accounting_ok, k_selection,
        median_columns, segments, unassigned_customers, rfm, projection,
        explained_variance``. No customer keys anywhere.

    Examples
    --------
    >>> from clustomer.report.summarize import _example_result
    >>> s = summarize_run(_example_result(), imports=[], run={"as_of": "2011-12-10"})
    >>> [seg["name"] for seg in s["segments"]]
    ['Loyal', 'Lapsed']
    >>> s["projection"][0]
    {'x': 1.0, 'y': 0.5, 'segment': 'Loyal'}
    """
    run_data = _run(run)
    medians = _median_columns(result.profiles)
    imports_data = [summarize_import(imp) for imp in imports]
    unassigned = 0
    if "segment_id" in result.assignments.columns:
        unassigned = int((result.assignments["segment_id"] == -1).sum())
    n_customers = run_data.get("n_customers")
    if n_customers is None:
        run_data["n_customers"] = int(len(result.assignments))
    return {
        "version": SUMMARY_VERSION,
        "title": title or "Customer segments",
        "generated_at": generated_at or datetime.now(UTC).isoformat(timespec="seconds"),
        "run": run_data,
        "imports": imports_data,
        "accounting_ok": all(i["reconciled"] is True for i in imports_data),
        "k_selection": _k_selection(result.k_selection),
        "feature_columns": [str(f) for f in result.feature_columns],
        "median_columns": medians,
        "segments": _segments(result, medians),
        "unassigned_customers": unassigned,
        "rfm": _rfm(result),
        "projection": _projection(result),
        "explained_variance": [_float_or_none(v) for v in result.explained_variance],
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
