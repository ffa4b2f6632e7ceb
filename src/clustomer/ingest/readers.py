"""Read CSV, Parquet and Excel files into the in-memory ``stage`` catalog.

The result of every reader is the same: a :class:`RawFile` whose ``source`` is SQL that
yields one row per data row of the file, the layout's fields under their field names
with their kinds' types (``DOUBLE``, ``TIMESTAMP``, ``VARCHAR``), and every other column
kept as ``_c<i>`` so that exact duplicates can be recognised on the whole line.

For CSV, ``source`` is a ``read_csv(...)`` call that the normaliser scans once, straight
into its staging table (no copy of the raw file is ever held); :func:`finish_scan` then
collects what DuckDB rejected. Parquet and Excel are cast into ``stage.raw`` first.
Values that do not parse are not guessed at: their rows go to ``stage.rejects`` with
line, column and value, and are dropped as "unparseable value".

Nothing here writes to the workspace file.
"""

from __future__ import annotations

import codecs
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from clustomer.errors import InputError
from clustomer.ingest.layouts import Layout, Match, detect_layout
from clustomer.ingest.sniff import (
    SAMPLE_ROWS,
    DateFormat,
    detect_date_format,
    detect_number_format,
    sniff_csv,
)
from clustomer.store.db import Store

_SQL_TYPES = {"number": "DOUBLE", "timestamp": "TIMESTAMP", "text": "VARCHAR"}


@dataclass
class RawFile:
    """What a reader found: the layout match and how the file was read."""

    path: Path
    format: str
    match: Match
    rows: int  # rows parsed (known once the source has been scanned)
    rejected_lines: int  # rows that could not be parsed (in stage.rejects)
    options: dict[str, Any] = field(default_factory=dict)
    #: SQL to select the typed rows from (a ``read_csv(...)`` call, or ``stage.raw``)
    source: str = "stage.raw"
    #: the columns of ``source``, as named there (layout fields and ``_c<i>``)
    columns: list[str] = field(default_factory=list)
    csv_types: dict[str, str] = field(default_factory=dict)
    csv_header: list[str] = field(default_factory=list)
    #: the file DuckDB reads (the original, or a UTF-8 copy of a Windows-1252 file)
    scan_path: Path | None = None
    #: number fields read as text and parsed strictly (they have thousands separators)
    text_numbers: list[str] = field(default_factory=list)
    #: temporary folders this read made (a UTF-8 copy, a plain-named link); see cleanup()
    temp_dirs: list[Path] = field(default_factory=list)
    #: whether the first megabyte was plain ASCII (so later odd bytes are likely cp1252)
    ascii_head: bool = True
    #: whether DuckDB now reads a cleaned UTF-8 copy (a second failure is final)
    cleaned: bool = False

    def cleanup(self) -> None:
        """Remove the temporary copies and links made to read the file."""
        for folder in self.temp_dirs:
            shutil.rmtree(folder, ignore_errors=True)
        self.temp_dirs.clear()

    @property
    def layout(self) -> Layout:
        return self.match.layout

    @property
    def rows_read(self) -> int:
        return self.rows + self.rejected_lines


