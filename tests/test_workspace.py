"""The Python API over one workspace: features, runs stored and read back, reproducibility."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from clustomer import ClustomerError, Workspace, WorkspaceError


def test_segment_stores_a_reproducible_run(ws: Workspace, small_orders: Path) -> None:
    ws.import_file(small_orders)
    first = ws.segment(random_state=3)
    second = ws.segment(random_state=3)
    assert first.run_id != second.run_id
    a = ws.assignments(first.run_id)
    b = ws.assignments(second.run_id)
    assert a.equals(b)
    assert len(a) == 300
    details = ws.run_details(first.run_id)
    assert details["curves"]["chosen_k"] == first.k
    assert details["config"]["random_state"] == 3
    assert len(details["profiles"]) == first.k
    assert list(ws.runs()["run_id"]) == [second.run_id, first.run_id]


def test_segments_table_has_the_promised_columns(ws: Workspace, small_orders: Path) -> None:
    ws.import_file(small_orders)
    table = ws.segment(k=4).table()
    assert list(table.columns[:10]) == [
        "customer_key",
        "segment_id",
        "segment_name",
        "rfm_segment",
        "p_active_90d",
        "expected_orders_90d",
        "expected_revenue_90d",
        "clv_12m",
        "value_confidence",
        "recency_days",
    ]
    assert table["customer_key"].is_unique and table["segment_id"].nunique() == 4


def test_as_of_is_explicit(ws: Workspace, data_dir: Path) -> None:
    ws.import_file(data_dir / "generic_orders.csv")
    default = ws.features().set_index("customer_key")
    assert default.loc["c1", "recency_days"] == 30  # 2024-02-05 -> as of 2024-03-06
    early = ws.features(as_of=datetime(2024, 2, 1)).set_index("customer_key")
    assert early.loc["c1", "frequency"] == 1 and "c3" not in early.index


def test_errors_that_name_the_problem(ws: Workspace) -> None:
    with pytest.raises(ClustomerError, match="no orders yet"):
        ws.segment()
    with pytest.raises(ClustomerError, match="nothing has been imported"):
        ws.quality()
    with pytest.raises(ClustomerError, match="no run 7"):
        ws.run_details(7)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Workspace(path) as w:
        w.store.execute("INSERT INTO schema_migrations (version, description) VALUES (99, 'x')")
    with pytest.raises(WorkspaceError, match="newer"):
        Workspace(path)
