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
    details: dict[str, Any] | None = None,
    model: bytes | None = None,
    feature_columns: list[str] | None = None,
    values: pd.DataFrame | None = None,
) -> int:
    """Store one run and its per-customer assignments in one transaction; return its id.

    ``details`` is plain data (rules, stability, ...); ``model`` the pickled fitted
    model that ``clustomer assign`` uses later, with the ``feature_columns`` it needs;
    ``values`` the customers' value columns (:mod:`clustomer.store.values`), stored in the
    same transaction.
    """
    with store.transaction():
        run_id = int(store.scalar("SELECT nextval('run_id_seq')"))
        store.execute(
            "INSERT INTO runs (run_id, created_at, method, as_of, k, n_customers, config, "
            "metrics, curves, reason, profiles, details) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                json.dumps(details, default=str) if details is not None else None,
            ],
        )
        frame = assignments[["customer_key", "segment_id", "segment_name", "rfm_segment"]]
        if "probability" in assignments.columns:
            frame = frame.assign(probability=assignments["probability"])
        else:
            frame = frame.assign(probability=float("nan"))
        store.con.register("clustomer_assignments", frame)
        try:
            store.execute(
                "INSERT INTO assignments (run_id, customer_key, segment_id, segment_name, "
                "rfm_segment, probability) SELECT ?, customer_key, segment_id, segment_name, "
                "rfm_segment, CASE WHEN isnan(probability) THEN NULL ELSE probability END "
                "FROM clustomer_assignments",
                [run_id],
            )
        finally:
            store.con.unregister("clustomer_assignments")
        if model is not None:
            store.execute(
                "INSERT INTO run_models VALUES (?, ?, ?, ?)",
                [run_id, json.dumps(feature_columns or []), model, datetime.now(UTC)],
            )
        if values is not None:
            from clustomer.store.values import insert_values

            insert_values(store, run_id, values)
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
        "SELECT customer_key, segment_id, segment_name, rfm_segment, probability "
        "FROM assignments "
        "WHERE run_id = ? ORDER BY customer_key",
        [rid],
    )
    if df.empty and store.scalar("SELECT count(*) FROM runs WHERE run_id = ?", [rid]) == 0:
        raise ClustomerError(f"there is no run {rid} in this workspace")
    return df


def load_run(store: Store, run_id: int) -> dict[str, Any]:
    """Config, metrics, k-selection curves and profiles of one run, as plain data."""
    row = store.rows(
        "SELECT config, metrics, curves, profiles, details, method, k, as_of FROM runs "
        "WHERE run_id = ?",
        [run_id],
    )
    if not row:
        raise ClustomerError(f"there is no run {run_id} in this workspace")
    config, metrics, curves, profiles, details = (json.loads(v) if v else None for v in row[0][:5])
    return {
        "run_id": run_id,
        "method": row[0][5],
        "k": int(row[0][6]),
        "as_of": row[0][7],
        "config": config,
        "metrics": metrics,
        "curves": curves,
        "profiles": profiles,
        "details": details,
    }


def load_model(store: Store, run_id: int) -> tuple[bytes, list[str]]:
    """The pickled model of a run and the feature columns it needs."""
    row = store.rows("SELECT model, feature_columns FROM run_models WHERE run_id = ?", [run_id])
    if not row:
        if not store.scalar("SELECT count(*) FROM runs WHERE run_id = ?", [run_id]):
            raise ClustomerError(f"there is no run {run_id} in this workspace")
        raise ClustomerError(
            f"run {run_id} was stored without its model (made by an older clustomer); "
            "run clustomer segment again"
        )
    return bytes(row[0][0]), list(json.loads(row[0][1]))


def save_assigned(
    store: Store, run_id: int, frame: pd.DataFrame, *, as_of: datetime, source: str
) -> int:
    """Record customers put into a run's segments by ``clustomer assign``; return the count."""
    data = frame[["customer_key", "segment_id", "segment_name", "probability"]]
    store.con.register("clustomer_assigned", data)
    try:
        store.execute(
            "INSERT INTO assigned SELECT ?, customer_key, segment_id, segment_name, "
            "CASE WHEN isnan(probability) THEN NULL ELSE probability END, ?, ?, ? "
            "FROM clustomer_assigned",
            [run_id, as_of, source, datetime.now(UTC)],
        )
    finally:
        store.con.unregister("clustomer_assigned")
    return len(data)


def previous_run(store: Store, method: str, feature_columns: list[str]) -> int | None:
    """The latest run with this method and these feature columns that has a model."""
    rows = store.rows(
        "SELECT r.run_id, m.feature_columns FROM runs r JOIN run_models m USING (run_id) "
        "WHERE r.method = ? ORDER BY r.run_id DESC",
        [method],
    )
    for run_id, cols in rows:
        if json.loads(cols) == list(feature_columns):
            return int(run_id)
    return None
