"""The marketing commands end to end: plan, export, suppress, campaign, recommend."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clustomer.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory, small_orders: Path) -> Path:
    """A segmented workspace whose customers have e-mail addresses; C0001 and C0002
    declined marketing."""
    folder = tmp_path_factory.mktemp("shop")
    lines = small_orders.read_text().splitlines()
    header = lines[0] + ",email,first_name,marketing_consent"
    body = []
    for line in lines[1:]:
        key = line.split(",", 1)[0]
        consent = "no" if key in ("C0001", "C0002") else "yes"
        body.append(f"{line},{key.lower()}@shop.example,Name{key[1:]},{consent}")
    orders = folder / "orders.csv"
    orders.write_text("\n".join([header, *body]) + "\n")
    ws = folder / "shop.duckdb"
    res = runner.invoke(app, ["segment", str(orders), "-w", str(ws), "--out", str(folder)])
    assert res.exit_code == 0, res.output
    return ws


def _json(args: list[str]) -> dict:
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_plan_orders_segments_by_expected_value(shop: Path) -> None:
    plan = _json(["plan", "-w", str(shop), "--contacts", "5"])
    values = [s["expected_value"] for s in plan["segments"]]
    assert values == sorted(values, reverse=True) and len(values) >= 2
    assert all(s["objective"] and s["actions"] and s["channel"] for s in plan["segments"])
    listed = [c["customer_key"] for c in plan["contact_this_week"]]
    assert 0 < len(listed) <= 5
    assert not {"C0001", "C0002"} & set(listed)  # declined marketing: never listed
    text = runner.invoke(app, ["plan", "-w", str(shop)])
    assert text.exit_code == 0 and "Contact this week" in text.stdout
    assert "forecast revenue 90 days" in text.stdout  # given beside the expected value


def test_export_consent_suppression_and_holdout(shop: Path, tmp_path: Path) -> None:
    plan = _json(["plan", "-w", str(shop)])
    top = plan["segments"][0]["name"]
    out = tmp_path / "mc.csv"
    args = ["export", "-w", str(shop), "--segment", top.upper(), "--format", "mailchimp"]
    first = _json([*args, "--out", str(out), "--holdout", "20%", "--seed", "1"])
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["Email Address", "First Name", "Last Name", "Tags"]
    assert len(rows) == first["n_written"] and first["n_control"] > 0
    emails = {r["Email Address"] for r in rows}
    assert all(e.endswith("@shop.example") for e in emails)
    assert not {"c0001@shop.example", "c0002@shop.example"} & emails
    # suppress one exported address: the next export leaves it out and says why
    victim = sorted(emails)[0]
    sup = runner.invoke(app, ["suppress", victim.upper(), "-w", str(shop)])
    assert sup.exit_code == 0 and "1 added" in sup.stdout
    second = _json([*args, "--out", str(out), "--holdout", "20%", "--seed", "1"])
    with out.open(encoding="utf-8") as fh:
        again = {r["Email Address"] for r in csv.DictReader(fh)}
    assert victim not in again
    assert second["excluded"].get("suppressed", 0) >= 1
    # nothing printed names the suppressed address
    shown = runner.invoke(app, [*args, "--out", str(out)])
    assert victim not in shown.stdout and "Left out" in shown.stdout


def test_campaign_record_outcomes_report_and_plan(shop: Path, tmp_path: Path) -> None:
    from datetime import date

    plan = _json(["plan", "-w", str(shop)])
    seg = plan["segments"][0]["name"]
    exp = _json(
        ["export", "-w", str(shop), "--segment", seg, "--holdout", "50%", "--seed", "2"]
        + ["--out", str(tmp_path / "a.csv")]
    )
    today = date.today().isoformat()
    rec = runner.invoke(
        app,
        ["campaign", "record", "-w", str(shop), "--name", "Test", "--sent", today]
        + ["--audience", str(exp["audience_id"])],
    )
    assert rec.exit_code == 0, rec.output
    # outcomes: every treated customer converted, no control customer did
    import duckdb

    con = duckdb.connect(str(shop), read_only=True)
    members = con.execute(
        "SELECT customer_key, arm FROM audience_members WHERE audience_id = ?",
        [exp["audience_id"]],
    ).fetchall()
    con.close()
    outcome = tmp_path / "outcomes.csv"
    outcome.write_text(
        "customer_key,converted\n"
        + "".join(f"{k},{1 if arm == 'treatment' else 0}\n" for k, arm in members)
    )
    imp = runner.invoke(app, ["campaign", "outcomes", "Test", str(outcome), "-w", str(shop)])
    assert imp.exit_code == 0, imp.output
    report = _json(["campaign", "report", "Test", "-w", str(shop)])
    overall = report["overall"]
    assert overall["treatment"]["conversion_rate"] == 1.0
    assert overall["control"]["conversion_rate"] == 0.0
    assert overall["p_value"] < 0.001
    shown = runner.invoke(app, ["campaign", "report", "Test", "-w", str(shop)])
    assert shown.exit_code == 0 and "p-value" in shown.stdout
    assert "revenue per customer:" in shown.stdout  # the Welch interval is shown too
    small = _json(["campaign", "plan", "--baseline", "3%", "--lift", "2pp", "--list-size", "500"])
    assert small["enough"] is False and small["needed"]["n_treatment"] == 1506
    bad = runner.invoke(app, ["campaign", "plan", "--baseline", "three", "--lift", "2pp"])
    assert bad.exit_code != 0 and "three" in bad.stderr


def test_export_with_nobody_in_the_file_says_so() -> None:
    from clustomer.cli_render import OUT
    from clustomer.cli_render_marketing import print_export

    data = {
        "n_written": 0,
        "n_control": 1,
        "segment": "Solo",
        "path": "a.csv",
        "format": "csv",
        "holdout": 0.5,
        "seed": 1,
        "audience_id": 1,
        "excluded": {},
    }
    with OUT.capture() as empty:
        print_export(data)
    with OUT.capture() as full:
        print_export({**data, "n_written": 1})
    assert "Wrote 0 customers" in empty.get() and "no customers" in empty.get()
    assert "no customers" not in full.get()


def test_plan_masks_email_keys_unless_asked(tmp_path: Path, small_orders: Path) -> None:
    # customers keyed by their e-mail address, as in a Shopify export
    lines = small_orders.read_text().splitlines()
    rows = [lines[0]] + [f"{ln[:5].lower()}@shop.example{ln[5:]}" for ln in lines[1:]]
    orders = tmp_path / "by_email.csv"
    orders.write_text("\n".join(rows) + "\n")
    ws = tmp_path / "email.duckdb"
    res = runner.invoke(app, ["segment", str(orders), "-w", str(ws), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    masked = runner.invoke(app, ["plan", "-w", str(ws), "--json"])
    shown = runner.invoke(app, ["plan", "-w", str(ws), "--json", "--show-keys"])
    assert masked.exit_code == 0 and shown.exit_code == 0
    keys = [c["customer_key"] for c in json.loads(shown.stdout)["contact_this_week"]]
    assert keys and all("@" in k for k in keys)
    for key in keys:
        assert key not in masked.stdout
        assert key in shown.stdout


def test_campaign_plan_holdout_and_hashed_suppression(shop: Path) -> None:
    even = _json(["campaign", "plan", "--baseline", "3%", "--lift", "2pp"])
    tenth = _json(["campaign", "plan", "--baseline", "3%", "--lift", "2pp", "--holdout", "10%"])
    assert tenth["needed"]["total"] > even["needed"]["total"]  # an uneven split costs power
    assert tenth["needed"]["n_control"] < tenth["needed"]["n_treatment"]
    import hashlib

    digest = hashlib.sha256(b"c0003@shop.example").hexdigest()
    res = runner.invoke(app, ["suppress", digest, "--hashed", "-w", str(shop)])
    assert res.exit_code == 0 and "1 added" in res.stdout
    plan = _json(["plan", "-w", str(shop), "--contacts", "300"])
    assert "C0003" not in [c["customer_key"] for c in plan["contact_this_week"]]


def test_recommend_writes_ranked_products_with_reasons(shop: Path, tmp_path: Path) -> None:
    out = tmp_path / "recs.csv"
    res = _json(["recommend", "-w", str(shop), "--out", str(out), "--top", "3"])
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "customer_key",
        "rank",
        "product_id",
        "product_name",
        "score",
        "reason",
    ]
    assert len(rows) == res["rows"] and res["customers"] > 250
    per_customer: dict[str, list[int]] = {}
    for r in rows:
        per_customer.setdefault(r["customer_key"], []).append(int(r["rank"]))
        assert r["reason"] and "@" not in r["reason"]
    assert all(ranks == list(range(1, len(ranks) + 1)) for ranks in per_customer.values())
    assert max(len(r) for r in per_customer.values()) == 3
    # new items only: never a product the customer bought
    import pandas as pd

    bought = pd.read_csv(shop.parent / "orders.csv", usecols=["customer_id", "product_id"])
    pairs = set(zip(bought["customer_id"], bought["product_id"], strict=True))
    new = tmp_path / "new.csv"
    _json(["recommend", "-w", str(shop), "--out", str(new), "--new-items-only"])
    with new.open(encoding="utf-8") as fh:
        fresh = [(r["customer_key"], r["product_id"]) for r in csv.DictReader(fh)]
    assert fresh and not set(fresh) & pairs
    bt = _json(["backtest", "--recommend", "-w", str(shop)])
    assert bt["users"] > 0 and 0 <= bt["recommenders"]["blend"]["any"]["hit"] <= 1


def test_klaviyo_export_carries_top_products(shop: Path, tmp_path: Path) -> None:
    plan = _json(["plan", "-w", str(shop)])
    seg = plan["segments"][-1]["name"]
    out = tmp_path / "k.csv"
    res = _json(
        ["export", "-w", str(shop), "--segment", seg, "--format", "klaviyo", "--out", str(out)]
    )
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[0] == "Email" and "top_products" in rows[0]
    assert len(rows) == res["n_written"] > 0
    filled = [r["top_products"] for r in rows if r["top_products"]]
    assert len(filled) == len(rows) and all(1 <= len(t.split(" | ")) <= 3 for t in filled)


def test_serve_makes_a_private_token_and_warns_off_localhost(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    token = tmp_path / "cfg" / "token"
    res = runner.invoke(
        app, ["serve", "-w", str(shop), "--host", "0.0.0.0", "--token-file", str(token)]
    )
    assert res.exit_code == 0, res.output
    assert token.exists() and token.stat().st_mode & 0o777 == 0o600
    assert token.read_text().strip() not in res.output  # the token is never printed
    assert "warning" in res.stderr and "0.0.0.0" in res.stderr
    assert seen["host"] == "0.0.0.0" and seen["access_log"] is False


def test_serve_prints_a_masked_access_log(shop: Path, tmp_path: Path) -> None:
    """A real server: each request is one line on stderr, the e-mail in its path masked
    and the token nowhere (the app's own log; uvicorn's, with raw paths, is off)."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token_file = tmp_path / "token"
    exe = [sys.executable, "-m", "clustomer", "serve", "-w", str(shop), "--port", str(port)]
    server = subprocess.Popen(
        [*exe, "--token-file", str(token_file)], stderr=subprocess.PIPE, text=True
    )
    try:
        for _ in range(300):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        token = token_file.read_text().strip()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/customers/anna@example.com",
            headers={"Authorization": f"Bearer {token}"},
        )
        with pytest.raises(urllib.error.HTTPError):  # not a customer: 404, logged all the same
            urllib.request.urlopen(req, timeout=30)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    line = next((ln for ln in stderr.splitlines() if "/api/v1/customers/" in ln), stderr)
    assert line.split()[1:3] == ["GET", "/api/v1/customers/<e-mail>"], line
    assert line.startswith("INFO:") and " 404 " in line
    assert "anna@example.com" not in stderr and token not in stderr
