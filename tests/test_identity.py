"""One customer across sources: linking, explaining, unlinking, payments counted once,
``--no-pii`` and the erased-person hook of the importer.

The fixtures (tests/data/identity_*.csv) hold the same people in several exports:
Anna (Shopify orders and Stripe: by e-mail), Bob (Shopify and WooCommerce: by phone
only, two different addresses), Carla (two Shopify customer exports with a changed
address, then Stripe: by Shopify customer id), and strangers (Dora, Erik, Zed, a guest;
Zed pays the same amount at the same minute as Anna, Erik buys what Carla buys).
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clustomer import Workspace
from clustomer.cli import app
from clustomer.cli_identity import register
from clustomer.privacy import forget
from clustomer.store.identity import DUPLICATE_PAYMENT_REASON

DATA = Path(__file__).parent / "data"
AS_OF = datetime(2025, 1, 1)
FILES = (
    "identity_shopify_customers.csv",
    "identity_shopify_customers_later.csv",
    "identity_shopify_orders.csv",
    "identity_woocommerce_orders.csv",
    "identity_stripe_payments.csv",
)
#: (net revenue, purchases) per person, counted by hand from the files
PEOPLE = {
    "anna@example.com": (80.0, 3),  # #2001 40 (= ch_A1), #2002 25, ch_A2 15
    "bob@shop.example": (55.0, 2),  # #2003 20, Woo 3001 35
    "carla.old@example.net": (80.0, 2),  # #2004 60 - 10 refunded (= ch_C1), ch_C2 30
    "dora@example.com": (12.0, 1),
    "erik@example.com": (60.0, 1),
    "cus_Z": (40.0, 1),
    "guest@example.de": (18.0, 1),
}
# the members a person's unified customer must hold
MEMBERS = {
    "anna@example.com": {"anna@example.com", "cus_A"},
    "bob@shop.example": {"bob@shop.example", "23"},
    "carla.old@example.net": {"carla.old@example.net", "carla@example.net", "cus_C"},
}


@pytest.fixture(autouse=True)
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "key" / "pseudonym.key"
    monkeypatch.setenv("CLUSTOMER_KEY_FILE", str(path))
    return path


def _load(ws: Workspace, files: tuple[str, ...] = FILES, **kwargs: object) -> None:
    for name in files:
        s = ws.import_file(DATA / name, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]
        assert s.balanced


def _person(frame: pd.DataFrame, key: str) -> pd.Series:
    rows = frame[frame["source_keys"].map(lambda keys: key in list(keys))]
    assert len(rows) == 1, f"{key} is in {len(rows)} customers"
    return rows.iloc[0]


@pytest.mark.parametrize("order", ["shop first", "payments first"])
def test_each_person_is_one_customer_counted_once(ws: Workspace, order: str) -> None:
    _load(ws, FILES if order == "shop first" else FILES[::-1])
    frame = ws.identities()
    assert len(frame) == len(PEOPLE)
    for key, (revenue, orders) in PEOPLE.items():
        row = _person(frame, key)
        assert (row["revenue"], row["orders"]) == (revenue, orders), key
        if key in MEMBERS:
            assert set(row["source_keys"]) == MEMBERS[key]
    # nothing counted twice: the workspace holds the distinct purchases, no more
    total = ws.store.scalar("SELECT round(sum(revenue), 2) FROM order_lines")
    assert total == sum(r for r, _ in PEOPLE.values())
    # the two payments of imported orders are in the Stripe import's account, balanced
    stripe = next(s for s in ws.imports() if s.layout == "stripe_payments")
    assert stripe.rows_dropped.get(DUPLICATE_PAYMENT_REASON) == 2
    assert stripe.balanced and stripe.rows_kept == 3
    assert stripe.revenue_dropped[DUPLICATE_PAYMENT_REASON] == 90.0  # 40 + (60 - 10)
    assert round(stripe.revenue_kept + sum(stripe.revenue_dropped.values()), 2) == stripe.revenue
    # features and segments see one row per person
    assert len(ws.features()) == len(PEOPLE)


def test_links_explain_themselves(ws: Workspace) -> None:
    _load(ws)
    links = dict(
        ws.store.rows(
            "SELECT source_key, rule || ' ' || coalesce(evidence, '') FROM identity_links"
        )
    )
    assert links["cus_A"].startswith("email pseudonym ")
    assert links["23"].startswith("phone pseudonym ")
    assert links["carla@example.net"] == "customer id shopify:9003"
    assert links["cus_C"].startswith("email pseudonym ")
    evidence = " ".join(links.values())
    assert "@" not in evidence and "+49" not in evidence  # never a raw address or number
    merged = ws.customers(merged=True)
    assert sorted(merged["customer_key"]) == sorted(MEMBERS)
    carla = _person(merged, "cus_C")
    assert "carla@example.net: linked by customer id (shopify:9003)" in list(carla["links"])
    # consent: Carla refused in the later export, a refusal anywhere wins
    consent = dict(ws.store.rows("SELECT customer_key, marketing_consent FROM customers"))
    assert consent["carla.old@example.net"] is False and consent["anna@example.com"] is True
    # one customer and one contact row per unified key
    keys = {k for (k,) in ws.store.rows("SELECT customer_key FROM customers")}
    assert not keys & {"cus_A", "23", "carla@example.net", "cus_C"}
    phone = ws.store.scalar("SELECT phone FROM contacts WHERE customer_key = 'bob@shop.example'")
    assert phone == "+49301234567"  # E.164


def test_unlink_restores_and_sticks(ws: Workspace, tmp_path: Path) -> None:
    _load(ws)
    before = ws.store.scalar("SELECT round(sum(revenue), 2) FROM order_lines")
    result = ws.unlink("cus_A")
    assert result["customer_key"] == "anna@example.com"
    frame = ws.identities()
    anna, stripe_anna = _person(frame, "anna@example.com"), _person(frame, "cus_A")
    assert anna["customer_key"] != stripe_anna["customer_key"]
    # ch_A1 is no longer a payment of Anna's order: both are counted now, as their own
    assert (anna["revenue"], anna["orders"]) == (65.0, 2)
    assert (stripe_anna["revenue"], stripe_anna["orders"]) == (55.0, 2)
    assert ws.store.scalar("SELECT round(sum(revenue), 2) FROM order_lines") == before + 40
    stripe = next(s for s in ws.imports() if s.layout == "stripe_payments")
    assert stripe.rows_dropped.get(DUPLICATE_PAYMENT_REASON) == 1 and stripe.balanced
    # Carla is untouched, and a later import does not link cus_A again
    assert (_person(frame, "cus_C")["revenue"], _person(frame, "cus_C")["orders"]) == (80.0, 2)
    more = DATA / "identity_stripe_payments.csv"
    extra = more.read_text() + "ch_A3,2024-09-01 10:00:00,5.00,0.00,usd,true,Tip,,Paid,cus_A,"
    path = tmp_path / "stripe_more.csv"
    path.write_text(extra + "anna@example.com\n")
    ws.import_file(path, as_of=AS_OF)
    assert _person(ws.identities(), "cus_A")["customer_key"] == "cus_A"
    with pytest.raises(Exception, match="not linked"):
        ws.unlink("dora@example.com")


def test_no_pii_stores_no_address_or_number(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        _load(ws, no_pii=True)
        frame = ws.identities()
        assert len(frame) == len(PEOPLE)  # linked all the same, by pseudonyms
        assert _person(frame, "cus_A")["revenue"] == 80.0
        keys = [k for (k,) in ws.store.rows("SELECT DISTINCT customer_key FROM order_lines")]
        assert all("@" not in k for k in keys) and any(k.startswith("p-") for k in keys)
        nulls = ws.store.rows(
            "SELECT count(email), count(phone), count(first_name), count(email_hash), "
            "count(phone_hash) FROM contacts"
        )[0]
        assert nulls[:3] == (0, 0, 0) and nulls[3] >= 6 and nulls[4] == 2
        ws.store.execute("CHECKPOINT")
    body = path.read_bytes().lower()
    needles = ["anna@example.com", "example.net", "bob@shop", "+49301234567", "1234567"]
    assert [n for n in needles if n.encode() in body] == []
    # the control: an ordinary import does store them
    with Workspace(tmp_path / "plain.duckdb") as ws:
        _load(ws)
        ws.store.execute("CHECKPOINT")
    assert b"anna@example.com" in (tmp_path / "plain.duckdb").read_bytes()


def test_erased_person_does_not_come_back(tmp_path: Path, key_file: Path) -> None:
    with Workspace(tmp_path / "ws.duckdb") as ws:
        _load(ws, FILES[2:])  # orders, Woo, Stripe
        result = forget(ws.store, "anna@example.com", key_file=key_file)
        assert result.customers >= 2  # the unified key and the Stripe key
        assert not ws.store.scalar(
            "SELECT count(*) FROM order_lines WHERE customer_key IN ('anna@example.com', 'cus_A')"
        )
        # a newer export: the same rows and one more (new bytes, so a new import)
        again = tmp_path / "orders_later.csv"
        text = (DATA / "identity_shopify_orders.csv").read_text()
        again.write_text(
            text + "#2007,ANNA@example.com,paid,USD,2024-09-01 10:00:00 +0000,"
            "1,Tray,9.00,TRAY,0.00,US\n"
        )
        s = ws.import_file(again, as_of=AS_OF)
        assert s.rows_dropped["erased on request"] == 3 and s.balanced
        assert s.rows_kept == 4
        stripe = tmp_path / "stripe_later.csv"
        stripe.write_text((DATA / "identity_stripe_payments.csv").read_text() + "\n")
        s2 = ws.import_file(stripe, as_of=AS_OF)
        assert s2.rows_dropped["erased on request"] == 2 and s2.balanced
        keys = {k for (k,) in ws.store.rows("SELECT customer_key FROM order_lines")}
        keys |= {k for (k,) in ws.store.rows("SELECT customer_key FROM contacts")}
        assert not keys & {"anna@example.com", "cus_A"}
        assert not ws.store.scalar("SELECT count(*) FROM contacts WHERE email = 'anna@example.com'")


def test_cli_customers_and_unlink(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        _load(ws)
    if "customers" not in {c.name or c.callback.__name__ for c in app.registered_commands}:
        register(app)  # until cli.py registers the commands
    runner = CliRunner()
    res = runner.invoke(app, ["customers", "--merged", "-w", str(path)])
    assert res.exit_code == 0, res.output
    assert "a***@example.com" in res.output and "anna@example.com" not in res.output
    assert "3 linked" in res.output
    res = runner.invoke(app, ["customers", "--json", "-w", str(path)])
    rows = pd.read_json(__import__("io").StringIO(res.output))
    assert len(rows) == len(PEOPLE)
    res = runner.invoke(app, ["unlink", "23", "-w", str(path)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["unlink", "23", "-w", str(path)])
    assert res.exit_code != 0 and "not linked" in res.output
    shutil.rmtree(tmp_path / "key", ignore_errors=True)
