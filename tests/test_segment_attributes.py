"""A shop with customers but no orders: segmented on the customers' attributes alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from clustomer import Workspace
from clustomer.cli import app
from clustomer.errors import ClustomerError

GROUPS = [(25, 30_000), (45, 80_000), (65, 45_000)]  # age, income of three planted groups


@pytest.fixture
def customers_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    rows = [
        {
            "customer_id": f"g{g}-{i}",
            "age": int(rng.normal(age, 3)),
            "income": round(float(rng.normal(income, 4_000)), 2),
            "city": str(rng.choice(["Lyon", "Paris"])),
        }
        for g, (age, income) in enumerate(GROUPS)
        for i in range(70)
    ]
    path = tmp_path / "customers.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_a_customers_table_alone_is_segmented_on_its_attributes(
    tmp_path: Path, customers_csv: Path
) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        assert ws.import_file(customers_csv).layout == "customers"
        run = ws.segment(random_state=0)
        members = ws.assignments(run.run_id)
    assert run.k == 3
    planted = members["customer_key"].str.slice(0, 2)
    # each planted group is one segment, and each segment one group
    assert members.groupby(planted)["segment_id"].nunique().eq(1).all()
    assert (
        members.groupby("segment_id")["customer_key"]
        .apply(lambda k: k.str.slice(0, 2).nunique())
        .eq(1)
        .all()
    )
    names = dict(zip(planted, members["segment_name"], strict=True))
    assert names["g0"] == "Lower age" and names["g2"] == "Higher age"
    assert "income" in names["g1"].lower()
    assert set(members["rfm_segment"]) == {"No purchases"}
    table = run.table()
    assert table["frequency"].isna().all() and table["attr_age"].notna().all()


def test_only_the_attributes_can_be_clustered_without_orders(
    tmp_path: Path, customers_csv: Path
) -> None:
    with Workspace(tmp_path / "w.duckdb") as ws:
        ws.import_file(customers_csv)
        with pytest.raises(ClustomerError, match="no orders.*demographics"):
            ws.segment(features="rfm,behaviour")


def test_the_cli_segments_a_customers_file(tmp_path: Path, customers_csv: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        ["segment", str(customers_csv), "-w", str(tmp_path / "w.duckdb"), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    segments = pd.read_csv(out / "segments.csv")
    assert segments["segment_name"].nunique() == 3 and len(segments) == 210
    assert "Lower age" in (out / "report.html").read_text()
    again = CliRunner().invoke(app, ["runs", "-w", str(tmp_path / "w.duckdb"), "--json"])
    assert json.loads(again.stdout)
