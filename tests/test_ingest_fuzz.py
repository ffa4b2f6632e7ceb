"""Fuzzing the import: whatever the file, an exact account or a clear error, never half.

Random layouts with missing and extra columns, junk cells, delimiters, quoting, line
ends and encodings. Each outcome is either a successful import whose accounting adds up
exactly (rows read = kept + dropped, every drop with a known reason), or a
:class:`~clustomer.errors.ClustomerError` whose message names the problem and the file;
never another exception, and after an error every table of the workspace is as it was.

The number of examples comes from the Hypothesis profile (``tests/conftest.py``):
``ci`` by default, ``--hypothesis-profile=long`` for a longer run.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from clustomer import ClustomerError, InputError, Workspace
from clustomer.store.imports import DROP_REASONS

# -- what a file may hold ---------------------------------------------------------------

#: per kind of column: values a real export holds, then odd ones (junk is added to both)
GOOD: dict[str, list[str]] = {
    "id": ["c1", "c2", "c3", "C1\u00a0", "17850.0", "'7208827076845", "1001"],
    "date": ["2024-01-02", "2024-01-02 10:00:00", "2024-03-04 08:30:00", "2023-12-31 23:59:59"],
    "number": ["5", "12.50", "3", "0.99", "1", "20"],
    "status": ["paid", "Paid", "completed", "refunded", "partially_refunded", "wc-processing"],
    "currency": ["EUR", "eur", "EUR"],
    "email": ["a@x.com", "A@X.com ", "b@y.org"],
    "flag": ["yes", "no", "true", "0"],
    "products": ["2× Mug, 1× Cup", "1x Tea", "Mug"],
}
ODD: dict[str, list[str]] = {
    "id": ["", " ", "0", "c1,c2", "", "7.21E+12"],
    "date": [
        "2024-01-02T10:00:00Z",
        "2024-05-01 10:00:00 -0400",
        "01/02/2024",
        "13/02/2024 10:00",
        "02/13/2024",
        "31.12.2023",
        "2999-01-01",
        "",
        "yesterday",
    ],
    "number": [
        "0",
        "-3",
        "1,299.00",
        "$1,299.00",
        "12,5",
        "1.234,50",
        "1.5",
        "-$5",
        "€",
        "nan",
        "inf",
        "(5.00)",
        "7e3",
        "",
        "99999999999999999999999",
    ],
    "status": ["failed", "cancelled", "voided", "Pending payment", "Canceled", ""],
    "currency": ["", " EUR", "USD"],
    "email": ["", "not-an-email", "c@z"],
    "flag": ["", "maybe"],
    "products": ["", ",,", "3×"],
}

#: each source: its columns (header, kind); "text" cells are random text
SOURCES: dict[str, list[tuple[str, str]]] = {
    "generic": [
        ("customer_id", "id"),
        ("order_id", "id"),
        ("order_date", "date"),
        ("amount", "number"),
        ("quantity", "number"),
        ("unit_price", "number"),
        ("product_name", "text"),
        ("currency", "currency"),
        ("email", "email"),
        ("marketing_consent", "flag"),
    ],
    "online_retail": [
        ("InvoiceNo", "id"),
        ("StockCode", "id"),
        ("Description", "text"),
        ("Quantity", "number"),
        ("InvoiceDate", "date"),
        ("UnitPrice", "number"),
        ("CustomerID", "id"),
        ("Country", "text"),
    ],
    "shopify_orders": [
        ("Name", "id"),
        ("Email", "email"),
        ("Financial Status", "status"),
        ("Currency", "currency"),
        ("Created at", "date"),
        ("Lineitem quantity", "number"),
        ("Lineitem name", "text"),
        ("Lineitem price", "number"),
        ("Refunded Amount", "number"),
        ("Billing Name", "text"),
    ],
    "shopify_customers": [
        ("Customer ID", "id"),
        ("First Name", "text"),
        ("Email", "email"),
        ("Accepts Email Marketing", "flag"),
        ("Phone", "text"),
        ("Total Spent", "number"),
        ("Total Orders", "number"),
        ("Tags", "text"),
    ],
    "woocommerce_orders": [
        ("order_id", "id"),
        ("order_date", "date"),
        ("status", "status"),
        ("order_total", "number"),
        ("order_currency", "currency"),
        ("customer_id", "id"),
        ("customer_email", "email"),
        ("billing_first_name", "text"),
    ],
    "woocommerce_analytics": [
        ("Date", "date"),
        ("Order #", "id"),
        ("N. Revenue (formatted)", "number"),
        ("Status", "status"),
        ("Customer", "text"),
        ("Product(s)", "products"),
        ("Items sold", "number"),
        ("Net Sales", "number"),
    ],
    "stripe_payments": [
        ("id", "id"),
        ("Created (UTC)", "date"),
        ("Amount", "number"),
        ("Amount Refunded", "number"),
        ("Currency", "currency"),
        ("Status", "status"),
        ("Customer ID", "id"),
        ("Customer Email", "email"),
        ("Card Last4", "text"),
        ("Refunded date (UTC)", "date"),
    ],
    "customers": [
        ("customer_id", "id"),
        ("age", "number"),
        ("income", "number"),
        ("city", "text"),
        ("email", "email"),
        ("phone", "text"),
        ("marketing_consent", "flag"),
    ],
}

junk = st.text(st.characters(exclude_categories=("Cs",)), max_size=8)
TEXT = ["Mug", "Blue Mug", 'Say "hi"', "a,b", "a;b", "x\ny", "Ünïcode ’€", "", "Tab\there"]


@st.composite
def cell(draw: st.DrawFn, kind: str) -> str:
    """Mostly values a real export holds; sometimes odd ones; now and then junk."""
    roll = draw(st.integers(0, 19))
    if roll == 19:
        return draw(junk)
    if kind == "text":
        return draw(st.sampled_from(TEXT))
    return draw(st.sampled_from(GOOD[kind] if roll < 17 else ODD[kind]))


@dataclass
class CsvCase:
    text: str
    encoding: str
    newline: str
    rows: int
    #: whether the rows are written so that a CSV reader sees exactly ``rows`` records
    exact: bool
    tail: bytes
    layout: str | None
    mapping: dict[str, str]
    date_format: str | None


@st.composite
def csv_cases(draw: st.DrawFn) -> CsvCase:
    source = draw(st.sampled_from(sorted(SOURCES)))
    columns = [c for c in SOURCES[source] if draw(st.integers(0, 49)) > 0]  # 2% left out
    extras = draw(st.lists(st.sampled_from(["Extra", "note", "", "customer_id", "Ø"]), max_size=2))
    columns += [(e, "text") for e in extras]
    columns = draw(st.permutations(columns))
    assume(columns)
    n = draw(st.integers(0, 6)) if draw(st.integers(0, 9)) == 0 else draw(st.integers(1, 6))
    body = [[draw(cell(kind)) for _, kind in columns] for _ in range(n)]
    ragged = draw(st.booleans()) and n > 0 and draw(st.integers(0, 3)) == 0
    if ragged:  # a row with a field too many or too few
        i = draw(st.integers(0, n - 1))
        body[i] = body[i][:-1] if draw(st.booleans()) else [*body[i], "x"]
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    quoting = draw(st.sampled_from(["minimal"] * 4 + ["all", "all", "none", "broken"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
    buf = io.StringIO()
    header = [h for h, _ in columns]
    if quoting in ("minimal", "all"):
        mode = csv.QUOTE_ALL if quoting == "all" else csv.QUOTE_MINIMAL
        writer = csv.writer(buf, delimiter=delimiter, quoting=mode, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(body)
    else:
        for row in [header, *body]:
            buf.write(delimiter.join(row) + "\n")
    text = buf.getvalue()
    if quoting == "broken" and len(text) > 2:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + '"' + text[at:]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]))
    odd = draw(st.integers(0, 9)) == 0  # a tail of junk bytes, a layout, a mapping
    tail = draw(st.binary(min_size=1, max_size=6)) if odd and draw(st.booleans()) else b""
    layout = draw(st.sampled_from([source, "generic", "nope"])) if odd else None
    mapping: dict[str, str] = {}
    if odd and draw(st.booleans()):
        mapping = {
            draw(st.sampled_from(["customer_id", "amount", "x"])): draw(st.sampled_from(header))
        }
    formats = [None, "%d/%m/%Y", "%m/%d/%Y", "%Y-%m-%d", "%Q", "d/m/Y"]
    date_format = draw(st.sampled_from(formats)) if odd and draw(st.booleans()) else None
    clean = all(not any(ch in v for ch in ('"', "\n", "\r", delimiter)) for r in body for v in r)
    # Python's writer leaves a lone "\r" unquoted (a line end for any CSV reader)
    no_cr = all("\r" not in v for r in body for v in r)
    exact = (quoting == "all" or (quoting == "minimal" and no_cr) or clean) and not tail
    exact = exact and quoting != "broken"
    return CsvCase(text, encoding, newline, n, exact, tail, layout, mapping, date_format)


def _encode(case: CsvCase) -> bytes:
    text = case.text
    if case.newline == "mixed":
        lines = text.split("\n")
        text = "".join(line + ("\r\n" if i % 2 else "\n") for i, line in enumerate(lines[:-1]))
    elif case.newline != "\n":
        text = text.replace("\n", case.newline)
    return text.encode(case.encoding, errors="replace") + case.tail


# -- the property -------------------------------------------------------------------------

_EMAIL = re.compile(r"[^\s@\"',;:<>()]+@[^\s@\"',;:<>()]+\.[A-Za-z]{2,}")


class _Shared:
    """One in-memory workspace for many examples (a fresh one costs 35 ms), renewed
    every 100 imports so that it stays small; one DuckDB thread (a fifth less CPU on
    such tiny files)."""

    ws: Workspace | None = None
    uses = 0
    tables: list[str] | None = None
    #: the snapshot of the workspace after the last example (nothing else changes it)
    state: dict[str, Any] | None = None

    @classmethod
    def get(cls) -> Workspace:
        if cls.ws is None or cls.uses >= 100:
            if cls.ws is not None:
                cls.ws.close()
            cls.ws, cls.uses, cls.state = Workspace(":memory:", threads=1), 0, None
            base = (
                "customer_id,order_id,order_date,amount,currency,email\n"
                "base1,b1,2023-06-01,10,EUR,base@example.com\n"
            )
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "base.csv"
                path.write_text(base)
                cls.ws.import_file(path)
        cls.uses += 1
        return cls.ws


def snapshot(ws: Workspace) -> dict[str, Any]:
    """Row count and an order-free digest of every table of the workspace (one query)."""
    if _Shared.tables is None:
        _Shared.tables = [
            n
            for (n,) in ws.store.rows(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() ORDER BY 1"
            )
        ]
    union = " UNION ALL ".join(
        f"SELECT '{n}', count(*), coalesce(sum(hash(t)::HUGEINT), 0) FROM \"{n}\" t"
        for n in _Shared.tables
    )
    return {n: (c, h) for n, c, h in ws.store.rows(union)}


def check_import(ws: Workspace, path: Path, case: CsvCase | None = None) -> str:
    """Import ``path`` and check the outcome; return ``"ok"`` or the error's class."""
    before = _Shared.state if ws is _Shared.ws and _Shared.state else snapshot(ws)
    _Shared.state = None  # set again only when this example passes
    kwargs: dict[str, Any] = {}
    if case is not None:
        kwargs = {"layout": case.layout, "mapping": case.mapping, "date_format": case.date_format}
    try:
        s = ws.import_file(path, **kwargs)
    except ClustomerError as exc:
        message = str(exc)
        assert message.strip() and "Traceback" not in message
        assert not _EMAIL.search(message), message  # never a raw e-mail address
        if isinstance(exc, InputError):
            assert exc.file in (path.name, str(path)), message  # the message names the file
        after = snapshot(ws)
        assert after == before, message  # nothing changed
        after_error = ws.store.scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = 'stage'"
        )
        assert after_error == 0
        _Shared.state = after
        return type(exc).__name__
    assert s.rows_read == s.rows_kept + sum(s.rows_dropped.values())
    assert set(s.rows_dropped) <= set(DROP_REASONS)
    assert all(n > 0 for n in s.rows_dropped.values())
    # a file whose rows are all dropped is refused, unless the drop that emptied it came
    # after the commit: a payment of an order an earlier example imported (the shared
    # workspace links the same e-mail across examples)
    assert s.rows_kept > 0 or "payment of an order already imported" in s.rows_dropped
    if case is not None and case.exact:  # (a repeat returns the same bytes' account)
        assert s.rows_read == case.rows
    after = snapshot(ws)
    assert after["imports"][0] == before["imports"][0] + (0 if s.already_imported else 1)
    _Shared.state = after
    return "ok"


