"""The other sources a small shop has: Shopify customers, WooCommerce, Stripe, attributes."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from clustomer import LayoutError, Workspace
from clustomer.features.sets import build_feature_set
from clustomer.ingest.layouts import LAYOUTS

SOURCES = {
    "shopify_customers.csv": "shopify_customers",
    "woocommerce_orders.csv": "woocommerce_orders",
    "woocommerce_analytics.csv": "woocommerce_analytics",
    "stripe_payments.csv": "stripe_payments",
    "customers_attributes.csv": "customers",
    "shopify_orders.csv": "shopify_orders",
    "generic_orders.csv": "generic",
}


def _all_values(ws: Workspace) -> str:
    """Every value of every table of the workspace, as one string."""
    names = [
        n
        for (n,) in ws.store.rows(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
        )
    ]
    assert {"order_lines", "customers", "contacts", "imports"} <= set(names)
    return "\n".join(ws.store.df(f'SELECT * FROM "{n}"').to_csv() for n in names)


def _tables(ws: Workspace) -> dict[str, pd.DataFrame]:
    """The tables an import fills, without ids and times that differ between runs."""
    lines = ws.store.df("SELECT * EXCLUDE (import_id) FROM order_lines")
    customers = ws.store.df("SELECT * EXCLUDE (updated_at, first_import_id) FROM customers")
    # a customer table keeps every column: the added one too
    customers["attributes"] = [
        None if a is None else {k: v for k, v in json.loads(a).items() if k != "extra_column"}
        for a in customers["attributes"]
    ]
    contacts = ws.store.df("SELECT * EXCLUDE (updated_at, import_id) FROM contacts")
    return {
        "lines": lines.sort_values(list(lines.columns)).reset_index(drop=True),
        "customers": customers.sort_values("customer_key").reset_index(drop=True),
        "contacts": contacts.sort_values("customer_key").reset_index(drop=True),
    }


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_layout_is_detected(ws: Workspace, data_dir: Path, name: str) -> None:
    s = ws.import_file(data_dir / name)
    assert s.layout == SOURCES[name]
    assert s.rows_read == s.rows_kept + sum(s.rows_dropped.values())


def test_every_new_layout_is_listed() -> None:
    new = {"shopify_customers", "woocommerce_orders", "woocommerce_analytics"}
    assert new | {"stripe_payments", "customers"} <= set(LAYOUTS)


def test_shopify_customers(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "shopify_customers.csv")
    assert (s.rows_read, s.rows_kept, s.rows_dropped) == (12, 11, {"missing customer": 1})
    assert (s.orders, s.revenue, s.currency) == (0, 0.0, None)
    assert ws.order_lines().empty  # a customer table adds no order lines
    cust = ws.customers().set_index("customer_key")
    # the key is the e-mail (as in Shopify's orders export), lower-cased
    assert "anna@example.com" in cust.index and "Anna@Example.com" not in cust.index
    # no e-mail: the Customer ID, without the apostrophe Shopify writes before it
    assert "7208827273453" in cust.index and not any(k.startswith("'") for k in cust.index)
    assert bool(cust.loc["anna@example.com", "marketing_consent"]) is True
    assert bool(cust.loc["bob@example.org", "marketing_consent"]) is False
    assert bool(cust.loc["jo@example.com", "marketing_consent"]) is True  # "subscribed"
    assert cust.loc["eve@example.com", "country"] == "SE"
    eve = pd.read_json(io.StringIO(cust.loc["eve@example.com", "attributes"]), typ="series")
    assert eve["total_spent"] == 1299.0 and eve["total_orders"] == 7
    assert list(eve["tags"]) == ["VIP"]
    dan = pd.read_json(io.StringIO(cust.loc["dan@example.com", "attributes"]), typ="series")
    assert list(dan["tags"]) == ["returning", "gift buyer"]  # a quoted comma list
    contacts = ws.store.df("SELECT * FROM contacts").set_index("customer_key")
    assert contacts.loc["anna@example.com", ["first_name", "last_name"]].tolist() == [
        "Anna",
        "Berg",
    ]
    stored = _all_values(ws)
    for secret in ("617-555-0100", "+49 30", "Elm Street", "morning delivery"):
        assert secret not in stored  # raw phones, addresses and notes are never stored
    # a phone is kept only normalised (E.164), in contacts, for linking and exports


def test_shopify_customers_join_the_orders(ws: Workspace, data_dir: Path) -> None:
    ws.import_file(data_dir / "shopify_orders.csv")
    ws.import_file(data_dir / "shopify_customers.csv")
    feats = ws.features()
    fset = build_feature_set(ws.store, feats, ["rfm", "demographics"], prune=False)
    table = fset.table.set_index("customer_key")
    assert {"attr_total_spent", "attr_total_orders"} <= set(fset.columns)
    assert table.loc["anna@example.com", "attr_total_spent"] == pytest.approx(70.0)
    assert table.loc["anna@example.com", "frequency"] == 2  # the orders still count
    # one customer each: the customer table matched the orders by e-mail
    assert ws.store.scalar("SELECT count(*) FROM customers WHERE customer_key LIKE 'anna%'") == 1


def test_woocommerce_orders(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "woocommerce_orders.csv")
    assert s.rows_dropped == {"missing customer": 1, "failed payment": 1, "unpaid order": 2}
    assert (s.rows_kept, s.currency, s.extra_lines) == (7, "EUR", 1)
    lines = ws.order_lines()
    keys = set(lines["customer_key"])
    assert "0" not in keys  # guests (customer_id 0) are told apart by their e-mail
    assert {"17", "23", "31", "guest1@example.de"} <= keys
    big = lines.loc[lines["order_id"] == "1008", "revenue"].item()
    assert big == 1299.0  # "1,299.00", exactly
    f = ws.features().set_index("customer_key")
    assert f.loc["31", "frequency"] == 1  # order 1006 was refunded whole
    assert f.loc["31", "monetary"] == pytest.approx(15.5)
    assert f.loc["guest1@example.de", "frequency"] == 2  # completed and on-hold
    contacts = ws.store.df("SELECT * FROM contacts").set_index("customer_key")
    assert contacts.loc["31", "first_name"] == "Sofía"
    assert "Rivoli" not in _all_values(ws)


def test_woocommerce_analytics(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "woocommerce_analytics.csv")
    assert s.rows_dropped == {"failed payment": 1, "unpaid order": 2}
    lines = ws.order_lines().set_index("order_id")
    assert lines.loc["2001", "revenue"] == 1299.0 and lines.loc["2006", "revenue"] == 2450.75
    assert lines.loc["2007", "is_return"] and lines.loc["2007", "revenue"] == -12.0
    assert lines.loc["2002", "product_name"] == "Coffee Beans 250g, Milk Jug"
    assert lines.loc["2006", "quantity"] == 8
    # "Anna Berg" and "anna  berg" are one customer; the key is no name
    anna = lines.loc[["2001", "2003", "2007", "2008"], "customer_key"]
    assert anna.nunique() == 1 and anna.iloc[0].startswith("wc-")
    stored = ws.store.df("SELECT * FROM order_lines").to_csv()
    stored += ws.store.df("SELECT * FROM customers").to_csv()
    assert "Berg" not in stored and "berg" not in stored  # names live in contacts only
    assert ws.store.scalar("SELECT count(*) FROM contacts WHERE last_name = 'Stone'") == 1


def test_stripe_payments(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "stripe_payments.csv")
    assert s.rows_dropped == {"failed payment": 2, "unpaid order": 1}
    assert (s.currency, s.extra_lines) == ("USD", 2)  # lower-case "usd"; two refunds
    f = ws.features().set_index("customer_key")
    assert f.loc["cus_PfX1a2b3c4d5e6", "monetary"] == pytest.approx(55 + 45 - 20)  # netted
    assert f.loc["cus_PfY2b3c4d5e6f7", "frequency"] == 0  # refunded whole
    assert f.loc["cus_PfA4d5e6f7g8h9", "frequency"] == 1  # a failed try, then paid
    assert f.loc["guest@example.com", "monetary"] == 1299.0  # no customer id: the e-mail
    refund = ws.order_lines().query("product_name == 'Refund' and revenue == -20")
    assert refund["ts"].item() == pd.Timestamp("2024-06-12 09:00:00")
    stored = _all_values(ws)
    for card in ("4242", "Xt5EWLLDS7FJjR1c", "Elm Street", "card_1Oq", "Mastercard", "Berg"):
        assert card not in stored  # card and address columns are never stored
    assert "anna@example.com" in ws.store.df("SELECT email FROM contacts")["email"].tolist()


def test_customer_attributes_join_order_history(ws: Workspace, data_dir: Path) -> None:
    ws.import_file(data_dir / "generic_orders.csv")
    s = ws.import_file(data_dir / "customers_attributes.csv")
    assert (s.layout, s.rows_kept, s.rows_dropped) == ("customers", 12, {"missing customer": 1})
    fset = build_feature_set(ws.store, ws.features(), ["rfm", "demographics"], prune=False)
    assert fset.columns[-2:] == ["attr_age", "attr_income"]  # numbers only, in a fixed order
    table = fset.table.set_index("customer_key")
    assert table.loc["c2", "attr_income"] == 78500.5
    assert table.loc["c3", "attr_age"] == 27 and table.loc["c3", "frequency"] == 1
    cust = ws.customers().set_index("customer_key")
    c4 = pd.read_json(io.StringIO(cust.loc["c4", "attributes"]), typ="series")
    assert c4["gender"] == "non-binary" and "income" not in c4  # empty cells left out
    assert "phone" not in c4 and "email" not in c4
    assert "+33 4 72" not in _all_values(ws)
    assert bool(cust.loc["c2", "marketing_consent"]) is False
    assert ws.store.scalar("SELECT email FROM contacts WHERE customer_key = 'c1'") == (
        "c1@example.fr"
    )


def test_a_later_customer_table_updates_what_it_states(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    ws.import_file(write_file("a.csv", "customer_id,age,city\nx,30,Lyon\ny,40,Paris\n"))
    s = ws.import_file(
        write_file("b.csv", "customer_id,age,income\nx,31,\nx,32,50000\nx,32,50000\n")
    )
    assert s.rows_dropped == {"duplicate line": 1, "repeated customer": 1}
    assert (s.rows_kept, s.customers) == (1, 1)
    cust = ws.customers().set_index("customer_key")
    x = pd.read_json(io.StringIO(cust.loc["x", "attributes"]), typ="series")
    assert (x["age"], x["income"], x["city"]) == (32, 50000, "Lyon")  # the last row wins


def test_a_text_value_makes_the_column_text(ws: Workspace, write_file: Callable[..., Path]) -> None:
    ws.import_file(write_file("t.csv", "customer_id,size,score\na,12,1\nb,XL,2\nc,,3\n"))
    attrs = ws.store.rows("SELECT attributes FROM customers ORDER BY customer_key")
    assert [a for (a,) in attrs] == [
        '{"score":1.0,"size":"12"}',
        '{"score":2.0,"size":"XL"}',
        '{"score":3.0}',
    ]


@pytest.mark.parametrize(
    ("header", "missing"),
    [("customer_id,order_date,amount", "order_id"), ("customer_id,order_id,amount", "order_date")],
)
def test_an_order_file_missing_a_column_is_not_a_customer_table(
    ws: Workspace, write_file: Callable[..., Path], header: str, missing: str
) -> None:
    with pytest.raises(LayoutError, match=f"closest is generic.*missing: {missing}"):
        ws.import_file(write_file("o.csv", f"{header}\na,2024-01-01,5\n"))
    assert ws.imports() == []
    # a customer table may have dates of its own
    s = ws.import_file(write_file("c.csv", "customer_id,created_at,age\na,2024-01-01,5\n"))
    assert s.layout == "customers"


def _reshuffle(path: Path, out: Path, seed: int) -> None:
    """The same table with its columns in another order and an extra column added."""
    text = path.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    order = list(range(len(rows[0])))
    random.Random(seed).shuffle(order)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, row in enumerate(rows):
        writer.writerow([row[j] for j in order] + (["Extra Column"] if i == 0 else [f"x{i}"]))
    out.write_text(buf.getvalue(), encoding="utf-8")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_columns_are_matched_by_name_never_by_position(
    data_dir: Path, tmp_path: Path, name: str
) -> None:
    moved = tmp_path / name
    _reshuffle(data_dir / name, moved, seed=len(name))
    assert moved.read_text().splitlines()[0] != (data_dir / name).read_text().splitlines()[0]
    results = []
    for path in (data_dir / name, moved):
        with Workspace(":memory:") as ws:
            s = ws.import_file(path)
            results.append(((s.rows_read, s.rows_kept, s.rows_dropped, s.revenue), _tables(ws)))
    (first, a), (second, b) = results
    assert first == second
    for table in a:
        pd.testing.assert_frame_equal(a[table], b[table])


def test_a_customer_table_from_a_workbook(ws: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["customer_id", "age", "income", "city", "Phone"])
    sheet.append(["a", 34, "$45,000", "Lyon", "+33 1 23 45 67 89"])
    sheet.append(["b", 51, 78500.5, "Paris", None])
    wb.save(tmp_path / "customers.xlsx")
    s = ws.import_file(tmp_path / "customers.xlsx")
    assert (s.layout, s.rows_kept) == ("customers", 2)
    attrs = dict(ws.store.rows("SELECT customer_key, attributes FROM customers"))
    assert attrs["a"] == '{"age":34.0,"city":"Lyon","income":45000.0}'
    assert "+33 1 23" not in _all_values(ws)  # never as written (E.164 only, in contacts)
