"""The command line, through Typer's CliRunner (and one real process for the lock)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clustomer.cli import app

runner = CliRunner()


def test_import_json(tmp_path: Path, data_dir: Path) -> None:
    ws = tmp_path / "w.duckdb"
    result = runner.invoke(
        app, ["import", str(data_dir / "shopify_orders.csv"), "-w", str(ws), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"rows_read", "rows_kept", "rows_dropped", "customers", "orders", "revenue"} <= set(data)
    assert data["rows_read"] == 7 and data["rows_dropped"] == {"voided order": 1}
    again = runner.invoke(app, ["import", str(data_dir / "shopify_orders.csv"), "-w", str(ws)])
    assert again.exit_code == 0 and "already imported" in again.stdout


def test_import_table_and_quality(tmp_path: Path, data_dir: Path) -> None:
    ws = tmp_path / "w.duckdb"
    result = runner.invoke(app, ["import", str(data_dir / "generic_orders.csv"), "-w", str(ws)])
    assert result.exit_code == 0, result.output
    assert "read = kept + dropped" in result.stdout
    q = runner.invoke(app, ["quality", "-w", str(ws), "--json"])
    assert q.exit_code == 0
    assert json.loads(q.stdout)["rows_kept"] == 6


def test_bad_file_exit_code_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    result = runner.invoke(app, ["import", str(bad), "-w", str(tmp_path / "w.duckdb")])
    assert result.exit_code == 2
    assert "bad.csv" in result.stderr and "--map" in result.stderr
    assert "Traceback" not in result.output


def test_map_option_is_parsed(tmp_path: Path) -> None:
    f = tmp_path / "mine.csv"
    f.write_text("Client,Ref,When,Total\nx,o1,2024-01-01,10\n")
    args = ["import", str(f), "-w", str(tmp_path / "w.duckdb"), "--layout", "generic", "--json"]
    for m in ("customer_id=Client", "order_id=Ref", "order_date=When", "amount=Total"):
        args += ["--map", m]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows_kept"] == 1
    broken = runner.invoke(app, ["import", str(f), "--map", "nonsense"])
    assert broken.exit_code == 2 and "FIELD=COLUMN" in broken.stderr


def test_segment_json_and_outputs(tmp_path: Path, small_orders: Path) -> None:
    out = tmp_path / "out"
    args = [
        "segment",
        str(small_orders),
        "-w",
        str(tmp_path / "w.duckdb"),
        "--out",
        str(out),
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert 2 <= data["k"] <= 10 and len(data["segments"]) == data["k"]
    assert sum(s["size"] for s in data["segments"]) == 300
    assert data["import"]["rows_read"] > 1000
    assert set(data["timings"]) >= {"import", "features", "segment", "report"}
    header = (out / "segments.csv").read_text().splitlines()[0]
    assert re.sub('"', "", header).startswith(
        "customer_key,segment_id,segment_name,rfm_segment,p_active_90d,expected_orders_90d,"
        "expected_revenue_90d,clv_12m,value_confidence,recency_days"
    )
    html = (out / "report.html").read_text()
    assert "C0001" not in html  # no customer keys in the report
    runs = runner.invoke(app, ["runs", "-w", str(tmp_path / "w.duckdb"), "--json"])
    assert runs.exit_code == 0 and json.loads(runs.stdout)[0]["k"] == data["k"]


def test_segment_forced_k_table(tmp_path: Path, small_orders: Path) -> None:
    ws = tmp_path / "w.duckdb"
    result = runner.invoke(
        app, ["segment", str(small_orders), "-w", str(ws), "--out", str(tmp_path), "--k", "3"]
    )
    assert result.exit_code == 0, result.output
    assert "300 customers in 3 segments" in result.stdout
    assert "as asked; the rule would pick" in result.stdout  # the reason says k was forced


def test_segment_empty_workspace_is_a_clear_error(tmp_path: Path) -> None:
    from clustomer import Workspace

    Workspace(tmp_path / "w.duckdb").close()  # exists, holds nothing
    result = runner.invoke(
        app, ["segment", "-w", str(tmp_path / "w.duckdb"), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "no orders yet" in result.stderr


def test_layouts_lists_every_layout() -> None:
    result = runner.invoke(app, ["layouts", "--json"])
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) == {
        "online_retail",
        "online_retail_ii",
        "shopify_orders",
        "generic",
        "shopify_customers",
        "woocommerce_orders",
        "woocommerce_analytics",
        "stripe_payments",
        "customers",
    }


def test_locked_workspace_message(tmp_path: Path, data_dir: Path) -> None:
    ws = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(ws)!r}); print('ready', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = runner.invoke(app, ["import", str(data_dir / "generic_orders.csv"), "-w", str(ws)])
        assert result.exit_code == 3
        assert "in use by another" in result.stderr
    finally:
        holder.communicate("", timeout=30)


def _command_names() -> list[str]:
    """Typer names a command after its function unless it is given a name."""
    names = []
    for c in app.registered_commands:
        assert c.name or c.callback is not None
        names.append(c.name or c.callback.__name__.replace("_", "-"))  # type: ignore[union-attr]
    for group in app.registered_groups:  # sub-commands: "campaign record", ...
        assert group.typer_instance is not None
        names += [f"{group.name} {c.name}" for c in group.typer_instance.registered_commands]
    return sorted(names)


def test_command_names_are_real() -> None:
    assert {"import", "segment", "assign", "compare", "rules", "campaign report"} <= set(
        _command_names()
    )


@pytest.mark.parametrize("command", _command_names())
def test_every_command_is_documented(command: str) -> None:
    docs = (Path(__file__).parents[1] / "docs" / "cli.md").read_text()
    assert f"## clustomer {command}" in docs


@pytest.mark.slow
def test_demo_runs_on_the_bundled_sample(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "-w", str(tmp_path / "demo.duckdb"), "--out", str(tmp_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["import"]["rows_read"] == 541_909
    assert data["customers"] == 4_371  # one of the 4,372 bought only a free item
    assert sum(s["size"] for s in data["segments"]) == 4_338  # customers with purchases
    assert (tmp_path / "segments.csv").exists() and (tmp_path / "report.html").exists()


def test_unexpected_database_error_is_one_line(tmp_path: Path, data_dir: Path) -> None:
    import duckdb

    ws = tmp_path / "w.duckdb"
    assert (
        runner.invoke(
            app, ["import", str(data_dir / "generic_orders.csv"), "-w", str(ws)]
        ).exit_code
        == 0
    )
    con = duckdb.connect(str(ws))  # damage the file behind clustomer's back
    con.execute("ALTER TABLE imports RENAME COLUMN last_order TO anna_at_example_com")
    con.close()
    result = runner.invoke(app, ["quality", "-w", str(ws)])
    assert result.exit_code == 1
    assert "unexpected database error" in result.stderr
    assert "Traceback" not in result.output


def test_workspace_mistakes_are_plain_errors(tmp_path: Path, data_dir: Path) -> None:
    orders = data_dir / "generic_orders.csv"
    as_ws = runner.invoke(app, ["import", str(orders), "-w", str(orders)])
    assert as_ws.exit_code == 3 and "not a clustomer workspace" in as_ws.stderr
    missing = runner.invoke(app, ["quality", "-w", str(tmp_path / "typo.duckdb")])
    assert missing.exit_code == 3 and "no workspace at" in missing.stderr
    assert not (tmp_path / "typo.duckdb").exists()
    folder = runner.invoke(app, ["import", str(tmp_path), "-w", str(tmp_path / "w.duckdb")])
    assert folder.exit_code == 2 and "folder" in folder.stderr
    assert not (tmp_path / "w.duckdb").exists()  # a failed first import leaves nothing behind
    out_file = tmp_path / "taken"
    out_file.write_text("x")
    args = ["segment", str(orders), "-w", str(tmp_path / "w2.duckdb"), "--out", str(out_file)]
    taken = runner.invoke(app, args)
    assert taken.exit_code == 1 and "is a file" in taken.stderr
    assert "Traceback" not in taken.output + folder.output


def test_a_good_import_survives_a_failed_segmentation(tmp_path: Path, data_dir: Path) -> None:
    ws = tmp_path / "w.duckdb"
    args = ["segment", str(data_dir / "shopify_orders.csv"), "-w", str(ws), "--out", str(tmp_path)]
    result = runner.invoke(app, args)  # only 2 customers with purchases: too few to segment
    assert result.exit_code == 1 and "at least 3 customers" in result.stderr
    assert ws.exists()
    q = runner.invoke(app, ["quality", "-w", str(ws), "--json"])
    assert q.exit_code == 0 and json.loads(q.stdout)["rows_kept"] == 6
    typo = runner.invoke(app, ["segment", "-w", str(tmp_path / "nope.duckdb")])
    assert typo.exit_code == 3 and "no workspace at" in typo.stderr
    assert not (tmp_path / "nope.duckdb").exists()


def test_segment_takes_the_date_format_of_its_file(tmp_path: Path) -> None:
    rows = [f"c{i},o{i},0{1 + i % 9}/0{1 + i % 3}/2024 10:00,{5 + i}" for i in range(40)]
    f = tmp_path / "dates.csv"
    f.write_text("customer_id,order_id,order_date,amount\n" + "\n".join(rows) + "\n")
    args = ["segment", str(f), "-w", str(tmp_path / "w.duckdb"), "--out", str(tmp_path), "--json"]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--date-format" in refused.stderr
    ok = runner.invoke(app, [*args, "--date-format", "%d/%m/%Y %H:%M"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["import"]["last_order"] == "2024-03-09T10:00:00"
    bad = runner.invoke(
        app, ["import", str(f), "-w", str(tmp_path / "x.duckdb"), "--date-format", "%Q"]
    )
    assert bad.exit_code == 2 and "not a date format" in bad.stderr


def test_import_never_prints_a_rejected_e_mail_raw(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "customer_id,order_id,order_date,amount,currency\n"
        "c1,o1,2024-01-03,10.5,GBP\n"
        "c2,o2,2024-01-04,anna@example.com,GBP\n"  # a shifted column: an address as amount
    )
    ws = str(tmp_path / "w.duckdb")
    table = runner.invoke(app, ["import", str(csv), "-w", ws])
    as_json = runner.invoke(app, ["import", str(csv), "-w", str(tmp_path / "w2.duckdb"), "--json"])
    for result in (table, as_json):
        assert result.exit_code == 0, result.output
        assert "anna@example.com" not in result.output
    rejects = json.loads(as_json.stdout)["rejects"]
    assert rejects and "<e-mail>" in str(rejects)


def test_a_bug_is_reported_without_a_traceback_or_raw_e_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clustomer.workspace import Workspace

    def broken(self: object, *args: object, **kwargs: object) -> None:
        raise KeyError("anna@example.com")

    monkeypatch.setattr(Workspace, "import_file", broken)
    csv = tmp_path / "o.csv"
    csv.write_text("customer_id,order_id,order_date,amount\nc1,o1,2024-01-03,10\n")
    result = runner.invoke(app, ["import", str(csv), "-w", str(tmp_path / "w.duckdb")])
    assert result.exit_code != 0 and "anna@example.com" not in result.output
    assert "unexpected error (KeyError)" in result.output and "Traceback" not in result.output
    monkeypatch.setenv("CLUSTOMER_DEBUG", "1")  # the traceback, for whoever debugs it
    debug = runner.invoke(app, ["import", str(csv), "-w", str(tmp_path / "w2.duckdb")])
    assert isinstance(debug.exception, KeyError)
