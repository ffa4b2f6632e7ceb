"""Segmentation runs in the workspace: save one, list them, read assignments back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store


def save_run(
    store: Store,
    *,
    method: str,
    as_of: datetime,
    k: int,
    config: dict[str, Any],
    metrics: dict[str, Any],
    curves: dict[str, Any],
    reason: str,
    profiles: pd.DataFrame,
    assignments: pd.DataFrame,
) -> int:
    """Store one run and its per-customer assignments in one transaction; return its id."""
    with store.transaction():
        run_id = int(store.scalar("SELECT nextval('run_id_seq')"))
        store.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                datetime.now(UTC),
                method,
                as_of,
                k,
                len(assignments),
                json.dumps(config, default=str),
                json.dumps(metrics, default=str),
                json.dumps(curves),
                reason,
                profiles.to_json(orient="records"),
            ],
        )
        frame = assignments[["customer_key", "segment_id", "segment_name", "rfm_segment"]]
        store.con.register("clustomer_assignments", frame)
        try:
            store.execute(
                "INSERT INTO assignments SELECT ?, customer_key, segment_id, segment_name, "
                "rfm_segment FROM clustomer_assignments",
                [run_id],
            )
        finally:
            store.con.unregister("clustomer_assignments")
    return run_id


def list_runs(store: Store) -> pd.DataFrame:
    """Every run, newest first: id, time, method, as-of date, k, customers, reason."""
    return store.df(
        "SELECT run_id, created_at, method, as_of, k, n_customers, reason "
        "FROM runs ORDER BY run_id DESC"
    )


def latest_run_id(store: Store) -> int:
    run_id = store.scalar("SELECT max(run_id) FROM runs")
    if run_id is None:
        raise ClustomerError("no segmentation has been run in this workspace yet")
    return int(run_id)


def load_assignments(store: Store, run_id: int | None = None) -> pd.DataFrame:
    """The customers' segments in one run (the latest by default)."""
    rid = latest_run_id(store) if run_id is None else run_id
    df = store.df(
        "SELECT customer_key, segment_id, segment_name, rfm_segment FROM assignments "
        "WHERE run_id = ? ORDER BY customer_key",
        [rid],
    )
    if df.empty and store.scalar("SELECT count(*) FROM runs WHERE run_id = ?", [rid]) == 0:
        raise ClustomerError(f"there is no run {rid} in this workspace")
    return df


def load_run(store: Store, run_id: int) -> dict[str, Any]:
    """Config, metrics, k-selection curves and profiles of one run, as plain data."""
    row = store.rows(
        "SELECT config, metrics, curves, profiles FROM runs WHERE run_id = ?", [run_id]
    )
    if not row:
        raise ClustomerError(f"there is no run {run_id} in this workspace")
    config, metrics, curves, profiles = (json.loads(v) if v else None for v in row[0])
    return {"config": config, "metrics": metrics, "curves": curves, "profiles": profiles}
