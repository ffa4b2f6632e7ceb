"""Plain data for the API and the pages, read from the workspace (callers hold its lock).

No customer's contact details leave here unmasked: :func:`mask_email` keeps the first
character and the domain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from clustomer.web.answer import plain
from clustomer.web.scoring import NotFoundError
from clustomer.workspace import Workspace

__all__ = ["customer_detail", "mask_email", "overview", "segment_detail", "segments_summary"]

_SEGMENT_FIELDS = (
    "description",
    "share_customers",
    "share_revenue",
    "stability",
    "expected_revenue_90d_total",
    "clv_12m_total",
)


def mask_email(address: str | None) -> str | None:
    """``anna@example.com`` -> ``a***@example.com``.

    >>> mask_email("anna@example.com"), mask_email(None), mask_email("nodomain")
    ('a***@example.com', None, '***')
    """
    if address is None:
        return None
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def _iso(value: Any) -> str:
    return value.date().isoformat() if hasattr(value, "date") else str(value)


def _segment(p: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": int(p["segment_id"]),
        "name": str(p["name"]),
        "size": int(p["size"]),
    }
    for f in _SEGMENT_FIELDS:
        out[f] = plain(p.get(f))
    out["description"] = str(p.get("description") or "")
    out["share_customers"] = float(out["share_customers"] or 0.0)
    out["share_revenue"] = float(out["share_revenue"] or 0.0)
    return out


def segments_summary(ws: Workspace, run_id: int | None = None) -> dict[str, Any]:
    """The latest run's segments: id, name, size, shares, value totals."""
    run = ws.run_details(run_id)
    profiles = run["profiles"] or []
    return {
        "run_id": int(run["run_id"]),
        "as_of": _iso(run["as_of"]),
        "method": str(run["method"]),
        "k": int(run["k"]),
        "customers": int(sum(int(p["size"]) for p in profiles)),
        "segments": [_segment(p) for p in profiles],
    }


def segment_detail(ws: Workspace, segment_id: int) -> dict[str, Any]:
    """One segment of the latest run: profile, rules, playbook entry."""
    run = ws.run_details()
    profiles = {int(p["segment_id"]): p for p in run["profiles"] or []}
    if segment_id not in profiles:
        known = ", ".join(f"{i} ({p['name']})" for i, p in sorted(profiles.items()))
        raise NotFoundError(f"the latest run has no segment {segment_id}; it has {known}")
    p = profiles[segment_id]
    details = run.get("details") or {}
    rules_data = details.get("rules") or {}
    rules: list[str] = []
    fidelity = None
    for seg in rules_data.get("segments", []):
        if int(seg.get("segment_id", -99)) == segment_id:
            rules = [str(r["text"]) for r in seg.get("rules", [])]
            fidelity = plain(seg.get("fidelity"))
    playbook = None
    try:
        plan = ws.plan()
    except Exception:  # a broken playbook file must not hide the segment
        plan = None
    if plan is not None:
        for sp in plan.to_dict()["segments"]:
            if int(sp["segment_id"]) == segment_id:
                playbook = {
                    k: sp.get(k)
                    for k in ("archetype", "objective", "actions", "channel", "offer", "cadence")
                }
                playbook["actions"] = list(playbook["actions"] or [])
                playbook["expected_value"] = plain(sp.get("expected_value"))
    profile = {k: plain(v) for k, v in p.items() if k.startswith("median_")}
    return {
        "run_id": int(run["run_id"]),
        "segment": _segment(p),
        "profile": profile,
        "rules": rules,
        "fidelity": fidelity,
        "playbook": playbook,
    }


