"""Read a CSV export with DuckDB's reader: fixed, explicit columns and rejects.

:func:`read_csv` sniffs the file (:mod:`clustomer.ingest.sniff`), detects its layout,
and returns a :class:`RawFile` whose ``source`` is a ``read_csv(...)`` call that the
normaliser scans once, straight into its staging table (no copy of the raw file is ever
held). :func:`finish_scan` then collects what DuckDB rejected: values that do not parse
are not guessed at; their rows go to ``stage.rejects`` with line, column and value, and
are dropped as "unparseable value".

Nothing here writes to the workspace file.
"""

from __future__ import annotations

import codecs
import csv
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from clustomer.errors import InputError, mask_emails
from clustomer.ingest.layouts import detect_layout
from clustomer.ingest.numbers import (
    NumberFormat,
    detect_number_format,
    is_scientific,
    looks_numeric,
)
from clustomer.ingest.rawfile import (
    SQL_TYPES,
    RawFile,
    attribute_columns,
    literal_path,
    masked,
    quoted,
    sql_str,
)
from clustomer.ingest.sniff import DateFormat, detect_date_format, sniff_csv
from clustomer.store.db import Store

REJECTS_TABLE = "clustomer_rejects"
REJECTS_SCAN = "clustomer_scans"


def read_csv(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    """Sniff ``path``, match its layout and build the ``read_csv`` source that reads it."""
    dialect = sniff_csv(path)
    match = detect_layout(dialect.header, layout, mapping, file=path.name)
    lay = match.layout
    by_column = {col: name for name, col in match.columns.items()}
    time_field = lay.time_field
    index: dict[str, int] = {}
    columns: dict[str, str] = {}
    for i, col in enumerate(dialect.header):
        name = by_column.get(col)
        if name in index:  # a repeated header: only its first column feeds the field
            name = None
        kind = lay.field(name).kind if name else "text"
        if name and kind == "timestamp" and name != time_field:
            kind = "text"  # secondary dates are parsed leniently by the normaliser
        if name:
            index[name] = i
        columns[name or f"_c{i}"] = SQL_TYPES[kind]

    def sample(i: int) -> list[str]:
        return [r[i] for r in dialect.sample if i < len(r)]

    numbers = [f.name for f in lay.fields if f.kind == "number" and f.name in index]
    attributes = attribute_columns(match, dialect.header)
    num = detect_number_format(
        [v for n in numbers for v in sample(index[n])], dialect.delimiter, file=path.name
    )
    if attributes:  # attributes follow the numbers' convention, but never stop the import
        extra = [v for c in attributes for v in sample(int(c[2:])) if looks_numeric(v)]
        num = _attribute_format(num, numbers, sample, index, extra, dialect.delimiter)
    if num.as_text:  # DuckDB would drop separators anywhere: read as text, parse strictly
        for n in numbers:
            columns[n] = "VARCHAR"
    options: dict[str, Any] = {
        "encoding": dialect.encoding,
        "delimiter": dialect.delimiter,
        "decimal_separator": num.decimal,
        "thousands": num.thousands,
        "symbols": num.symbols,
        "date_format": None,
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
        text_numbers=numbers if num.as_text else [],
        attributes=attributes,
        ascii_head=dialect.ascii_head,
    )
    if dialect.encoding != "utf-8":
        use_utf8_copy(raw)
    if time_field is not None:
        fmt = (
            DateFormat(date_format)
            if date_format
            else detect_date_format(
                sample(index[time_field]),
                file=path.name,
                resolve=lambda fmts: count_dates(store, raw, time_field, fmts),
            )
        )
        columns[time_field] = fmt.sql_type
        raw.options["date_format"] = fmt.fmt
    raw.source = csv_source(raw)
    return raw


def _attribute_format(
    num: NumberFormat,
    numbers: list[str],
    sample: Any,
    index: dict[str, int],
    extra: list[str],
    delimiter: str,
) -> NumberFormat:
    values = [v for n in numbers for v in sample(index[n])]
    try:
        return detect_number_format(values + extra, delimiter)
    except InputError:
        return num  # such attributes are kept as text


def count_dates(store: Store, raw: RawFile, field: str, formats: Sequence[str]) -> list[int]:
    """How many values of the whole date column each format reads (one scan)."""
    exprs = ", ".join(f"count(try_strptime(trim({quoted(field)}), {sql_str(f)}))" for f in formats)
    source = csv_source(raw, types={k: "VARCHAR" for k in raw.csv_types}, rejects=False)
    try:
        row = store.rows(f"SELECT {exprs} FROM {source}")[0]
    except duckdb.Error:
        if raw.cleaned:
            return [0] * len(formats)
        use_utf8_copy(raw)  # an odd byte after the sniffed part: count on a clean copy
        return count_dates(store, raw, field, formats)
    return [int(n) for n in row]


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
    raw.source = csv_source(raw)


def _fallback_encoding(raw: RawFile) -> str:
    """The encoding of a clean copy: UTF-16 when the file starts with its byte-order
    mark; UTF-8 (odd bytes replaced) when the sniffed start of the file was non-ASCII
    UTF-8 already; else Windows-1252."""
    if raw.options.get("cleaned_from", raw.options.get("encoding")) == "utf-16":
        return "utf-16"
    if raw.options.get("encoding") == "utf-8" and not raw.ascii_head:
        return "utf-8"
    return "cp1252"


def recover_scan(raw: RawFile, exc: Exception) -> None:
    """After DuckDB's reader gave up on a file: retry once on a clean copy, else explain.

    Raises
    ------
    InputError
        When a clean copy was already tried, or the file is not a CSV problem we know.
    """
    if raw.format == "csv" and not raw.cleaned:
        use_utf8_copy(raw)
        return
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    raise InputError(
        f"DuckDB cannot read this file: {mask_emails(first)[:300]}", file=raw.path.name
    ) from None


def csv_source(raw: RawFile, *, types: dict[str, str] | None = None, rejects: bool = True) -> str:
    """The ``read_csv`` call that reads ``raw``'s file with fixed, explicit columns."""
    o = raw.options
    cols = types if types is not None else raw.csv_types
    spec = "{" + ", ".join(f"{sql_str(k)}: {sql_str(v)}" for k, v in cols.items()) + "}"
    opts = [
        f"columns = {spec}",
        "header = true",
        "auto_detect = false",
        f"delim = {sql_str(o['delimiter'])}",
        "quote = '\"'",
        "escape = '\"'",
        f"decimal_separator = {sql_str(o['decimal_separator'])}",
        f"encoding = {sql_str(o['encoding'])}",
    ]
    if rejects:
        opts += [
            "store_rejects = true",
            f"rejects_table = {sql_str(REJECTS_TABLE)}",
            f"rejects_scan = {sql_str(REJECTS_SCAN)}",
        ]
    else:
        opts.append("ignore_errors = true")
    if o.get("date_format"):
        opts.append(f"timestampformat = {sql_str(o['date_format'])}")
    if raw.scan_path is None:  # a name DuckDB will not expand as a glob pattern
        raw.scan_path = literal_path(raw.path, raw.temp_dirs)
    return f"read_csv({sql_str(str(raw.scan_path))}, {', '.join(opts)})"


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
    if not exists or not store.scalar(f"SELECT count(*) FROM {REJECTS_TABLE}"):
        raw.rows = rows  # nothing rejected: the common case, in one query
        return False
    rejects = f"(SELECT DISTINCT * EXCLUDE (scan_id) FROM {REJECTS_TABLE})"
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
    value_sql = masked(
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
    if raw.match.columns:
        cases = " ".join(
            f"WHEN {sql_str(name)} THEN {sql_str(col)}" for name, col in raw.match.columns.items()
        )
        store.execute(
            f"UPDATE stage.rejects SET column_name = CASE column_name {cases} ELSE column_name END"
        )
    raw.rows = rows
    raw.rejected_lines = int(store.scalar("SELECT count(DISTINCT line) FROM stage.rejects"))
    before_scan(store)
    return False


def scientific_id_error(raw: RawFile) -> InputError:
    """The error for an id in scientific notation, naming its line and column.

    The CSV is read again with Python's reader until the first such id (this happens
    only on the way to an error).
    """
    line: int | None = None
    column: str | None = None
    value = ""
    keys = set(raw.key_columns.values())
    path = raw.scan_path or raw.path
    encoding = "utf-8-sig" if raw.options.get("encoding") == "utf-8" else "cp1252"
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=raw.options.get("delimiter", ","))
            header = [h.strip() for h in next(reader, [])]
            where = [(i, h) for i, h in enumerate(header) if h in keys]
            for row in reader:
                hit = next(
                    ((i, h) for i, h in where if i < len(row) and is_scientific(row[i])), None
                )
                if hit is not None:
                    line, column, value = reader.line_num, hit[1], row[hit[0]].strip()
                    break
    except (OSError, csv.Error):
        pass
    return scientific_error(raw.path.name, line, column, value)


def scientific_error(file: str, line: int | None, column: str | None, value: str) -> InputError:
    """An id such as ``7.21E+12`` cannot be read back: say so, and what to do."""
    shown = f" ({value})" if value else ""
    return InputError(
        f"an id is written in scientific notation{shown}: a spreadsheet rounded this long "
        "number when the file was saved, so different customers or orders may now share "
        "one id. Export the file again from the shop, or format the id column as Text "
        "before saving",
        file=file,
        line=line,
        column=column,
    )


def _header_of(column: str | None, columns: dict[str, str], header: list[str]) -> str | None:
    if column is None:
        return None
    names = list(columns)
    return header[names.index(column)] if column in names else column
