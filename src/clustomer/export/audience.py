"""Export a segment as an audience file, honouring consent and the suppression list.

The steps of :func:`export_segment`:

1. find the segment (by name, case-insensitive, or id) in the latest run or a given one;
2. screen its members — each excluded customer gets the first reason that applies:
   ``suppressed`` (always), ``no marketing consent`` (unless overridden), and for the
   e-mail formats ``no email address``, ``invalid email`` and ``duplicate email`` (a
   second customer with the same normalised address);
3. hold out a seeded random control group of the eligible customers;
4. in one transaction, record the audience with both arms and write the treatment arm's
   file atomically — an error leaves neither a record nor a partial file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError, InputError
from clustomer.export.formats import ExportContext, get_format, render_rows, top_products
from clustomer.export.holdout import CONTROL, new_seed, parse_holdout, split_holdout
from clustomer.export.safety import email_sha256, is_valid_email, write_csv_atomic
from clustomer.export.suppression import key_matches, suppressed_hashes
from clustomer.store.audiences import (
    run_exists,
    run_segments,
    save_audience,
    segment_members,
    suppression_values,
)
from clustomer.store.db import Store
from clustomer.store.runs import latest_run_id

#: Why a customer of the segment is left out, in the order the reasons are checked.
EXCLUSION_REASONS = (
    "suppressed",
    "no marketing consent",
    "no email address",
    "invalid email",
    "duplicate email",
)


@dataclass
class ExportResult:
    """What one export wrote and recorded.

    ``n_written`` customers (the treatment arm) are in the file; ``n_control`` were held
    out; ``excluded`` counts the segment's other customers by reason.
    """

    audience_id: int
    path: Path
    format: str
    segment: str
    segment_id: int
    run_id: int
    n_written: int
    n_control: int
    holdout: float
    seed: int | None
    excluded: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (no customer keys, no addresses)."""
        return {
            "audience_id": self.audience_id,
            "path": str(self.path),
            "format": self.format,
            "segment": self.segment,
            "segment_id": self.segment_id,
            "run_id": self.run_id,
            "n_written": self.n_written,
            "n_control": self.n_control,
            "holdout": self.holdout,
            "seed": self.seed,
            "excluded": dict(self.excluded),
        }


def resolve_segment(store: Store, segment: str | int, run_id: int) -> tuple[int, str]:
    """The ``(segment_id, segment_name)`` that ``segment`` names in a run.

    A name matches case-insensitively (surrounding spaces ignored); failing that, a
    whole number matches a segment id.

    Raises
    ------
    InputError
        If no segment matches; the message lists the run's segment names.
    """
    segments = run_segments(store, run_id)
    if segments.empty:
        raise ClustomerError(f"run {run_id} has no segments")
    wanted = str(segment).strip().casefold()
    for sid, name in zip(segments["segment_id"], segments["segment_name"], strict=True):
        if str(name).strip().casefold() == wanted:
            return int(sid), str(name)
    if re.fullmatch(r"-?\d+", wanted):
        hit = segments[segments["segment_id"] == int(wanted)]
        if not hit.empty:
            return int(hit["segment_id"].iloc[0]), str(hit["segment_name"].iloc[0])
    names = ", ".join(
        f"{name} ({sid})"
        for sid, name in zip(segments["segment_id"], segments["segment_name"], strict=True)
    )
    raise InputError(f"run {run_id} has no segment {str(segment)!r}; its segments are: {names}")