def segment_members(ws: Workspace, segment_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The segment's most valuable customers (12-month CLV, else spend), keys masked
    to their last four characters for the page."""
    from clustomer.store.values import load_values

    run = ws.run_details()
    members = ws.assignments(int(run["run_id"]))
    members = members[members["segment_id"] == segment_id]
    values = load_values(ws.store, int(run["run_id"]))
    if not values.empty:
        members = members.merge(values, on="customer_key", how="left")
        members = members.sort_values("clv_12m", ascending=False, na_position="last")
    rows = []
    for r in members.head(limit).to_dict("records"):
        key = str(r["customer_key"])
        rows.append(
            {
                "customer": "…" + key[-4:] if len(key) > 4 else key,
                "key": key,  # for the server only: pages link by segment and rank
                "clv_12m": plain(r.get("clv_12m")),
                "p_active_90d": plain(r.get("p_active_90d")),
            }
        )
    return rows


def customer_detail(ws: Workspace, key: str, *, show_pii: bool = False) -> dict[str, Any]:
    """Features, segment history, value columns and contact of one customer; the contact
    e-mail, and a key that is an e-mail address, masked unless ``show_pii``."""
    from clustomer.store.audiences import contact_emails
    from clustomer.store.lines import customer_order_lines
    from clustomer.store.runs import load_assignments
    from clustomer.store.values import load_values

    lines, row = customer_order_lines(ws.store, key)
    if lines.empty:
        raise NotFoundError(f"there is no customer {key!r} in this workspace")
    runs = ws.runs()
    latest = int(runs["run_id"].iloc[0]) if not runs.empty else None
    as_of = ws.run_details(latest)["as_of"] if latest is not None else None
    from clustomer.features.customer import customer_features
    from clustomer.web.scoring import _Scratch

    scratch = _Scratch(lines, row)
    try:
        feats = customer_features(scratch, as_of)
    finally:
        scratch.con.close()
    history = []
    for r in runs.head(20).to_dict("records"):  # newest first
        members = load_assignments(ws.store, int(r["run_id"]))
        hit = members[members["customer_key"] == key]
        if not hit.empty:
            history.append(
                {
                    "run_id": int(r["run_id"]),
                    "as_of": _iso(r["as_of"]),
                    "segment_id": int(hit["segment_id"].iloc[0]),
                    "segment_name": str(hit["segment_name"].iloc[0]),
                }
            )
    values = None
    if latest is not None:
        v = load_values(ws.store, latest)
        v = v[v["customer_key"] == key]
        if not v.empty:
            values = {k: plain(x) for k, x in v.iloc[0].items() if k != "customer_key"}
    emails = contact_emails(ws.store)
    mine = emails[emails["customer_key"] == key]
    shown = (lambda x: x) if show_pii else mask_email
    contact = {"email": shown(str(mine["email"].iloc[0]))} if not mine.empty else None
    current = history[0] if history and history[0]["run_id"] == latest else None
    feature_row = feats.iloc[0].to_dict()
    return {
        "customer_key": key,
        "label": key if show_pii or "@" not in key else mask_email(key),
        "run_id": latest,
        "as_of": _iso(as_of) if as_of is not None else _iso(feats.get("as_of", "")),
        "features": {k: plain(v) for k, v in feature_row.items() if k != "customer_key"},
        "segment_id": current["segment_id"] if current else None,
        "segment_name": current["segment_name"] if current else None,
        "history": history,
        "values": values,
        "contact": contact,
    }


def overview(ws: Workspace) -> dict[str, Any]:
    """The overview page's KPIs, segment bars and migration since the previous run."""
    imports = ws.imports()
    runs = ws.runs()
    data: dict[str, Any] = {
        "imports": len(imports),
        "runs": len(runs),
        "currency": imports[-1].currency if imports else None,
    }
    if runs.empty:
        return data
    summary = segments_summary(ws)
    members = ws.assignments()
    feats = ws.features(ws.run_details()["as_of"])
    revenue = float(feats["monetary"].clip(lower=0).sum())
    active = float(np.mean(feats["recency_days"].fillna(np.inf) <= 90)) if len(feats) else 0.0
    returns_only = int((members["segment_id"] == -1).sum())
    unassigned = int((members["segment_id"] == -2).sum())
    left_out = [f"{returns_only:,} with returns only"] if returns_only else []
    left_out += [f"{unassigned:,} left unassigned by the method"] if unassigned else []
    data.update(
        customers=int(len(members)),
        returns_only=returns_only,
        unassigned=unassigned,
        left_out="; ".join(left_out),
        revenue=round(revenue, 2),
        active_share=round(active, 4),
        summary=summary,
    )
    if len(runs) > 1:
        try:
            cmp = ws.compare(int(runs["run_id"].iloc[1]), int(runs["run_id"].iloc[0]))
            data["migration"] = cmp.to_dict()
        except Exception:  # runs of different customers: no migration, not an error
            data["migration"] = None
    return data


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in r.items()} for r in frame.to_dict("records")]
