"""Read Parquet and Excel (``.xlsx``) files: typed tables cast into ``stage.raw``.

The file's columns land in ``stage.src`` with a ``_line`` number; :func:`typed_from_src`
casts them to the layout's kinds. Values that do not cast go to ``stage.rejects`` with
line, column and value, and their rows are dropped as "unparseable value".

Nothing here writes to the workspace file.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from clustomer.errors import InputError
from clustomer.ingest.csv_reader import scientific_error
from clustomer.ingest.layouts import detect_layout
from clustomer.ingest.numbers import SCIENTIFIC, lenient_number
from clustomer.ingest.rawfile import (
    RawFile,
    attribute_columns,
    literal_path,
    masked,
    quoted,
    sql_str,
)
from clustomer.ingest.sniff import SAMPLE_ROWS, DateFormat, detect_date_format
from clustomer.store.db import Store


def read_parquet(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    """Load a Parquet file into ``stage.src`` and cast it (see :func:`typed_from_src`)."""
    links: list[Path] = []
    try:
        store.execute(
            "CREATE TABLE stage.src AS SELECT *, file_row_number + 1 AS _line FROM "
            f"read_parquet({sql_str(str(literal_path(path, links)))}, file_row_number = true)"
        )
    except duckdb.Error as exc:
        raise InputError(f"cannot read this Parquet file: {exc}", file=path.name) from None
    finally:
        for folder in links:
            shutil.rmtree(folder, ignore_errors=True)
    store.execute("ALTER TABLE stage.src DROP COLUMN file_row_number")
    return typed_from_src(store, path, "parquet", layout, mapping, date_format)


def read_excel(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    """Load the first sheet of a workbook into ``stage.src`` and cast it."""
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
    return typed_from_src(store, path, "xlsx", layout, mapping, date_format)


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


def typed_from_src(
    store: Store,
    path: Path,
    fmt_name: str,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
) -> RawFile:
    """Cast the columns of ``stage.src`` to the layout's kinds; failures become rejects.

    Raises
    ------
    InputError
        For an id in scientific notation (naming line and column), or dates that could
        be day-first or month-first in the whole column.
    """
    described = store.rows("DESCRIBE stage.src")
    types = {name: typ for name, typ, *_ in described if name != "_line"}
    header = list(types)
    match = detect_layout(header, layout, mapping, file=path.name)
    lay = match.layout
    by_column = {col: name for name, col in match.columns.items()}
    keys = [match.columns[f.name] for f in lay.fields if f.key and f.name in match.columns]
    _check_ids(store, path, keys, types)
    fmt = DateFormat(date_format) if date_format else DateFormat()
    time_col = match.columns[lay.time_field] if lay.time_field else None
    if time_col is not None and date_format is None and types[time_col] == "VARCHAR":
        tq = quoted(time_col)
        vals = store.rows(
            f"SELECT {tq} FROM stage.src WHERE {tq} IS NOT NULL "
            f"USING SAMPLE {SAMPLE_ROWS} ROWS (reservoir, 0)"
        )
        fmt = detect_date_format(
            [v for (v,) in vals], file=path.name, resolve=lambda f: _count_dates(store, tq, f)
        )
    select = ["_line"]
    checks: list[tuple[str, str, str]] = []  # (column header, typed expression, what)
    for i, col in enumerate(header):
        q = quoted(col)
        name = by_column.get(col)
        kind = lay.field(name).kind if name else "text"
        if name and kind == "timestamp" and name != lay.time_field:
            kind = "text"
        if kind == "text":
            expr = f"CAST({q} AS VARCHAR)" if types[col] != "VARCHAR" else q
        elif kind == "number":
            expr = f"TRY_CAST({q} AS DOUBLE)" if types[col] != "VARCHAR" else lenient_number(q)
            checks.append((col, expr, "number"))
        elif types[col] == "VARCHAR":
            expr = (
                f"TRY_CAST(try_strptime(trim({q}), {sql_str(fmt.fmt)}) AS TIMESTAMP)"
                if fmt.fmt
                else f"TRY_CAST(TRY_CAST(trim({q}) AS {fmt.sql_type}) AS TIMESTAMP)"
            )
            checks.append((col, expr, "date"))
        else:
            expr = f"TRY_CAST({q} AS TIMESTAMP)"
            checks.append((col, expr, "date"))
        select.append(f"{expr} AS {quoted(name or f'_c{i}')}")
    for col, expr, what in checks:
        q = quoted(col)
        store.execute(
            "INSERT INTO stage.rejects "
            f"SELECT _line, ?, {masked(f'left(CAST({q} AS VARCHAR), 60)')}, "
            "'not a ' || ?, 'unparseable value' "
            f"FROM stage.src WHERE {q} IS NOT NULL AND {expr} IS NULL",
            [col, what],
        )
    store.execute(
        f"CREATE TABLE stage.raw AS SELECT {', '.join(select)} FROM stage.src "
        "WHERE _line NOT IN (SELECT line FROM stage.rejects)"
    )
    store.execute("DROP TABLE stage.src")
    rows = int(store.scalar("SELECT count(*) FROM stage.raw"))
    rejected = int(store.scalar("SELECT count(DISTINCT line) FROM stage.rejects"))
    names = [by_column.get(col) or f"_c{i}" for i, col in enumerate(header)]
    options = {"date_format": fmt.fmt, "decimal_separator": ".", "thousands": ",", "symbols": True}
    return RawFile(
        path,
        fmt_name,
        match,
        rows,
        rejected,
        options,
        columns=names,
        attributes=attribute_columns(match, header),
    )


def _check_ids(store: Store, path: Path, columns: list[str], types: dict[str, str]) -> None:
    """Stop at the first id written in scientific notation (text cells only)."""
    for col in columns:
        if types[col] != "VARCHAR":
            continue
        q = quoted(col)
        hit = store.rows(
            f"SELECT _line, trim({q}) FROM stage.src "
            f"WHERE regexp_full_match(trim({q}), '{SCIENTIFIC}') ORDER BY _line LIMIT 1"
        )
        if hit:
            raise scientific_error(path.name, int(hit[0][0]), col, str(hit[0][1]))


def _count_dates(store: Store, column: str, formats: Sequence[str]) -> list[int]:
    exprs = ", ".join(f"count(try_strptime(trim({column}), {sql_str(f)}))" for f in formats)
    return [int(n) for n in store.rows(f"SELECT {exprs} FROM stage.src")[0]]