def read_file(
    store: Store,
    path: Path,
    *,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> RawFile:
    """Read ``path`` into ``stage.raw`` and ``stage.rejects``; detect its layout.

    Raises
    ------
    InputError
        For an empty file, an unknown layout, a broken CSV structure (the error names
        the line), or an unreadable file.
    """
    if not path.exists():
        raise InputError("no such file", file=str(path))
    if not path.is_file():
        raise InputError("this is a folder, not a file; give one export file", file=str(path))
    if path.stat().st_size == 0:
        raise InputError("the file is empty (0 bytes)", file=path.name)
    if date_format is not None:
        try:
            store.scalar("SELECT try_strptime('2024-01-02', ?)", [date_format])
        except duckdb.Error:
            raise InputError(
                f"--date-format {date_format!r} is not a date format; use strptime codes, "
                "e.g. '%d/%m/%Y %H:%M'",
                file=path.name,
            ) from None
    store.drop_stage()
    store.execute(
        "CREATE TABLE stage.rejects (line BIGINT, column_name VARCHAR, value VARCHAR, "
        "message VARCHAR, reason VARCHAR)"
    )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        raw = _read_parquet(store, path, layout, mapping, date_format)
    elif suffix in (".xlsx", ".xlsm"):
        raw = _read_excel(store, path, layout, mapping, date_format)
    elif suffix == ".xls":
        raise InputError(
            "old .xls workbooks are not supported; save as .xlsx or CSV", file=path.name
        )
    else:
        raw = _read_csv(store, path, layout, mapping, date_format)
    return raw


# -- CSV --------------------------------------------------------------------------------


def _read_csv(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    dialect = sniff_csv(path)
    match = detect_layout(dialect.header, layout, mapping, file=path.name)
    by_column = {col: name for name, col in match.columns.items()}
    time_field = match.layout.time_field
    index: dict[str, int] = {}
    columns: dict[str, str] = {}
    for i, col in enumerate(dialect.header):
        name = by_column.get(col)
        if name in index:  # a repeated header: only its first column feeds the field
            name = None
        kind = match.layout.field(name).kind if name else "text"
        if name and kind == "timestamp" and name != time_field:
            kind = "text"  # secondary dates are parsed leniently by the normaliser
        if name:
            index[name] = i
        columns[name or f"_c{i}"] = _SQL_TYPES[kind]

    def sample(field_name: str) -> list[str]:
        i = index[field_name]
        return [r[i] for r in dialect.sample if i < len(r)]

    fmt = (
        DateFormat(date_format)
        if date_format
        else detect_date_format(sample(time_field), file=path.name)
    )
    columns[time_field] = fmt.sql_type
    numbers = [f.name for f in match.layout.fields if f.kind == "number" and f.name in index]
    num = detect_number_format(
        [v for n in numbers for v in sample(n)], dialect.delimiter, file=path.name
    )
    if num.thousands:  # DuckDB would drop separators anywhere: read as text, parse strictly
        for n in numbers:
            columns[n] = "VARCHAR"
    options: dict[str, Any] = {
        "encoding": dialect.encoding,
        "delimiter": dialect.delimiter,
        "decimal_separator": num.decimal,
        "thousands": num.thousands,
        "date_format": fmt.fmt,
    }
    raw = RawFile(
        path,
        "csv",
        match,
        0,
        0,
        options,
        columns=list(columns),
        csv_types=columns,
        csv_header=dialect.header,
        text_numbers=numbers if num.thousands else [],
        ascii_head=dialect.ascii_head,
    )
    if dialect.encoding != "utf-8":
        use_utf8_copy(raw)
    raw.source = _csv_source(raw)
    return raw


def use_utf8_copy(raw: RawFile) -> None:
    """Read the file through a clean UTF-8 copy of it, with plain ``\\n`` line ends.

    DuckDB reads only UTF-8 (and strict latin-1) without extensions; shops' CSVs saved by
    Excel on Windows hold bytes such as 0x92 (’) and 0x80 (€), and files stitched
    together by hand may mix CRLF and LF line ends, which DuckDB's reader refuses. Bytes
    that mean nothing in Windows-1252 become U+FFFD. A file whose start was non-ASCII
    UTF-8 stays UTF-8 (a stray byte later on becomes U+FFFD).
    """
    source_encoding = _fallback_encoding(raw)
    decoder = codecs.getincrementaldecoder(source_encoding)(errors="replace")
    folder = Path(tempfile.mkdtemp(prefix="clustomer-"))
    raw.temp_dirs.append(folder)
    target = folder / ("clean" + raw.path.suffix)
    carry = ""
    with raw.path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while block := src.read(1 << 22):
            text = carry + decoder.decode(block)
            carry = "\r" if text.endswith("\r") else ""  # a CRLF may straddle two blocks
            text = text[: len(text) - len(carry)]
            dst.write(text.replace("\r\n", "\n").replace("\r", "\n"))
        dst.write((carry + decoder.decode(b"", final=True)).replace("\r", "\n"))
    raw.scan_path = target
    raw.cleaned = True
    raw.options["encoding"] = "utf-8"
    raw.options["cleaned_from"] = source_encoding
    raw.source = _csv_source(raw)


def _fallback_encoding(raw: RawFile) -> str:
    """The encoding of a clean copy: UTF-8 (odd bytes replaced) when the sniffed start
    of the file was non-ASCII UTF-8 already, else Windows-1252."""
    if raw.options.get("encoding") == "utf-8" and not raw.ascii_head:
        return "utf-8"
    return "cp1252"


def recover_scan(raw: RawFile, exc: Exception) -> None:
    """After DuckDB's reader gave up on a CSV: retry once on a clean copy, else explain.

    Raises
    ------
    InputError
        When a clean copy was already tried, or the file is not a CSV problem we know.
    """
    if raw.format == "csv" and not raw.cleaned:
        use_utf8_copy(raw)
        return
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise InputError(f"DuckDB cannot read this file: {first}", file=raw.path.name) from None


def _csv_source(raw: RawFile) -> str:
    """The ``read_csv`` call that reads ``raw``'s file with fixed, explicit columns."""
    o = raw.options
    cols = "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(v)}" for k, v in raw.csv_types.items()) + "}"
    opts = [
        f"columns = {cols}",
        "header = true",
        "auto_detect = false",
        f"delim = {_sql_str(o['delimiter'])}",
        "quote = '\"'",
        "escape = '\"'",
        f"decimal_separator = {_sql_str(o['decimal_separator'])}",
        f"encoding = {_sql_str(o['encoding'])}",
        "store_rejects = true",
        f"rejects_table = {_sql_str(REJECTS_TABLE)}",
        f"rejects_scan = {_sql_str(REJECTS_SCAN)}",
    ]
    if o.get("date_format"):
        opts.append(f"timestampformat = {_sql_str(o['date_format'])}")
    if raw.scan_path is None:  # a name DuckDB will not expand as a glob pattern
        raw.scan_path = literal_path(raw.path, raw.temp_dirs)
    return f"read_csv({_sql_str(str(raw.scan_path))}, {', '.join(opts)})"


def literal_path(path: Path, temp_dirs: list[Path]) -> Path:
    """A name for ``path`` that DuckDB will not read as a glob pattern.

    DuckDB expands ``*``, ``?`` and ``[...]`` in file names; a file really named
    ``orders[1].csv`` is read through a plain-named link to it instead.
    """
    if not any(c in str(path) for c in "*?[]{}"):
        return path
    folder = Path(tempfile.mkdtemp(prefix="clustomer-"))
    temp_dirs.append(folder)
    link = folder / ("input" + "".join(path.suffixes[-1:]))
    link.symlink_to(path.resolve())
    return link


REJECTS_TABLE = "clustomer_rejects"
REJECTS_SCAN = "clustomer_scans"


def before_scan(store: Store) -> None:
    """Forget DuckDB's reject tables of an earlier scan."""
    store.execute(f"DROP TABLE IF EXISTS {REJECTS_TABLE}")
    store.execute(f"DROP TABLE IF EXISTS {REJECTS_SCAN}")


def finish_scan(store: Store, raw: RawFile, rows: int) -> bool:
    """After ``raw.source`` was scanned: record rejects, count rows.

    Returns True when the scan must be run again on a clean UTF-8 copy of the file: a
    byte beyond the sniffed part was not UTF-8, or DuckDB lost track of the quotes (mixed
    line ends do that). A second failure on the copy is final.

    Raises
    ------
    InputError
        For a broken CSV structure, naming the line (and column).
    """
    if raw.format != "csv":
        raw.rows = rows
        return False
    exists = store.scalar(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND temporary",
        [REJECTS_TABLE],
    )
    rejects = f"(SELECT DISTINCT * EXCLUDE (scan_id) FROM {REJECTS_TABLE})" if exists else None
    if rejects is None:
        raw.rows = rows
        return False
    bad_encoding = store.scalar(
        f"SELECT count(*) FROM {rejects} WHERE error_type = 'INVALID ENCODING'"
    )
    if bad_encoding and not raw.cleaned:
        use_utf8_copy(raw)
        return True
    fatal = store.rows(
        f"SELECT line, column_name, error_type, error_message FROM {rejects} "
        "WHERE error_type IN ('UNQUOTED VALUE', 'LINE SIZE OVER MAXIMUM', 'INVALID ENCODING') "
        "ORDER BY line LIMIT 1"
    )
    if fatal and not raw.cleaned:
        # mixed line ends can fool DuckDB's quote tracking: retry once on a clean copy
        use_utf8_copy(raw)
        return True
    if fatal:
        line, column, kind, message = fatal[0]
        header = _header_of(column, raw.csv_types, raw.csv_header)
        if kind == "UNQUOTED VALUE":
            message = (
                "a quoted value is never closed (unterminated quote); fix the quotes on "
                "this line — everything after it would be read as one value"
            )
        raise InputError(message, file=raw.path.name, line=int(line), column=header)
    # cast errors: record the value (never the whole line, which may hold personal data)
    value_sql = _masked(
        "nullif(left(regexp_extract(error_message, 'Could not convert string \"(.*)\" to', 1), "
        "60), '')"
    )
    # the message never repeats the value (it may be a customer id, and messages reach
    # the report); the value itself is kept beside it, e-mail addresses masked
    message_sql = (
        "CASE WHEN error_type = 'CAST' THEN CASE WHEN error_message LIKE '%''TIMESTAMP%' "
        "THEN 'not a date' ELSE 'not a number' END ELSE regexp_replace(error_message, "
        "'Expected Number of Columns: (\\d+) Found: (\\d+)', "
        "'this line has \\2 fields where the header has \\1') END"
    )
    store.execute(
        f"""
        INSERT INTO stage.rejects
        SELECT line, column_name,
               {value_sql},
               {message_sql},
               CASE WHEN error_type = 'CAST' THEN 'unparseable value' ELSE 'malformed line' END
        FROM {rejects}
        -- one entry, so one reason, per line: an unparseable value comes first
        QUALIFY row_number() OVER (
            PARTITION BY line ORDER BY error_type <> 'CAST', column_name
        ) = 1
        """
    )
    # report columns by their header in the file, not by field name
    for name, col in raw.match.columns.items():
        store.execute("UPDATE stage.rejects SET column_name = ? WHERE column_name = ?", [col, name])
    raw.rows = rows
    raw.rejected_lines = int(store.scalar("SELECT count(DISTINCT line) FROM stage.rejects"))
    before_scan(store)
    return False


def _masked(sql: str) -> str:
    """SQL that hides e-mail addresses in a value before it is stored or shown."""
    return f"regexp_replace({sql}, '[^\\s@\"]+@[^\\s@\"]+', '<e-mail>', 'g')"


def _header_of(column: str | None, columns: dict[str, str], header: list[str]) -> str | None:
    if column is None:
        return None
    names = list(columns)
    return header[names.index(column)] if column in names else column


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- Parquet and Excel ------------------------------------------------------------------


def _read_parquet(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    links: list[Path] = []
    try:
        store.execute(
            "CREATE TABLE stage.src AS SELECT *, file_row_number + 1 AS _line FROM "
            f"read_parquet({_sql_str(str(literal_path(path, links)))}, file_row_number = true)"
        )
    except duckdb.Error as exc:
        raise InputError(f"cannot read this Parquet file: {exc}", file=path.name) from None
    finally:
        for folder in links:
            shutil.rmtree(folder, ignore_errors=True)
    store.execute("ALTER TABLE stage.src DROP COLUMN file_row_number")
    return _typed_from_src(store, path, "parquet", layout, mapping, date_format)


def _read_excel(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    import pyarrow as pa
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise InputError(f"cannot open this Excel workbook: {exc}", file=path.name) from None
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None or not any(v is not None for v in header_row):
            raise InputError("the first sheet is empty", file=path.name)
        header = [
            str(v).strip() if v is not None else f"column{i + 1}" for i, v in enumerate(header_row)
        ]
        data: list[list[Any]] = [[] for _ in header]
        lines: list[int] = []
        for n, row in enumerate(rows, start=2):
            if row is None or all(v is None or v == "" for v in row):
                continue
            lines.append(n)
            for i in range(len(header)):
                data[i].append(row[i] if i < len(row) else None)
    finally:
        wb.close()
    arrays = {h: pa.array(_excel_column(col)) for h, col in zip(header, data, strict=True)}
    arrays["_line"] = pa.array(lines, type=pa.int64())
    table = pa.table(arrays)
    store.con.register("clustomer_xlsx", table)
    try:
        store.execute("CREATE TABLE stage.src AS SELECT * FROM clustomer_xlsx")
    finally:
        store.con.unregister("clustomer_xlsx")
    return _typed_from_src(store, path, "xlsx", layout, mapping, date_format)


def _excel_column(values: list[Any]) -> list[Any]:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return [float(v) if v is not None else None for v in values]
    if present and all(isinstance(v, datetime) for v in present):
        return values
    return [_excel_text(v) for v in values]


def _excel_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _typed_from_src(
    store: Store,
    path: Path,
    fmt_name: str,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    """Cast the columns of ``stage.src`` to the layout's kinds; failures become rejects."""
    described = store.rows("DESCRIBE stage.src")
    types = {name: typ for name, typ, *_ in described if name != "_line"}
    header = list(types)
    match = detect_layout(header, layout, mapping, file=path.name)
    by_column = {col: name for name, col in match.columns.items()}
    time_col = match.columns[match.layout.time_field]
    fmt = DateFormat(date_format) if date_format else DateFormat()
    if date_format is None and types[time_col] == "VARCHAR":
        tq = '"' + time_col.replace('"', '""') + '"'
        vals = store.rows(
            f"SELECT {tq} FROM stage.src WHERE {tq} IS NOT NULL "
            f"USING SAMPLE {SAMPLE_ROWS} ROWS (reservoir, 0)"
        )
        fmt = detect_date_format([v for (v,) in vals], file=path.name)
    select = ["_line"]
    checks: list[tuple[str, str]] = []  # (column header, typed expression)
    for i, col in enumerate(header):
        q = '"' + col.replace('"', '""') + '"'
        name = by_column.get(col)
        kind = match.layout.field(name).kind if name else "text"
        if name and kind == "timestamp" and name != match.layout.time_field:
            kind = "text"
        if kind == "text":
            expr = f"CAST({q} AS VARCHAR)" if types[col] != "VARCHAR" else q
        elif kind == "number":
            expr = (
                f"TRY_CAST({q} AS DOUBLE)"
                if types[col] != "VARCHAR"
                else f"TRY_CAST(trim({q}) AS DOUBLE)"
            )
            checks.append((col, expr))
        elif types[col] == "VARCHAR":
            expr = (
                f"TRY_CAST(try_strptime(trim({q}), {_sql_str(fmt.fmt)}) AS TIMESTAMP)"
                if fmt.fmt
                else f"TRY_CAST(TRY_CAST(trim({q}) AS {fmt.sql_type}) AS TIMESTAMP)"
            )
            checks.append((col, expr))
        else:
            expr = f"TRY_CAST({q} AS TIMESTAMP)"
            checks.append((col, expr))
        select.append(f'{expr} AS "{name or f"_c{i}"}"')
    for col, expr in checks:
        q = '"' + col.replace('"', '""') + '"'
        store.execute(
            "INSERT INTO stage.rejects "
            f"SELECT _line, ?, {_masked(f'left(CAST({q} AS VARCHAR), 60)')}, "
            "'not a ' || ?, 'unparseable value' "
            f"FROM stage.src WHERE {q} IS NOT NULL AND {expr} IS NULL",
            [col, "date" if "TIMESTAMP" in expr else "number"],
        )
    store.execute(
        f"CREATE TABLE stage.raw AS SELECT {', '.join(select)} FROM stage.src "
        "WHERE _line NOT IN (SELECT line FROM stage.rejects)"
    )
    store.execute("DROP TABLE stage.src")
    rows = int(store.scalar("SELECT count(*) FROM stage.raw"))
    rejected = int(store.scalar("SELECT count(DISTINCT line) FROM stage.rejects"))
    names = [by_column.get(col) or f"_c{i}" for i, col in enumerate(header)]
    return RawFile(path, fmt_name, match, rows, rejected, {"date_format": fmt.fmt}, columns=names)
