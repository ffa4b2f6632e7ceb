"""Customer value in the workspace: backtests of the value models, and each run's values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from clustomer.store.db import Store

VALUE_COLUMNS = (
    "p_active_90d",
    "expected_orders_90d",
    "expected_revenue_90d",
    "clv_12m",
    "value_confidence",
)


def save_backtest(store: Store, data: dict[str, Any]) -> int:
    """Store one backtest (``BacktestResult.to_dict()``); return its id."""
    with store.transaction():
        bid = int(store.scalar("SELECT nextval('backtest_id_seq')"))
        store.execute(
            "INSERT INTO backtests VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                bid,
                datetime.now(UTC),
                data["cutoff"],
                int(data["horizon"]),
                int(data["n_customers"]),
                str(data["best_model"]),
                json.dumps(data, default=str),
            ],
        )
    return bid


def latest_backtest(store: Store) -> dict[str, Any] | None:
    """The newest stored backtest as plain data (None if there is none)."""
    rows = store.rows(
        "SELECT backtest_id, results FROM backtests ORDER BY backtest_id DESC LIMIT 1"
    )
    if not rows:
        return None
    data: dict[str, Any] = json.loads(rows[0][1])
    data["backtest_id"] = int(rows[0][0])
    return data


def insert_values(store: Store, run_id: int, values: pd.DataFrame) -> None:
    """Insert a run's value columns (one row per customer), inside the caller's
    transaction (``save_run`` stores them with the run)."""
    frame = values[["customer_key", *VALUE_COLUMNS]]
    store.con.register("clustomer_values", frame)
    try:
        store.execute(
            "INSERT INTO customer_values SELECT ?, customer_key, "
            + ", ".join(VALUE_COLUMNS)
            + " FROM clustomer_values",
            [run_id],
        )
    finally:
        store.con.unregister("clustomer_values")


def load_values(store: Store, run_id: int) -> pd.DataFrame:
    """A run's value columns, one row per customer (empty if the run has none)."""
    return store.df(
        "SELECT customer_key, "
        + ", ".join(VALUE_COLUMNS)
        + " FROM customer_values WHERE run_id = ? ORDER BY customer_key",
        [run_id],
    )
