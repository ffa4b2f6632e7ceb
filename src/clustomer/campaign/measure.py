"""Record an export as a campaign and measure it: treatment against control.

How a campaign is measured
--------------------------
A campaign is one or more exported audiences (one per segment) sent on a date and
measured over a window of ``window_days`` days: ``[sent, sent + window_days)``, from
midnight UTC of the sent date.

- **From orders** (the default): a member *converts* when they have an order line in
  the window that is not a return. Their *revenue* is the net revenue of their lines in
  the window: returns dated in the window count against it (so revenue can be negative),
  returns of earlier purchases included. Orders imported after the campaign is recorded
  count; report again after importing newer orders.
- **From an outcome file** (:func:`~clustomer.campaign.outcomes.import_outcomes`): once
  imported, it takes precedence. Members the file does not list count as not converted.
  Revenue comes from the file's ``revenue`` column, or from orders when it has none.

A customer in several of the campaign's audiences counts once in the overall figures
(in the treatment arm if they were in any treatment arm) and in each segment's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from clustomer.campaign.compare import Comparison, compare_arms
from clustomer.errors import ClustomerError
from clustomer.store import campaigns as db
from clustomer.store.db import Store


def record_campaign(
    store: Store,
    name: str,
    segments: list[str],
    sent: date | str,
    window_days: int = 30,
    audience_ids: list[int] | None = None,
) -> int:
    """Record the export(s) sent on ``sent`` as the campaign ``name``; return its id.

    ``sent`` is a date (or ``"YYYY-MM-DD"``). For each segment name (any case) the
    latest audience exported on or before the sent date (UTC) is taken;
    ``audience_ids`` names the audiences instead (then ``segments`` may be empty; each
    one given must match one of the audiences).

    Raises
    ------
    ClustomerError
        The name is empty or taken, the window is not a positive number of days, a
        segment has no export on or before the sent date, an audience id is unknown or
        was exported after the sent date, or an audience has nobody in its treatment arm.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> record_campaign(store, "Spring", ["Champions"], date(2024, 3, 1))
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: no audience has been exported for segment 'Champions'; ...
    """
    name = (name or "").strip()
    if not name:
        raise ClustomerError("give the campaign a name (--name)")
    sent = _sent_date(sent)
    if isinstance(window_days, bool) or int(window_days) != window_days or window_days < 1:
        raise ClustomerError(
            f"the window must be a whole number of days, 1 or more (got {window_days})"
        )
    taken = [n for n in db.list_campaigns(store)["name"] if str(n).lower() == name.lower()]
    if taken:
        raise ClustomerError(
            f"a campaign named {taken[0]!r} already exists; choose another name "
            f"(clustomer campaign report {taken[0]!r} shows the existing one)"
        )
    wanted = list(dict.fromkeys(s.strip() for s in segments if s and s.strip()))
    if audience_ids:
        audiences = _given_audiences(store, audience_ids, wanted, sent)
    else:
        if not wanted:
            raise ClustomerError("name at least one segment (--segment) or audience")
        audiences = [_latest_audience(store, segment, sent) for segment in wanted]
    ids = [int(a["audience_id"]) for a in audiences]
    if len(set(ids)) != len(ids):
        raise ClustomerError("the same audience is named twice")
    for a in audiences:
        if int(a["n_treatment"]) <= 0:
            raise ClustomerError(
                f"audience {a['audience_id']} (segment {a['segment_name']!r}) has nobody in its "
                "treatment arm: nothing was sent"
            )
    return db.insert_campaign(store, name, sent, int(window_days), ids)


def _sent_date(sent: date | str) -> date:
    if isinstance(sent, datetime):
        return sent.date()
    if isinstance(sent, date):
        return sent
    try:
        return date.fromisoformat(str(sent).strip())
    except ValueError:
        raise ClustomerError(f"cannot read {sent!r} as the sent date: write YYYY-MM-DD") from None


def _latest_audience(store: Store, segment: str, sent: date) -> dict[str, Any]:
    found = db.latest_audience(store, segment, sent)
    if found is not None:
        return found
    later = db.audiences_of_segment(store, segment)
    if later:
        first = _day(later[0]["created_at"])
        raise ClustomerError(
            f"segment {segment!r} was first exported on {first}, after the sent date {sent}; "
            "a campaign is sent after its export: check --sent (the day it went out)"
        )
    raise ClustomerError(
        f"no audience has been exported for segment {segment!r}; export the segment first: "
        f"clustomer export --segment {segment}"
    )


def _given_audiences(
    store: Store, audience_ids: list[int], segments: list[str], sent: date
) -> list[dict[str, Any]]:
    audiences = db.read_audiences(store, audience_ids)
    missing = sorted(set(int(i) for i in audience_ids) - {int(a["audience_id"]) for a in audiences})
    if missing:
        raise ClustomerError(f"no audience with id {', '.join(map(str, missing))}")
    for a in audiences:
        if _day(a["created_at"]) > sent:
            raise ClustomerError(
                f"audience {a['audience_id']} was exported on {_day(a['created_at'])}, after "
                f"the sent date {sent}"
            )
    names = {str(a["segment_name"]).lower() for a in audiences}
    unmatched = [s for s in segments if s.lower() not in names]
    if unmatched:
        raise ClustomerError(
            f"segment {unmatched[0]!r} is not the segment of any of audiences "
            f"{', '.join(str(a['audience_id']) for a in audiences)}"
        )
    return audiences


@dataclass(frozen=True)
class CampaignReport:
    """What ``clustomer campaign report`` shows: plain data, no customer keys."""

    campaign_id: int
    name: str
    sent: str
    window_days: int
    window_end: str
    source: str
    confidence: float
    audiences: list[dict[str, Any]]
    overall: Comparison
    segments: list[Comparison]
    notes: list[str] = field(default_factory=list)

    @property
    def measurable(self) -> bool:
        """Whether the campaign had a control group to measure a lift against."""
        return self.overall.measurable

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["measurable"] = self.measurable
        return out


def campaign_report(store: Store, name: str, *, confidence: float = 0.95) -> CampaignReport:
    """Measure the campaign ``name``: overall and per segment, treatment against control.

    See the module docstring for how conversions and revenue are counted. The report
    says plainly when there is no control group (no lift can be measured) and when the
    imported orders do not yet cover the whole window.

    Raises
    ------
    ClustomerError
        There is no campaign of that name.
    """
    campaign = db.find_campaign(store, name)
    if campaign is None:
        known = db.list_campaigns(store)["name"].tolist()
        hint = f" (campaigns: {', '.join(known[:10])})" if known else ""
        raise ClustomerError(f"there is no campaign named {name!r}{hint}")
    cid = int(campaign["campaign_id"])
    ids = list(campaign["audience_ids"])
    sent = _as_datetime(campaign["sent_at"])
    window = int(campaign["window_days"])
    end = sent + timedelta(days=window)
    audiences = db.read_audiences(store, ids)
    label = {int(a["audience_id"]): str(a["segment_name"]) for a in audiences}
    notes: list[str] = []

    orders = db.members_with_orders(store, ids, sent, end)
    if db.outcome_count(store, cid):
        source = "outcome file"
        members = _with_file_outcomes(store, cid, ids, orders, notes)
    else:
        source = "orders"
        members = orders
        notes.extend(_coverage_notes(store, sent, end))

    overall = compare_arms("overall", _one_row_per_customer(members), confidence=confidence)
    per_segment = [
        compare_arms(
            label.get(aid, f"audience {aid}"),
            members[members["audience_id"] == aid],
            confidence=confidence,
        )
        for aid in ids
    ]
    if not overall.measurable:
        notes.append(
            "this campaign has no control group, so its lift cannot be measured: only the "
            "treatment's conversion is shown; export with a holdout next time"
        )
    elif len(per_segment) > 1:
        notes.append("per-segment p-values are not adjusted for testing several segments")
    return CampaignReport(
        campaign_id=cid,
        name=str(campaign["name"]),
        sent=sent.date().isoformat(),
        window_days=window,
        window_end=(end - timedelta(days=1)).date().isoformat(),
        source=source,
        confidence=confidence,
        audiences=[
            {
                "audience_id": int(a["audience_id"]),
                "segment": str(a["segment_name"]),
                "exported": _day(a["created_at"]).isoformat(),
                "n_treatment": int(a["n_treatment"]),
                "n_control": int(a["n_control"]),
                "holdout_share": float(a["holdout_share"]),
            }
            for a in audiences
        ],
        overall=overall,
        segments=per_segment,
        notes=notes,
    )


def _with_file_outcomes(
    store: Store, cid: int, ids: list[int], orders: pd.DataFrame, notes: list[str]
) -> pd.DataFrame:
    found = db.members_with_outcomes(store, cid, ids)
    if found["revenue"].notna().any():
        found["revenue"] = found["revenue"].fillna(0.0)
    else:
        by_key = orders.drop_duplicates("customer_key").set_index("customer_key")["revenue"]
        found["revenue"] = found["customer_key"].map(by_key).fillna(0.0)
        notes.append("the outcome file has no revenue column: revenue comes from orders")
    once = found.drop_duplicates("customer_key")
    for arm in ("treatment", "control"):
        in_arm = once[once["arm"] == arm]
        n_listed = int(in_arm["listed"].sum())
        if n_listed < len(in_arm):
            notes.append(
                f"the outcome file lists {n_listed:,} of {len(in_arm):,} {arm} members; "
                "the others count as not converted"
            )
    return found


def _coverage_notes(store: Store, sent: datetime, end: datetime) -> list[str]:
    _, last = db.order_span(store)
    if last is None or _as_datetime(last) < sent:
        return [
            "no orders after the sent date have been imported yet: import newer orders "
            "(or an outcome file) and report again"
        ]
    if _as_datetime(last) < end - timedelta(days=1):
        return [
            f"the imported orders end on {_as_datetime(last).date()}, before the window ends "
            f"({(end - timedelta(days=1)).date()}): these figures are provisional"
        ]
    return []


def _one_row_per_customer(members: pd.DataFrame) -> pd.DataFrame:
    if not members["customer_key"].duplicated().any():
        return members
    return members.groupby("customer_key", sort=False).agg(
        arm=("arm", lambda a: "treatment" if (a == "treatment").any() else "control"),
        converted=("converted", "any"),
        revenue=("revenue", "first"),
    )


def _as_datetime(value: Any) -> datetime:
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def _day(value: Any) -> date:
    return _as_datetime(value).date()
