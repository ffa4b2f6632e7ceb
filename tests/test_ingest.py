"""Import: layouts, row accounting, and bad input that must fail cleanly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from clustomer import InputError, LayoutError, Workspace

HEADER = "customer_id,order_id,order_date,product_id,quantity,unit_price,currency\n"


@pytest.mark.slow
def test_online_retail_sample_reference_counts(sample_ws: Workspace) -> None:
    # Facts from shared/data/README.md (UCI Online Retail as shipped in CRAN onlineretail 0.1.2)
    s = sample_ws.quality()
    assert s.layout == "online_retail"
    assert s.rows_read == 541_909
    assert s.rows_dropped["missing customer"] == 135_080
    assert s.cancellation_lines == 9_288
    assert s.customers == 4_372
    assert s.revenue == pytest.approx(9_747_747.93, abs=0.005)
    assert s.first_order == "2010-12-01T08:26:00" and s.last_order == "2011-12-09T12:50:00"
    assert s.rows_read == s.rows_kept + sum(s.rows_dropped.values())
    assert s.revenue == pytest.approx(s.revenue_kept + sum(s.revenue_dropped.values()), abs=0.01)
    feats = sample_ws.features()
    assert int((feats["frequency"] > 0).sum()) == 4_338
    # README: quantity > 0, price > 0, known customer, no exact duplicates -> 392,692 lines
    bought = sample_ws.store.scalar("SELECT count(*) FROM order_lines WHERE NOT is_return")
    assert bought == 392_692


def test_generic_import_accounts_for_every_row(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "generic_orders.csv")
    assert s.layout == "generic"
    assert (s.rows_read, s.rows_kept, s.rows_dropped) == (6, 6, {})
    assert (s.customers, s.orders, s.currency) == (3, 5, "EUR")
    assert s.revenue_kept == pytest.approx(62.5)
    lines = ws.order_lines()
    assert lines["is_return"].sum() == 1
    assert lines.loc[lines["is_return"], "revenue"].item() == pytest.approx(-10.0)


def test_shopify_orders(ws: Workspace, data_dir: Path) -> None:
    s = ws.import_file(data_dir / "shopify_orders.csv")
    assert s.layout == "shopify_orders"
    assert s.rows_read == 7 and s.rows_kept == 6
    assert s.rows_dropped == {"voided order": 1}
    assert s.extra_lines == 2  # one refund line for #1002 and one for #1003
    feats = ws.features().set_index("customer_key")
    # 'Anna@Example.com ' and 'anna@example.com' are one customer
    assert "anna@example.com" in feats.index
    assert not any("Anna" in k for k in feats.index)
    anna = feats.loc["anna@example.com"]
    # two multi-line orders count as 2 purchases, not 4 lines; #1002's 20.00 refund is netted
    assert anna["frequency"] == 2
    assert anna["monetary"] == pytest.approx(2 * 15 + 20 + 20 + 2 * 10 - 20)
    bob = feats.loc["bob@example.org"]  # fully refunded: no purchase, net zero
    assert bob["frequency"] == 0 and bob["monetary"] == pytest.approx(0.0)
    lines = ws.order_lines()
    # timestamps converted to UTC, continuation rows take the order's date
    first = lines[lines["order_id"] == "#1001"]["ts"].unique()
    assert list(first) == [datetime(2024, 5, 1, 14, 0)]
    consent = ws.customers().set_index("customer_key")["marketing_consent"]
    assert bool(consent["anna@example.com"]) is True
    assert bool(consent["bob@example.org"]) is False


def test_same_file_twice_adds_nothing(ws: Workspace, data_dir: Path) -> None:
    first = ws.import_file(data_dir / "generic_orders.csv")
    before = len(ws.order_lines())
    again = ws.import_file(data_dir / "generic_orders.csv")
    assert again.already_imported and again.import_id == first.import_id
    assert len(ws.order_lines()) == before
    assert len(ws.imports()) == 1


def test_bom_and_crlf(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER.replace("\n", "\r\n") + "a,1,2024-01-01 10:00:00,p,1,2.5,GBP\r\n"
    s = ws.import_file(write_file("bom.csv", b"\xef\xbb\xbf" + text.encode()))
    assert (s.rows_read, s.rows_kept) == (1, 1)
    assert ws.order_lines()["customer_key"].tolist() == ["a"]


def test_semicolon_and_decimal_comma(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER.replace(",", ";") + "a;1;2024-01-01 10:00:00;p;2;29,98;EUR\n"
    s = ws.import_file(write_file("semi.csv", text))
    assert s.rows_kept == 1
    assert ws.order_lines()["unit_price"].tolist() == [pytest.approx(29.98)]
    assert s.revenue_kept == pytest.approx(59.96)


def test_latin1_with_pound_sign(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = "customer_id,order_id,order_date,product_name,amount\na,1,2024-01-01,£5 voucher,5\n"
    s = ws.import_file(write_file("latin.csv", text, encoding="latin-1"))
    assert s.rows_kept == 1
    assert ws.order_lines()["product_name"].tolist() == ["£5 voucher"]


def test_unparseable_value_is_dropped_with_line_and_column(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = HEADER + "a,1,2024-01-01,p,1,2.5,GBP\nb,2,2024-01-02,p,1,abc,GBP\n"
    s = ws.import_file(write_file("bad.csv", text))
    assert s.rows_dropped == {"unparseable value": 1}
    assert s.rejects[0]["line"] == 3
    assert s.rejects[0]["column"] == "unit_price"


def test_duplicates_and_drop_reasons(ws: Workspace, write_file: Callable[..., Path]) -> None:
    rows = [
        "a,1,2024-01-01,p,1,2.5,GBP",
        "a,1,2024-01-01,p,1,2.5,GBP",  # exact duplicate
        ",2,2024-01-01,p,1,2.5,GBP",  # missing customer
        "b,3,2024-01-01,p,1,0,GBP",  # non-positive price
        "c,4,2099-01-01,p,1,3,GBP",  # after the as-of date
    ]
    s = ws.import_file(write_file("mixed.csv", HEADER + "\n".join(rows) + "\n"))
    assert s.rows_read == 5 and s.rows_kept == 1
    assert s.rows_dropped == {
        "missing customer": 1,
        "non-positive price": 1,
        "date after as-of date": 1,
        "duplicate line": 1,
    }


def test_customer_id_as_float_is_normalised(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = (
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "536365,85123A,HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom\n"
        "C536379,D,Discount,-1,12/13/2010 9:41,27.5,17850.0,United Kingdom\n"
    )
    s = ws.import_file(write_file("retail.csv", text))
    assert s.layout == "online_retail" and s.cancellation_lines == 1
    lines = ws.order_lines()
    assert set(lines["customer_key"]) == {"17850"}
    assert lines["ts"].min() == datetime(2010, 12, 1, 8, 26)
    assert lines["is_return"].tolist().count(True) == 1


def test_excel_import(ws: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["customer_id", "order_id", "order_date", "amount"])
    sheet.append(["a", "1", datetime(2024, 1, 1, 10), 12.5])
    sheet.append(["b", "2", datetime(2024, 1, 2, 10), "oops"])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    s = ws.import_file(path)
    assert (s.rows_read, s.rows_kept) == (2, 1)
    assert s.rejects[0]["line"] == 3 and s.rejects[0]["column"] == "amount"


def test_mapping_by_name(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = "Total,When,Client,Ref,extra\n10,2024-01-01,x,o1,zzz\n"
    s = ws.import_file(
        write_file("mine.csv", text),
        layout="generic",
        mapping={
            "customer_id": "Client",
            "order_id": "Ref",
            "order_date": "When",
            "amount": "Total",
        },
    )
    assert s.rows_kept == 1 and s.mapping["customer_id"] == "Client"


def test_two_currencies_needs_a_choice(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER + "a,1,2024-01-01,p,1,2,EUR\nb,2,2024-01-01,p,1,3,USD\n"
    path = write_file("fx.csv", text)
    with pytest.raises(InputError, match="mixes currencies.*--currency"):
        ws.import_file(path)
    assert ws.imports() == []
    s = ws.import_file(path, currency="usd")
    assert s.rows_dropped == {"other currency": 1} and s.currency == "USD"


BAD_INPUTS = {
    "empty": (b"", "empty"),
    "header_only": (HEADER.encode(), "no data rows"),
    "unknown_layout": (b"foo,bar\n1,2\n", "closest is .*--map"),
    "unterminated_quote": (
        (HEADER + 'a,1,2024-01-01,"p,1,2,GBP\nb,2,2024-01-01,p,1,2,GBP\n').encode(),
        "line 2.*unterminated quote",
    ),
    "two_currencies": (
        (HEADER + "a,1,2024-01-01,p,1,2,EUR\nb,2,2024-01-01,p,1,3,USD\n").encode(),
        "mixes currencies",
    ),
    "all_future": (
        (HEADER + "a,1,2999-01-01,p,1,2,EUR\n").encode(),
        "none of the 1 row can be kept",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_leaves_workspace_byte_for_byte(
    case: str, disk_ws: Path, write_file: Callable[..., Path], digest: Callable[[Path], str]
) -> None:
    content, message = BAD_INPUTS[case]
    before = digest(disk_ws)
    path = write_file(f"{case}.csv", content)
    with Workspace(disk_ws) as w, pytest.raises(InputError, match=message) as info:
        w.import_file(path)
    assert info.value.file == path.name
    assert digest(disk_ws) == before
    assert not disk_ws.with_name(disk_ws.name + ".wal").exists()


def test_unknown_layout_names_closest_and_missing(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,Price,CustomerID\n"
    with pytest.raises(LayoutError) as info:
        ws.import_file(write_file("almost.csv", text + "1,a,b,1,2024-01-01,2,3\n"))
    msg = str(info.value)
    assert "online_retail" in msg and "UnitPrice" in msg and "--map" in msg


def test_error_message_names_the_line(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER + 'a,1,2024-01-01,p,1,2,GBP\nb,2,2024-01-01,p,1,2,GBP\nc,3,"2024,p,1,2,GBP\n'
    with pytest.raises(InputError) as info:
        ws.import_file(write_file("q.csv", text))
    assert info.value.line == 4


def test_rejected_values_never_show_email_addresses(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    # an e-mail column mapped onto a number field by mistake
    text = (
        "customer_id,order_id,order_date,amount\n"
        "a,1,2024-01-01,anna@example.com\nb,2,2024-01-01,5\n"
    )
    s = ws.import_file(write_file("oops.csv", text))
    assert s.rows_dropped == {"unparseable value": 1}
    shown = repr(s.rejects) + repr(ws.quality().rejects)
    assert "anna@example.com" not in shown and "<e-mail>" in shown


def test_malformed_line_is_dropped_with_its_line(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = HEADER + "a,1,2024-01-01,p,1,2,GBP\nb,2,2024-01-01,p,1,2,GBP,extra\n"
    s = ws.import_file(write_file("wide.csv", text))
    assert s.rows_read == 2 and s.rows_dropped == {"malformed line": 1}
    assert s.rejects == [
        {
            "line": 3,
            "column": None,
            "value": None,
            "message": "this line has 8 fields where the header has 7",
        }
    ]


def test_same_size_other_content_is_a_new_import(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    a = ws.import_file(write_file("a.csv", HEADER + "a,1,2024-01-01,p,1,2,GBP\n"))
    b = ws.import_file(write_file("b.csv", HEADER + "b,2,2024-01-01,p,1,2,GBP\n"))
    assert a.file_bytes == b.file_bytes
    assert not b.already_imported and b.import_id == a.import_id + 1
    again = ws.import_file(write_file("c.csv", HEADER + "b,2,2024-01-01,p,1,2,GBP\n"))
    assert again.already_imported and again.import_id == b.import_id  # same bytes, new name


def test_ambiguous_dates_ask_for_a_format(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER + "a,1,01/02/2024 10:00,p,1,2,GBP\nb,2,03/04/2024 10:00,p,1,2,GBP\n"
    path = write_file("ambiguous.csv", text)
    with pytest.raises(InputError, match="day-first or month-first.*--date-format"):
        ws.import_file(path)
    ws.import_file(path, date_format="%d/%m/%Y %H:%M")
    assert ws.order_lines()["ts"].tolist() == [datetime(2024, 2, 1, 10), datetime(2024, 4, 3, 10)]


def test_day_first_is_found_anywhere_in_a_big_file(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    # 60,000 lines whose first weeks all have day <= 12: the spread sample settles it
    rows = [
        f"c{i % 500},{i},{1 + (i * 28) // 60000:02d}/03/2024 10:00,p,1,2,GBP" for i in range(60000)
    ]
    s = ws.import_file(write_file("dayfirst.csv", HEADER + "\n".join(rows) + "\n"))
    assert s.rows_dropped == {} and s.rows_kept == 60000
    assert s.first_order == "2024-03-01T10:00:00" and s.last_order == "2024-03-28T10:00:00"


def test_iso_dates_with_offsets_are_stored_in_utc(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = HEADER + "a,1,2024-01-02T10:00:00Z,p,1,2,GBP\nb,2,2024-01-02 10:00:00+02,p,1,2,GBP\n"
    ws.import_file(write_file("tz.csv", text))
    assert ws.order_lines()["ts"].tolist() == [datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 8)]


def test_one_bad_date_does_not_switch_detection_off(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = HEADER + "a,1,13/01/2024 10:00,p,1,2,GBP\nb,2,unknown,p,1,2,GBP\n"
    s = ws.import_file(write_file("onebad.csv", text))
    assert s.rows_kept == 1 and s.rows_dropped == {"unparseable value": 1}


def test_thousands_separators(ws: Workspace, write_file: Callable[..., Path]) -> None:
    comma = HEADER + 'a,1,2024-01-01,p,1,"1,234.50",GBP\nb,2,2024-01-01,p,1,5,GBP\n'
    s = ws.import_file(write_file("thousands.csv", comma))
    assert s.rows_kept == 2 and s.revenue_kept == pytest.approx(1239.5)
    semi = (
        HEADER.replace(",", ";") + "c;3;2024-01-01;p;1;1.234,50;EUR\nd;4;2024-01-01;p;1;20,5;EUR\n"
    )
    with Workspace(":memory:") as other:
        s = other.import_file(write_file("semi_thousands.csv", semi))
        assert s.rows_kept == 2 and s.revenue_kept == pytest.approx(1255.0)


def test_windows_1252_bytes(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = "customer_id,order_id,order_date,product_name,amount\na,1,2024-01-01,Men’s shirt €,5\n"
    s = ws.import_file(write_file("cp1252.csv", text, encoding="cp1252"))
    assert s.rows_kept == 1
    assert ws.order_lines()["product_name"].tolist() == ["Men’s shirt €"]


def test_missing_amount_is_a_reason(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = "customer_id,order_id,order_date,amount\na,1,2024-01-01,10\nb,2,2024-01-02,\n"
    s = ws.import_file(write_file("noamount.csv", text))
    assert s.rows_dropped == {"missing amount": 1}


def test_one_reason_per_broken_line(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = (
        "customer_id,order_id,order_date,product_name,quantity,unit_price\n"
        "a,1,2024-01-02,Mug,2,3.50\n"
        "b,2,2024-01-03,Mug, large,2,3.50\n"
        "c,3,2024-01-04,Cup,1,2.00\n"
    )
    s = ws.import_file(write_file("shifted.csv", text))
    assert s.rows_read == 3 and s.rows_kept == 2 and sum(s.rows_dropped.values()) == 1


def test_glob_characters_in_a_file_name(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "orders[1].csv").write_text(HEADER + "a,1,2024-01-01,p,1,10,GBP\n")
    (tmp_path / "orders1.csv").write_text(HEADER + "zz,9,2024-01-01,p,1,999,GBP\n")
    ws.import_file(tmp_path / "orders[1].csv")
    assert ws.order_lines()["customer_key"].tolist() == ["a"]


def test_repeated_header_feeds_the_field_once(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = "customer_id,order_id,order_date,amount,country,country\na,1,2024-01-01,5,FR,DE\n"
    s = ws.import_file(write_file("twice.csv", text))
    assert s.rows_kept == 1
    assert ws.customers()["country"].tolist() == ["FR"]


SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,"
    "Lineitem price,Refunded Amount\n"
)


def test_shopify_blank_rows_are_counted(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = (
        SHOPIFY_HEADER
        + "#1,a@x.com,paid,USD,2024-05-01 10:00:00 -0400,1,Mug,10,\n,,,,,,,,\n,,,,,,,,\n"
    )
    s = ws.import_file(write_file("trailing.csv", text))
    assert s.rows_read == 3 and s.rows_kept == 1
    assert s.rows_dropped == {"missing customer": 2}


def test_shopify_refund_never_takes_an_order_below_zero(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = SHOPIFY_HEADER + (
        "#1,a@x.com,refunded,USD,2024-05-01 10:00:00 -0400,1,Lamp,50,45\n"  # discount kept
        "#2,b@x.com,partially_refunded,USD,2024-05-02 10:00:00 -0400,1,Mug,30,35\n"  # + shipping
        "#3,c@x.com,paid,USD,2024-05-03 10:00:00 -0400,1,Cup,20,\n"
    )
    ws.import_file(write_file("refunds.csv", text))
    f = ws.features().set_index("customer_key")
    assert f.loc["a@x.com", "monetary"] == pytest.approx(0.0)
    assert f.loc["a@x.com", "frequency"] == 0  # a refunded order is not a purchase
    assert f.loc["b@x.com", "monetary"] == pytest.approx(0.0)
    assert f.loc["c@x.com", "frequency"] == 1


def test_one_currency_per_workspace(ws: Workspace, write_file: Callable[..., Path]) -> None:
    path = write_file("fx2.csv", HEADER + "a,1,2024-01-01,p,1,2,EUR\nb,2,2024-01-01,p,1,3,USD\n")
    eur = ws.import_file(path, currency="EUR")
    assert eur.currency == "EUR"
    assert ws.import_file(path, currency="eur").already_imported
    with pytest.raises(InputError, match="holds orders in EUR.*workspace of its own"):
        ws.import_file(path, currency="USD")  # same bytes, other rows: not a repeat
    assert len(ws.imports()) == 1


def test_mixed_line_endings(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = (
        "customer_id,order_id,order_date,amount\r\n"
        "a,1,2024-01-01,5\r\nb,2,2024-01-02,6\nc,3,2024-01-03,7\r\n"
    )
    s = ws.import_file(write_file("mixed_nl.csv", text))
    assert (s.rows_read, s.rows_kept) == (3, 3)


def test_reject_messages_never_quote_the_value(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = "customer_id,order_id,order_date,amount\nCUST1,1,2024-01-01,CUST1\nb,2,2024-01-02,6\n"
    s = ws.import_file(write_file("idvalue.csv", text))
    assert s.rejects[0]["message"] == "not a number" and s.rejects[0]["value"] == "CUST1"


def test_comma_decimals_in_a_comma_file_are_refused(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = (
        'customer_id,order_id,order_date,amount\n1,A,2024-01-02,"29,98"\n2,B,2024-01-03,"1,234"\n'
    )
    with pytest.raises(InputError, match="neither a thousands separator"):
        ws.import_file(write_file("eu.csv", text))


def test_thousands_separators_are_read_strictly() -> None:
    import duckdb

    from clustomer.ingest.normalize import strict_number

    values = ["1.234,50", "20,5", "1.5", "12.34.567,1", "-1.000", " 7 "]
    expr = strict_number("v", ",", ".")
    got = [
        duckdb.sql(f"SELECT {expr} FROM (SELECT ? AS v)", params=[v]).fetchall()[0][0]
        for v in values
    ]
    assert got == [1234.5, 20.5, None, None, -1000.0, 7.0]  # 1.5 is never 15


def test_both_decimal_conventions_are_refused(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = "customer_id;order_id;order_date;quantity;unit_price\n1;A;2024-01-02;2;1.234\n"
    text += "2;B;2024-01-03;1;0.990\n3;C;2024-01-04;1,5;2.000\n"
    with pytest.raises(InputError, match="decimal comma.*decimal point"):
        ws.import_file(write_file("both.csv", text))


def test_non_finite_numbers_are_unparseable(ws: Workspace, write_file: Callable[..., Path]) -> None:
    rows = ["a,1,2024-01-01,10", "b,2,2024-01-01,nan", "c,3,2024-01-01,inf", "d,4,2024-01-01,-inf"]
    text = "customer_id,order_id,order_date,amount\n" + "\n".join(rows) + "\n"
    s = ws.import_file(write_file("nan.csv", text))
    assert s.rows_dropped == {"unparseable value": 3}
    assert s.revenue == pytest.approx(10.0) and s.revenue_kept == pytest.approx(10.0)


def test_same_bytes_without_then_with_currency(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    path = write_file("nocur.csv", "customer_id,order_id,order_date,amount\n1,A,2024-01-02,10\n")
    ws.import_file(path)
    assert ws.import_file(path, currency="EUR").already_imported
    assert len(ws.order_lines()) == 1


def test_shopify_refund_ignores_duplicate_lines(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = SHOPIFY_HEADER + (
        "#1001,a@x.com,refunded,EUR,2024-05-01 10:00:00 -0400,1,Shirt,10.00,10.00\n"
        "#1001,,,,2024-05-01 10:00:00 -0400,1,Shirt,10.00,\n"
        "#1001,,,,2024-05-01 10:00:00 -0400,1,Shirt,10.00,\n"
        "#1002,b@x.com,paid,EUR,2024-05-02 10:00:00 -0400,1,Hat,5.00,\n"
    )
    s = ws.import_file(write_file("dup_refund.csv", text))
    assert s.rows_dropped == {"duplicate line": 1}
    assert ws.features().set_index("customer_key").loc["a@x.com", "monetary"] == 0.0


def test_stray_byte_late_in_a_utf8_file(ws: Workspace, write_file: Callable[..., Path]) -> None:
    head = "customer_id,order_id,order_date,amount,product_name\n"
    body = "".join(f"Müller{i},O{i},2024-01-02,10,Crème brûlée\n" for i in range(40000))
    data = (head + body).encode("utf-8") + "Z,OZ,2024-01-03,5,Café\n".encode("cp1252")
    assert len(data) > 1 << 20
    s = ws.import_file(write_file("stray.csv", data))
    assert s.rows_kept == 40001
    keys = set(ws.order_lines()["customer_key"])
    assert "Müller0" in keys and "Z" in keys


def test_long_quoted_field_in_the_sniffed_part(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    note = "note, " * 25000
    rows = [f'0,"{note}",O0,13/01/2023 10:00,10'] + [
        f'{i},"Mug, red",O{i},13/01/2023 10:00,10' for i in range(1, 50)
    ]
    text = "customer_id,product_name,order_id,order_date,amount\n" + "\n".join(rows) + "\n"
    s = ws.import_file(write_file("longfield.csv", text))
    assert s.rows_kept == 50


def test_mixed_line_ends_with_a_quoted_newline(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    data = (
        b"customer_id,order_id,order_date,amount,product_name\r\n"
        b'1,A,2024-01-02,10,"a\r\nb"\n2,B,2024-01-03,5,y\r\n3,C,2024-01-04,abc,z\r\n'
    )
    s = ws.import_file(write_file("quoted_nl.csv", data))
    assert s.rows_read == 3 and s.rows_kept == 2 and s.rows_dropped == {"unparseable value": 1}


def test_no_temporary_copies_are_left_behind(
    ws: Workspace, write_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    text = "customer_id,order_id,order_date,product_name,amount\na,1,2024-01-01,Café,5\n"
    ws.import_file(write_file("win[1].csv", text, encoding="cp1252"))
    assert ws.order_lines()["product_name"].tolist() == ["Café"]
    assert list(scratch.iterdir()) == []


def test_spread_sample_does_not_overweight_a_short_tail(tmp_path: Path) -> None:
    from clustomer.ingest.sniff import sniff_csv

    head = "".join(f"C{i},O{i},13/01/2023 10:00,10\n" for i in range(40000))  # ~1.1 MB
    tail = "".join(f"T{i},P{i},13/01/2023,10\n" for i in range(3000))  # ~60 KB
    path = tmp_path / "tail.csv"
    path.write_text("customer_id,order_id,order_date,amount\n" + head + tail)
    sample = sniff_csv(path).sample
    from_tail = sum(r[0].startswith("T") for r in sample)
    # the tail is 4% of the file; the sample sees it, in about that proportion
    assert 0 < from_tail < 0.1 * len(sample)


def test_ids_lose_every_edge_space(ws: Workspace, write_file: Callable[..., Path]) -> None:
    # no-break spaces (common in Excel and web exports) must not split one customer in two
    path = write_file(
        "nbsp.csv",
        "customer_id,order_id,order_date,quantity,unit_price,product_name\n"
        "C1\u00a0,O1,2024-01-02 10:00:00,1,5.00,Mug \n"
        "C1,O2 ,2024-01-03 10:00:00,1,5.00,Mug\n"
        "\u00a0,O3,2024-01-04 10:00:00,1,5.00,Mug\n",
    )
    s = ws.import_file(path)
    assert s.customers == 1 and s.orders == 2
    assert s.rows_dropped == {"missing customer": 1}
    assert set(ws.order_lines()["product_name"]) == {"Mug"}


def test_contact_details_go_to_contacts_only(
    ws: Workspace, write_file: Callable[..., Path], data_dir: Path
) -> None:
    first = write_file(
        "contacts1.csv",
        "customer_id,order_id,order_date,amount,email,first_name,last_name\n"
        "c1,o1,2024-01-05,10, Ann@Example.COM ,Ann,Lee\n"
        "c2,o2,2024-01-06,10,not-an-email,Bo,\n"
        "c3,o3,2024-01-07,10,,,\n",
    )
    ws.import_file(first)
    contacts = ws.store.df("SELECT * FROM contacts ORDER BY customer_key").set_index("customer_key")
    assert list(contacts.index) == ["c1", "c2"]  # c3 has nothing to keep
    assert contacts.loc["c1", "email"] == "ann@example.com"
    assert contacts.loc["c1", "last_name"] == "Lee"
    assert contacts.loc["c2", "email"] is None or contacts.loc["c2", "email"] != "not-an-email"
    assert contacts.loc["c2", "first_name"] == "Bo"
    # order lines never hold contact details
    assert "email" not in ws.order_lines().columns
    # a later import updates the address and keeps what it does not mention
    later = write_file(
        "contacts2.csv",
        "customer_id,order_id,order_date,amount,email\nc1,o9,2024-03-01,5,ann@new.example\n",
    )
    ws.import_file(later)
    row = ws.store.df("SELECT * FROM contacts WHERE customer_key = 'c1'").iloc[0]
    assert (row["email"], row["first_name"]) == ("ann@new.example", "Ann")
    # Shopify: the e-mail and the billing name
    ws.import_file(data_dir / "shopify_orders.csv")
    assert ws.store.scalar("SELECT count(*) FROM contacts WHERE email LIKE '%@example.com'") >= 1


def test_shopify_billing_name_splits_into_first_and_last(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    path = write_file(
        "shop.csv",
        "Name,Email,Financial Status,Currency,Created at,Lineitem quantity,Lineitem name,"
        "Lineitem price,Billing Name\n"
        "#1,Eve@Example.com,paid,USD,2024-05-01 10:00:00 -0400,1,Mug,10.00,Eve van Dam\n"
        "#1,,,,,1,Cup,5.00,\n",
    )
    ws.import_file(path)
    row = ws.store.df("SELECT * FROM contacts").iloc[0]
    assert (row["customer_key"], row["email"]) == ("eve@example.com", "eve@example.com")
    assert (row["first_name"], row["last_name"]) == ("Eve", "van Dam")
