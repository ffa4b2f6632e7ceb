"""The marketing plan of a run: each segment's strategy and value, and whom to contact.

:func:`build_plan` joins a run's segments with the playbook and the customers' scores
(:mod:`clustomer.playbook.scores`):

* every segment (and the customers a density method left ``"Unassigned"``) gets its
  playbook entry, its size, its share of the net revenue of the planned customers and
  its **expected value** (the sum over its customers of ``p_active_90d ×
  expected_revenue_90d``; the RFM proxy when the run has no value model); segments are
  ordered by expected value, highest first;
* the **contact this week** list ranks the customers who were valuable (top quarter of
  spend so far) by **value at risk**, ``clv_12m × (1 − p_active_90d)``, highest first,
  each with the first action of their segment's entry.

Customers with returns only (segment id -1) have nothing to plan for and are counted
apart. The contact list holds customer keys: it is for the terminal and files the user
asks for, never for the report.

Examples
--------
>>> import pandas as pd
>>> members = pd.DataFrame({"customer_key": ["a", "b", "c"], "segment_id": [0, 0, 1],
...                         "segment_name": ["At risk", "At risk", "Champions"]})
>>> values = pd.DataFrame({"customer_key": ["a", "b", "c"],
...                        "p_active_90d": [0.2, 0.5, 0.9],
...                        "expected_revenue_90d": [100.0, 40.0, 50.0],
...                        "clv_12m": [300.0, 100.0, 200.0], "monetary": [900.0, 50, 400]})
>>> plan = build_plan([], members, values, contact_limit=5)
>>> [(s.name, s.expected_value) for s in plan.segments]
[('Champions', 45.0), ('At risk', 40.0)]
>>> [(c.customer_key, c.value_at_risk) for c in plan.contact_this_week]
[('a', 240.0)]
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from clustomer.playbook.load import Playbook, Strategy, default_playbook
from clustomer.playbook.scores import (
    BASIS_MODEL,
    BASIS_PROXY,
    MODEL_COLUMNS,
    PROXY_HALF_LIFE_DAYS,
    RFM_COLUMNS,
    VALUABLE_QUANTILE,
    customer_scores,
    valuable,
)

__all__ = [
    "CONTACT_RULE",
    "RETURNS_ONLY_ID",
    "UNASSIGNED_ID",
    "Contact",
    "Plan",
    "SegmentPlan",
    "build_plan",
]

#: Segment id of customers with returns only (not planned) and of those a density
#: method put in no segment (planned with the fallback entry).
RETURNS_ONLY_ID = -1
UNASSIGNED_ID = -2

#: How the contact list is made, in words.
CONTACT_RULE = (
    "customers whose spend so far is in the top quarter, ranked by value at risk: "
    "12-month CLV × (1 − probability of buying in the next 90 days)"
)


def _money(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _share(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


@dataclass(frozen=True)
class SegmentPlan:
    """One segment's strategy and value."""

    segment_id: int
    name: str
    description: str
    size: int
    #: the playbook entry used: an archetype name, or ``"fallback"``
    archetype: str
    strategy: Strategy
    expected_value: float | None
    expected_value_share: float | None
    expected_revenue_90d: float | None
    revenue_share: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data: name, size, archetype, values, then the five strategy fields."""
        return {
            "segment_id": self.segment_id,
            "name": self.name,
            "description": self.description,
            "size": self.size,
            "archetype": self.archetype,
            "expected_value": _money(self.expected_value),
            "expected_value_share": _share(self.expected_value_share),
            "expected_revenue_90d": _money(self.expected_revenue_90d),
            "revenue_share": _share(self.revenue_share),
            **self.strategy.to_dict(),
        }


@dataclass(frozen=True)
class Contact:
    """One customer to contact this week."""

    customer_key: str
    segment: str
    clv_12m: float
    p_active_90d: float
    value_at_risk: float
    suggested_action: str
    channel: str

    def to_dict(self) -> dict[str, Any]:
        """Plain data (holds the customer key: keep it out of reports)."""
        return {
            "customer_key": self.customer_key,
            "segment": self.segment,
            "clv_12m": _money(self.clv_12m),
            "p_active_90d": _share(self.p_active_90d),
            "value_at_risk": _money(self.value_at_risk),
            "suggested_action": self.suggested_action,
            "channel": self.channel,
        }


@dataclass(frozen=True)
class Plan:
    """The plan of one run: segments by expected value, and the contact list."""

    segments: tuple[SegmentPlan, ...]
    contact_this_week: tuple[Contact, ...]
    #: :data:`~clustomer.playbook.scores.BASIS_MODEL`, ``BASIS_PROXY`` or None
    basis: str | None
    playbook_sources: tuple[str, ...]
    returns_only: int = 0

    @property
    def basis_note(self) -> str:
        """One sentence on where the expected values come from."""
        if self.basis == BASIS_MODEL:
            return (
                "Expected value = the sum over the segment's customers of the probability "
                "of buying in the next 90 days × the expected revenue of those 90 days, "
                "from the run's customer-value model; a score to rank segments by."
            )
        if self.basis == BASIS_PROXY:
            return (
                "This run has no customer-value model, so expected value is an RFM proxy: "
                "spend per day as a customer × 90 days, halved for every "
                f"{PROXY_HALF_LIFE_DAYS:.0f} days since the last order, weighted by a "
                "probability of buying made the same way. A rough ranking, not a forecast."
            )
        return "No customer values or purchase history were given: no expected value."

    def to_dict(self) -> dict[str, Any]:
        """Plain data: ``basis, basis_note, playbook, returns_only, segments,
        contact_rule, contact_this_week``."""
        return {
            "basis": self.basis,
            "basis_note": self.basis_note,
            "playbook": list(self.playbook_sources),
            "returns_only": self.returns_only,
            "segments": [s.to_dict() for s in self.segments],
            "contact_rule": CONTACT_RULE,
            "contact_this_week": [c.to_dict() for c in self.contact_this_week],
        }


def _profiles(profiles: Sequence[Mapping[str, Any]] | pd.DataFrame | None) -> pd.DataFrame:
    frame = profiles if isinstance(profiles, pd.DataFrame) else pd.DataFrame(list(profiles or []))
    if "segment_id" not in frame.columns:
        return pd.DataFrame({"segment_id": pd.Series([], dtype="int64")})
    frame = frame[pd.to_numeric(frame["segment_id"], errors="coerce").notna()]
    return frame.assign(segment_id=frame["segment_id"].astype("int64")).set_index("segment_id")


def _customers(members: pd.DataFrame, values: pd.DataFrame | None) -> pd.DataFrame:
    """Members with the value and RFM columns, from ``values`` where it has them."""
    missing = {"customer_key", "segment_id"} - set(members.columns)
    if missing:
        raise KeyError(f"build_plan needs member columns {sorted(missing)}")
    frame = members.reset_index(drop=True)
    if values is None or values.empty:
        return frame
    if "customer_key" not in values.columns:
        raise KeyError("build_plan needs a customer_key column in values")
    wanted = [c for c in (*MODEL_COLUMNS, *RFM_COLUMNS) if c in values.columns]
    extra = values[["customer_key", *wanted]].drop_duplicates("customer_key")
    frame = frame.drop(columns=[c for c in wanted if c in frame.columns])
    return frame.merge(extra, on="customer_key", how="left", validate="many_to_one")


def _name(sid: int, names: Mapping[int, str], profiles: pd.DataFrame) -> str:
    if sid in names:
        return names[sid]
    if "name" in profiles.columns and sid in profiles.index:
        name = profiles.at[sid, "name"]
        if isinstance(name, str) and name:
            return name
    return "Unassigned" if sid == UNASSIGNED_ID else f"Segment {sid}"


def _member_names(frame: pd.DataFrame) -> dict[int, str]:
    if "segment_name" not in frame.columns:
        return {}
    pairs = frame[["segment_id", "segment_name"]].dropna().drop_duplicates("segment_id")
    return {int(s): str(n) for s, n in zip(pairs["segment_id"], pairs["segment_name"], strict=True)}


def _revenue_share(
    frame: pd.DataFrame, ids: np.ndarray, profiles: pd.DataFrame
) -> dict[int, float | None]:
    if "monetary" in frame.columns:
        # net spend, as the segment profiles' share_revenue counts it
        spend = pd.to_numeric(frame["monetary"], errors="coerce").fillna(0.0).to_numpy()
        total = float(spend.sum())
        if total > 0:
            per = pd.Series(spend).groupby(frame["segment_id"].to_numpy()).sum()
            return {int(s): float(per.get(s, 0.0)) / total for s in ids}
    out: dict[int, float | None] = {}
    for sid in ids:
        value = profiles["share_revenue"].get(sid) if "share_revenue" in profiles else None
        out[int(sid)] = None if value is None or pd.isna(value) else float(value)
    return out


def _description(sid: int, profiles: pd.DataFrame) -> str:
    if "description" in profiles.columns and sid in profiles.index:
        text = profiles.at[sid, "description"]
        if isinstance(text, str):
            return text
    return "customers the method put in no segment" if sid == UNASSIGNED_ID else ""


def _contacts(
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    by_segment: Mapping[int, SegmentPlan],
    limit: int,
    exclude: Collection[str],
    quantile: float,
) -> tuple[Contact, ...]:
    if limit == 0:
        return ()
    keys = frame["customer_key"].astype(str).to_numpy()
    sids = frame["segment_id"].to_numpy(dtype=np.int64)
    risk = scores["value_at_risk"].to_numpy(dtype=np.float64)
    clv = scores["clv_12m"].to_numpy(dtype=np.float64)
    p = scores["p_active_90d"].to_numpy(dtype=np.float64)
    keep = valuable(frame.assign(clv_12m=clv), quantile) & (risk > 0)
    if exclude:
        keep &= ~np.isin(keys, np.asarray(list(exclude), dtype=str))
    rows = np.flatnonzero(keep)
    # highest value at risk first; ties by customer key, so the list is reproducible
    rows = rows[np.lexsort((keys[rows], -risk[rows]))][:limit]
    out = []
    for i in rows.tolist():
        seg = by_segment[int(sids[i])]
        out.append(
            Contact(
                customer_key=str(keys[i]),
                segment=seg.name,
                clv_12m=float(clv[i]),
                p_active_90d=float(p[i]),
                value_at_risk=float(risk[i]),
                suggested_action=seg.strategy.actions[0],
                channel=seg.strategy.channel,
            )
        )
    return tuple(out)


def build_plan(
    profiles: Sequence[Mapping[str, Any]] | pd.DataFrame | None,
    members: pd.DataFrame,
    values: pd.DataFrame | None = None,
    playbook: Playbook | None = None,
    *,
    contact_limit: int = 20,
    exclude: Collection[str] = (),
    valuable_quantile: float = VALUABLE_QUANTILE,
) -> Plan:
    """Each segment's strategy and expected value, and the customers to contact this week.

    Parameters
    ----------
    profiles : list of dict or DataFrame
        The run's segment profiles (``Workspace.run_details()["profiles"]`` or
        ``SegmentationResult.profiles``): ``segment_id``, ``name``, ``description``,
        ``share_revenue``. Optional; names come from ``members`` first.
    members : DataFrame
        One row per customer: ``customer_key``, ``segment_id`` and (ideally)
        ``segment_name`` (``Workspace.assignments()``). It may carry the value and RFM
        columns itself.
    values : DataFrame, optional
        One row per customer: ``customer_key`` with the run's value columns
        (``p_active_90d``, ``expected_revenue_90d``, ``clv_12m``) and/or the RFM
        features (``recency_days``, ``frequency``, ``monetary``, ``tenure_days``) as of
        the run's date; other columns are ignored. Customers missing from it count 0.
        ``monetary`` also decides who "was valuable" and the revenue shares.
    playbook : Playbook, optional
        Default: :func:`~clustomer.playbook.load.default_playbook`.
    contact_limit : int
        Length of the contact list (0: none).
    exclude : collection of str
        Customer keys never to list (suppressed, no consent).
    valuable_quantile : float
        Spend quantile a customer must reach to be listed (see
        :func:`~clustomer.playbook.scores.valuable`).

    Returns
    -------
    Plan

    Raises
    ------
    KeyError
        ``members`` lacks ``customer_key`` or ``segment_id``.
    ValueError
        A negative ``contact_limit``.
    """
    if contact_limit < 0:
        raise ValueError(f"contact_limit must be 0 or more, got {contact_limit}")
    playbook = playbook or default_playbook()
    prof = _profiles(profiles)
    frame = _customers(members, values)
    sid_all = pd.to_numeric(frame["segment_id"], errors="coerce").fillna(RETURNS_ONLY_ID)
    returns_only = int((sid_all == RETURNS_ONLY_ID).sum())
    frame = frame[(sid_all != RETURNS_ONLY_ID).to_numpy()].reset_index(drop=True)
    frame["segment_id"] = sid_all[sid_all != RETURNS_ONLY_ID].astype("int64").to_numpy()
    scores, basis = customer_scores(frame)

    seg_ids = frame["segment_id"].to_numpy(dtype=np.int64)
    ids, position, sizes = np.unique(seg_ids, return_inverse=True, return_counts=True)
    value_sums = np.bincount(position, weights=scores["expected_value"], minlength=len(ids))
    revenue_sums = np.bincount(position, weights=scores["expected_revenue_90d"], minlength=len(ids))
    total_value = float(value_sums.sum())
    names = _member_names(frame)
    shares = _revenue_share(frame, ids, prof)
    plans = []
    for j, sid in enumerate(ids.tolist()):
        name = _name(sid, names, prof)
        archetype, strategy = playbook.lookup(name)
        value = float(value_sums[j]) if basis else None
        revenue = float(revenue_sums[j]) if basis else None
        share = value / total_value if value is not None and total_value > 0 else None
        plans.append(
            SegmentPlan(
                segment_id=sid,
                name=name,
                description=_description(sid, prof),
                size=int(sizes[j]),
                archetype=archetype,
                strategy=strategy,
                expected_value=value,
                expected_value_share=share,
                expected_revenue_90d=revenue,
                revenue_share=shares.get(sid),
            )
        )
    plans.sort(
        key=lambda s: (-(s.expected_value or 0.0), -(s.revenue_share or 0.0), -s.size, s.segment_id)
    )
    contacts: tuple[Contact, ...] = ()
    if basis is not None:
        by_segment = {s.segment_id: s for s in plans}
        contacts = _contacts(frame, scores, by_segment, contact_limit, exclude, valuable_quantile)
    return Plan(tuple(plans), contacts, basis, playbook.sources, returns_only)
