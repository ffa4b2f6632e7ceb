"""Audiences in the workspace: a segment's members with their contacts, consent and values;
the suppression list; each export and its treatment and control arms.

The suppression list holds customer keys and SHA-256 digests of normalised e-mail
addresses (``kind`` ``customer_key`` or ``email_sha256``), never a raw address; hashing
happens in :mod:`clustomer.export.suppression`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store

#: The kinds of entry in ``suppressions``.
SUPPRESSION_KINDS = ("customer_key", "email_sha256")


def run_exists(store: Store, run_id: int) -> bool:
    return bool(store.scalar("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]))


def run_segments(store: Store, run_id: int) -> pd.DataFrame:
    """The segments of a run: ``segment_id, segment_name, customers``, by id."""
    return store.df(
        "SELECT segment_id, any_value(segment_name) AS segment_name, count(*) AS customers "
        "FROM assignments WHERE run_id = ? GROUP BY segment_id ORDER BY segment_id",
        [run_id],
    )


def segment_members(store: Store, run_id: int, segment_id: int) -> pd.DataFrame:
    """The customers of one segment of a run, one row each, ordered by key.

    Columns: ``customer_key, segment_id, segment_name, marketing_consent`` (NULL where the
    source does not say), ``email, first_name, last_name`` (NULL without a contact), and
    the run's value columns ``p_active_90d, expected_orders_90d, expected_revenue_90d,
    clv_12m, value_confidence`` (NULL where the run has none).
    """
    return store.df(
        """
        SELECT a.customer_key, a.segment_id, a.segment_name, c.marketing_consent,
               ct.email, ct.first_name, ct.last_name,
               v.p_active_90d, v.expected_orders_90d, v.expected_revenue_90d, v.clv_12m,
               v.value_confidence
        FROM assignments a
        LEFT JOIN customers c ON c.customer_key = a.customer_key
        LEFT JOIN contacts ct ON ct.customer_key = a.customer_key
        LEFT JOIN customer_values v ON v.run_id = a.run_id AND v.customer_key = a.customer_key
        WHERE a.run_id = ? AND a.segment_id = ?
        ORDER BY a.customer_key
        """,
        [run_id, segment_id],
    )


# -- suppression list ---------------------------------------------------------------
def insert_suppression(store: Store, kind: str, value: str, reason: str | None = None) -> bool:
    """Add one entry (already hashed where it is an e-mail); False if it was there."""
    if kind not in SUPPRESSION_KINDS:
        raise ClustomerError(f"unknown suppression kind {kind!r}; use {SUPPRESSION_KINDS}")
    before = store.scalar(
        "SELECT count(*) FROM suppressions WHERE kind = ? AND value = ?", [kind, value]
    )
    if before:
        return False
    store.execute(
        "INSERT INTO suppressions (kind, value, reason, added_at) VALUES (?, ?, ?, ?)",
        [kind, value, reason, datetime.now(UTC)],
    )
    return True


def suppression_values(store: Store, kind: str) -> set[str]:
    """Every suppressed value of one kind."""
    return {str(v) for (v,) in store.rows("SELECT value FROM suppressions WHERE kind = ?", [kind])}


def list_suppressions(store: Store) -> pd.DataFrame:
    """The suppression list: ``kind, value, reason, added_at``, oldest first."""
    return store.df(
        "SELECT kind, value, reason, added_at FROM suppressions ORDER BY added_at, kind, value"
    )


def customer_keys(store: Store) -> list[str]:
    """Every customer key the workspace knows (customers, contacts and assignments)."""
    rows = store.rows(
        "SELECT customer_key FROM customers UNION SELECT customer_key FROM contacts "
        "UNION SELECT customer_key FROM assignments"
    )
    return sorted(str(k) for (k,) in rows if k is not None)


def contact_emails(store: Store) -> pd.DataFrame:
    """``customer_key, email`` of every contact that has an address."""
    return store.df(
        "SELECT customer_key, email FROM contacts WHERE email IS NOT NULL ORDER BY customer_key"
    )


# -- audiences ----------------------------------------------------------------------
def save_audience(
    store: Store,
    *,
    run_id: int,
    segment_id: int,
    segment_name: str,
    fmt: str,
    file_name: str | None,
    holdout_share: float,
    seed: int | None,
    members: pd.DataFrame,
    excluded: dict[str, int],
) -> int:
    """Record one export and its members (``customer_key, arm``); return its id.

    Runs inside the caller's transaction (the export writes its file in the same one).
    """
    arms = members["arm"].value_counts()
    audience_id = int(store.scalar("SELECT nextval('audience_id_seq')"))
    store.execute(
        "INSERT INTO audiences (audience_id, created_at, run_id, segment_id, segment_name, "
        "format, file_name, holdout_share, seed, n_treatment, n_control, excluded) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            audience_id,
            datetime.now(UTC),
            run_id,
            segment_id,
            segment_name,
            fmt,
            file_name,
            float(holdout_share),
            seed,
            int(arms.get("treatment", 0)),
            int(arms.get("control", 0)),
            json.dumps(excluded),
        ],
    )
    frame = members[["customer_key", "arm"]].astype({"customer_key": str, "arm": str})
    store.con.register("clustomer_audience_members", frame)
    try:
        store.execute(
            "INSERT INTO audience_members SELECT ?, customer_key, arm "
            "FROM clustomer_audience_members",
            [audience_id],
        )
    finally:
        store.con.unregister("clustomer_audience_members")
    return audience_id


def load_audience(store: Store, audience_id: int) -> dict[str, Any]:
    """One recorded export as plain data (``excluded`` decoded)."""
    df = store.df("SELECT * FROM audiences WHERE audience_id = ?", [audience_id])
    if df.empty:
        raise ClustomerError(f"there is no audience {audience_id} in this workspace")
    row: dict[str, Any] = {str(k): v for k, v in df.iloc[0].items()}
    row["excluded"] = json.loads(row["excluded"]) if row["excluded"] else {}
    return row


def list_audiences(store: Store) -> pd.DataFrame:
    """Every recorded export, newest first (without members or exclusions)."""
    return store.df(
        "SELECT audience_id, created_at, run_id, segment_id, segment_name, format, file_name, "
        "holdout_share, seed, n_treatment, n_control FROM audiences ORDER BY audience_id DESC"
    )


def audience_members(store: Store, audience_id: int) -> pd.DataFrame:
    """``customer_key, arm`` of one audience, ordered by key."""
    return store.df(
        "SELECT customer_key, arm FROM audience_members WHERE audience_id = ? "
        "ORDER BY customer_key",
        [audience_id],
    )


def declined_marketing_keys(store: Store) -> set[str]:
    """Customer keys whose source says they declined marketing."""
    rows = store.rows("SELECT customer_key FROM customers WHERE marketing_consent = false")
    return {str(k) for (k,) in rows}