@given(case=csv_cases())
def test_any_csv_is_accounted_for_or_refused_cleanly(case: CsvCase) -> None:
    ws = _Shared.get()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.csv"
        path.write_bytes(_encode(case))
        check_import(ws, path, case)


@st.composite
def xlsx_rows(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    source = draw(st.sampled_from(["generic", "customers", "stripe_payments"]))
    columns = [c for c in SOURCES[source] if draw(st.integers(0, 6)) > 0]
    assume(columns)
    values = st.one_of(
        st.none(), st.integers(-5, 10**13), st.floats(allow_nan=True), st.booleans(), junk
    )
    rows = [
        [draw(st.one_of(cell(kind), values)) for _, kind in columns]
        for _ in range(draw(st.integers(0, 4)))
    ]
    return [h for h, _ in columns], rows


#: workbooks are slower to write and read: a twentieth of the profile's examples
@settings(max_examples=max(20, settings.default.max_examples // 20))
@given(table=xlsx_rows())
def test_any_workbook_is_accounted_for_or_refused_cleanly(
    table: tuple[list[str], list[list[Any]]],
) -> None:
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    header, rows = table
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    try:
        sheet.append(header)
        for row in rows:
            sheet.append(row)
    except IllegalCharacterError:
        assume(False)
    ws = _Shared.get()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.xlsx"
        wb.save(path)
        check_import(ws, path)


# -- what the fuzzing found, kept as plain examples -----------------------------------


def test_found_by_fuzzing(ws: Workspace, tmp_path: Path) -> None:
    def refused(name: str, data: bytes, **kwargs: Any) -> InputError:
        path = tmp_path / name
        path.write_bytes(data)
        try:
            ws.import_file(path, **kwargs)
        except InputError as exc:
            assert not _EMAIL.search(str(exc)), str(exc)
            return exc
        raise AssertionError("imported")

    # a quote never closed in the header: the header swallowed the file (and its e-mails)
    exc = refused("h.csv", b'"income,email\n5,a@x.com\n')
    assert (exc.line, "unterminated quote" in str(exc)) == (1, True)
    # ... in a number cell: the sample's value ran over lines (and e-mails)
    exc = refused(
        "n.csv", b'customer_id,order_id,order_date,amount,email\nc1,1,2024-01-02,"5,a@x.com\n'
    )
    assert exc.line == 2 and "unterminated quote" in str(exc)
    # --map onto a column that already feeds another field
    stripe = b"id,Created (UTC),Amount,Currency,Status,Customer ID\nch_1,2024-01-02,5,usd,Paid,c\n"
    exc = refused("m.csv", stripe, mapping={"customer_id": "Created (UTC)"})
    assert "match no known layout" in str(exc)  # (not a customer table keyed by dates)
    mapped = {"customer_id": "Created (UTC)"}
    exc = refused("m.csv", stripe, layout="stripe_payments", mapping=mapped)
    assert "feed both" in str(exc)
    # old-Mac line ends: the sample is read with them (the amount's symbol is seen)
    path = tmp_path / "cr.csv"
    path.write_bytes(b"customer_id,order_id,order_date,amount\r" + b'c1,1,2024-01-02,"$1,299.00"\r')
    assert ws.import_file(path).revenue_kept == 1299.0
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-delimited
    path = tmp_path / "u16.txt"
    path.write_bytes(
        "customer_id\torder_id\torder_date\tamount\nc2\t2\t2024-01-03\t5\n".encode("utf-16")
    )
    assert ws.import_file(path).rows_kept == 1
