"""Files that went through a spreadsheet: separators, symbols, rounded ids, dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from clustomer import InputError, Workspace
from clustomer.ingest.numbers import strict_number
from clustomer.ingest.sniff import sniff_csv

HEADER = "customer_id,order_id,order_date,amount\n"


def test_semicolon_decimal_comma_and_euro_amounts(ws: Workspace, data_dir: Path) -> None:
    # Excel (German locale) saves ';', decimal commas, "1.299,00 €", Windows-1252, CRLF
    s = ws.import_file(data_dir / "excel_resave_orders.csv")
    assert s.layout == "generic"
    assert s.rows_dropped == {"unparseable value": 1, "duplicate line": 1}  # "n. v."
    lines = ws.order_lines().set_index("order_id")
    assert lines.loc["A-501", "unit_price"] == 1299.0  # exactly, never 1.299
    assert lines.loc["A-507", "unit_price"] == 0.1
    assert lines.loc["A-501", "ts"] == datetime(2024, 2, 13, 9, 15)  # day-first, from 13.02.
    assert lines.loc["A-501", "product_name"] == "Kaffeemühle"
    assert s.revenue_kept == 2769.75


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("$1,299.00", 1299.0),
        ("1,299.00", 1299.0),
        ("-$5.10", -5.1),
        ("$-5.10", -5.1),
        ("US$ 7", 7.0),
        ("£0.30", 0.3),
        ("12.50 €", 12.5),
        ("1,29.00", None),  # a thousands group of two digits
        ("$", None),
        ("$$5", None),
        ("5 $ 5", None),
        ("1.234.567,00", None),  # the other convention
    ],
)
def test_amounts_with_symbols_are_read_exactly(value: str, expected: float | None) -> None:
    sql = strict_number("v", ".", ",", symbols=True)
    got = duckdb.sql(f"SELECT {sql} FROM (SELECT ? AS v)", params=[value]).fetchall()[0][0]
    assert got == expected  # == on floats: the nearest double to the decimal, no drift


def test_dollar_amounts_in_a_comma_file(ws: Workspace, write_file: Callable[..., Path]) -> None:
    text = HEADER + (
        'a,1,2024-01-02,"$1,299.00"\n'
        "b,2,2024-01-03,$0.10\n"
        "b,3,2024-01-04,$0.20\n"
        "c,4,2024-01-05,-$5.00\n"
        "d,5,2024-01-06,five dollars\n"
    )
    s = ws.import_file(write_file("dollars.csv", text))
    assert s.rows_dropped == {"unparseable value": 1}
    lines = ws.order_lines().set_index("order_id")
    assert lines["revenue"].tolist() == [1299.0, 0.1, 0.2, -5.0]
    assert bool(lines.loc["4", "is_return"])
    assert s.revenue_kept == 1294.3  # the sum, to the cent


def test_scientific_ids_are_refused_naming_file_line_and_column(
    disk_ws: Path, data_dir: Path, digest: Callable[[Path], str]
) -> None:
    before = digest(disk_ws)
    with Workspace(disk_ws) as w, pytest.raises(InputError) as info:
        w.import_file(data_dir / "shopify_customers_excel.csv")
    err = info.value
    assert (err.file, err.line, err.column) == ("shopify_customers_excel.csv", 2, "Customer ID")
    assert "scientific notation" in str(err) and "7.20883E+12" in str(err)
    assert digest(disk_ws) == before


def test_a_rounded_id_beyond_the_sample_is_found(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    rows = [f"c{i},{i},2024-01-02,5" for i in range(30000)]
    rows[25_000] = "7.21E+12,25000,2024-01-02,5"
    path = write_file("late.csv", HEADER + "\n".join(rows) + "\n")
    assert not any("E+12" in "".join(r) for r in sniff_csv(path).sample)
    with pytest.raises(InputError, match="scientific notation") as info:
        ws.import_file(path)
    assert (info.value.line, info.value.column) == (25_002, "customer_id")
    assert ws.imports() == []


def test_xlsx_text_amounts_and_rounded_ids(ws: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["customer_id", "order_id", "order_date", "amount"])
    sheet.append(["a", "1", datetime(2024, 1, 2), "$1,299.00"])
    sheet.append(["b", "2", datetime(2024, 1, 3), 12.5])
    sheet.append(["c", "3", datetime(2024, 1, 4), "nan"])
    good = tmp_path / "amounts.xlsx"
    wb.save(good)
    s = ws.import_file(good)
    assert s.rows_dropped == {"unparseable value": 1}
    assert sorted(ws.order_lines()["revenue"]) == [12.5, 1299.0]
    sheet.append(["7.21E+12", "4", datetime(2024, 1, 5), 3])
    bad = tmp_path / "ids.xlsx"
    wb.save(bad)
    with pytest.raises(InputError) as info:
        ws.import_file(bad)
    assert (info.value.line, info.value.column) == (5, "customer_id")
    assert len(ws.imports()) == 1


def _ambiguous(decisive: str | None, n: int = 20_000) -> str:
    """``n`` orders dated dd/mm or mm/dd with days ≤ 12, and one decisive date at row 5."""
    rows = [f"c{i % 300},{i},{1 + i % 12:02d}/{1 + (i // 12) % 12:02d}/2011,5" for i in range(n)]
    if decisive:
        rows[5] = f"c5,5,{decisive},5"
    return HEADER + "\n".join(rows) + "\n"


@pytest.mark.parametrize(
    ("decisive", "fmt", "first"),
    [("13/02/2011", "%d/%m/%Y", datetime(2011, 2, 13)), ("02/13/2011", "%m/%d/%Y", None)],
)
def test_ambiguous_dates_are_settled_by_the_whole_column(
    ws: Workspace, write_file: Callable[..., Path], decisive: str, fmt: str, first: object
) -> None:
    path = write_file("dates.csv", _ambiguous(decisive))
    sample = sniff_csv(path).sample
    assert decisive not in {r[2] for r in sample}  # the sample alone cannot tell
    s = ws.import_file(path)
    assert s.rows_dropped == {} and s.rows_kept == 20_000
    lines = ws.order_lines().set_index("order_id")
    day_first = fmt.startswith("%d")
    # "01/02/2011" (order 12) is 1 February day-first, 2 January month-first
    assert lines.loc["12", "ts"] == (datetime(2011, 2, 1) if day_first else datetime(2011, 1, 2))
    if first is not None:
        assert lines.loc["5", "ts"] == first


def test_a_column_that_never_tells_asks_for_a_date_format(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    path = write_file("never.csv", _ambiguous(None, n=3000))
    with pytest.raises(InputError, match="day-first or month-first.*--date-format") as info:
        ws.import_file(path)
    assert info.value.file == "never.csv"
    s = ws.import_file(path, date_format="%m/%d/%Y")
    assert s.rows_kept == 3000
    assert ws.order_lines().set_index("order_id").loc["12", "ts"] == datetime(2011, 1, 2)


def test_a_tie_in_the_whole_column_is_not_guessed(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    text = _ambiguous("13/02/2011", n=20_000).replace("c7,7,08/01/2011", "c7,7,02/13/2011")
    with pytest.raises(InputError, match="--date-format"):
        ws.import_file(write_file("tie.csv", text))


def test_xlsx_text_dates_need_a_format_when_ambiguous(ws: Workspace, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["customer_id", "order_id", "order_date", "amount"])
    sheet.append(["a", "1", "01/02/2011", 5])
    sheet.append(["b", "2", "03/04/2011", 5])
    path = tmp_path / "dates.xlsx"
    wb.save(path)
    with pytest.raises(InputError, match="--date-format"):
        ws.import_file(path)
    sheet.append(["c", "3", "13/04/2011", 5])  # now the column says day-first
    wb.save(path)
    ws.import_file(path)
    ts = ws.order_lines().set_index("order_id")["ts"]
    assert ts["1"] == datetime(2011, 2, 1) and ts["3"] == datetime(2011, 4, 13)


def test_a_date_format_without_codes_is_refused(
    ws: Workspace, write_file: Callable[..., Path]
) -> None:
    path = write_file("x.csv", HEADER + "a,1,2024-01-02,5\n")
    with pytest.raises(InputError, match="not a date format"):
        ws.import_file(path, date_format="dd/mm/yyyy")