def screen_members(
    members: pd.DataFrame,
    *,
    needs_email: bool,
    include_unconsented: bool = False,
    suppressed_keys: set[str] | frozenset[str] = frozenset(),
    suppressed_hashes: set[str] | frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Split a segment's members into the eligible and the counts excluded by reason.

    Adds ``email`` (trimmed; None when empty) and ``email_sha256`` to the eligible rows.
    Consent FALSE excludes unless ``include_unconsented``; NULL (the source does not
    say) does not. The suppression list is honoured whatever the options: a suppressed
    key matches ignoring case (see :func:`~clustomer.export.suppression.key_matches`).

    Examples
    --------
    >>> members = pd.DataFrame({"customer_key": ["A", "B", "C", "D"],
    ...     "marketing_consent": [True, False, None, True],
    ...     "email": [" a@x.com", "b@x.com", None, "=d@x.com"]})
    >>> kept, why = screen_members(members, needs_email=True)
    >>> list(kept["customer_key"]), why
    (['A'], {'no marketing consent': 1, 'no email address': 1, 'invalid email': 1})
    >>> kept["email"].tolist()
    ['a@x.com']
    """
    frame = members.reset_index(drop=True)
    emails: list[str | None] = [
        None if e is None or pd.isna(e) or not str(e).strip() else str(e).strip()
        for e in frame["email"]
    ]
    hashes = [None if e is None else email_sha256(e) for e in emails]
    frame = frame.assign(
        email=pd.Series(emails, index=frame.index, dtype=object),
        email_sha256=pd.Series(hashes, index=frame.index, dtype=object),
    )
    reason = pd.Series([None] * len(frame), index=frame.index, dtype=object)

    def mark(mask: Any, why: str) -> None:
        reason[np.asarray(mask, dtype=bool) & reason.isna().to_numpy()] = why

    # a key matches ignoring case and "12346.0"; a key that is an address, by its digest
    by_key = key_matches(frame["customer_key"].astype(str), {*suppressed_keys, *suppressed_hashes})
    mark(
        np.array(by_key, dtype=bool)
        | np.array([h is not None and h in suppressed_hashes for h in hashes], dtype=bool),
        "suppressed",
    )
    if not include_unconsented:
        refused = [
            v is not None and not pd.isna(v) and not bool(v) for v in frame["marketing_consent"]
        ]
        mark(refused, "no marketing consent")
    if needs_email:
        mark([e is None for e in emails], "no email address")
        mark([e is not None and not is_valid_email(e) for e in emails], "invalid email")
        open_ = reason.isna().to_numpy()
        dup = pd.Series(hashes).where(open_).duplicated(keep="first").to_numpy() & open_
        mark(dup, "duplicate email")
    counts = reason.value_counts()
    excluded = {r: int(counts[r]) for r in EXCLUSION_REASONS if r in counts.index}
    return frame[reason.isna().to_numpy()].reset_index(drop=True), excluded


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "segment"


def default_path(segment_name: str, fmt: str) -> Path:
    """``audience-<segment>-<format>.csv`` in the current folder.

    >>> default_path("Loyal Big-Spenders", "customer-match").name
    'audience-loyal-big-spenders-customer-match.csv'
    """
    return Path(f"audience-{_slug(segment_name)}-{fmt}.csv")


def export_segment(
    store: Store,
    segment: str | int,
    *,
    fmt: str = "csv",
    out: str | Path | None = None,
    holdout: str | float | None = 0.0,
    seed: int | None = None,
    run_id: int | None = None,
    include_unconsented: bool = False,
    recommendations: pd.DataFrame | None = None,
) -> ExportResult:
    """Write a segment's customers to an audience file and record the audience.

    Parameters
    ----------
    store : Store
    segment : str or int
        The segment's name (case-insensitive) or id.
    fmt : str
        ``mailchimp``, ``klaviyo``, ``customer-match`` or ``csv`` (see
        :mod:`clustomer.export.formats`).
    out : str or Path, optional
        The file to write (default :func:`default_path`); replaced atomically.
    holdout : str or float
        The control group's share, e.g. ``"10%"`` or ``0.1`` (:func:`parse_holdout`);
        the control group is recorded but not written.
    seed : int, optional
        Seed of the control group draw (a fresh one is drawn and recorded if omitted).
    run_id : int, optional
        The run whose segments to use (default: the latest).
    include_unconsented : bool
        Also export customers whose source says they did not accept marketing. The
        suppression list is honoured regardless.
    recommendations : DataFrame, optional
        ``customer_key, rank, product_id, product_name``: fills ``top_products``
        (klaviyo).

    Returns
    -------
    ExportResult

    Raises
    ------
    InputError
        Unknown format or segment (the message lists the segments), bad holdout.
    ClustomerError
        No run yet, or no such run.
    """
    spec = get_format(fmt)
    share = parse_holdout(holdout)
    if run_id is None:
        rid = latest_run_id(store)
    elif run_exists(store, int(run_id)):
        rid = int(run_id)
    else:
        raise ClustomerError(f"there is no run {run_id} in this workspace")
    segment_id, segment_name = resolve_segment(store, segment, rid)
    members = segment_members(store, rid, segment_id)
    eligible, excluded = screen_members(
        members,
        needs_email=spec.needs_email,
        include_unconsented=include_unconsented,
        suppressed_keys=suppression_values(store, "customer_key"),
        suppressed_hashes=suppressed_hashes(store),
    )
    if share > 0 and seed is None:
        seed = new_seed()
    arms = split_holdout(eligible["customer_key"].astype(str).tolist(), share, seed)
    treatment = eligible[arms != CONTROL]
    path = Path(out) if out is not None else default_path(segment_name, spec.name)
    ctx = ExportContext(segment_name, top_products(recommendations))
    with store.transaction():
        audience_id = save_audience(
            store,
            run_id=rid,
            segment_id=segment_id,
            segment_name=segment_name,
            fmt=spec.name,
            file_name=str(path),
            holdout_share=share,
            seed=seed,
            members=pd.DataFrame({"customer_key": eligible["customer_key"], "arm": arms}),
            excluded=excluded,
        )
        write_csv_atomic(path, spec.header, render_rows(spec, treatment, ctx))
    return ExportResult(
        audience_id=audience_id,
        path=path,
        format=spec.name,
        segment=segment_name,
        segment_id=segment_id,
        run_id=rid,
        n_written=len(treatment),
        n_control=int((arms == CONTROL).sum()),
        holdout=share,
        seed=seed,
        excluded=excluded,
    )
