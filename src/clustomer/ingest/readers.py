"""Read CSV, Parquet and Excel files into the in-memory ``stage`` catalog.

:func:`read_file` checks the file and the ``date_format`` option, then hands it to the
reader of its kind: :mod:`clustomer.ingest.csv_reader` (DuckDB's CSV reader with
rejects) or :mod:`clustomer.ingest.table_reader` (Parquet, ``.xlsx``). Each returns a
:class:`~clustomer.ingest.rawfile.RawFile`; see there for what it holds.

Nothing here writes to the workspace file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

from clustomer.errors import InputError
from clustomer.ingest.csv_reader import (
    before_scan,
    finish_scan,
    read_csv,
    recover_scan,
    scientific_id_error,
    use_utf8_copy,
)
from clustomer.ingest.rawfile import RawFile, literal_path
from clustomer.ingest.table_reader import read_excel, read_parquet
from clustomer.store.db import Store

__all__ = [
    "RawFile",
    "before_scan",
    "finish_scan",
    "literal_path",
    "read_file",
    "recover_scan",
    "scientific_id_error",
    "use_utf8_copy",
]


def read_file(
    store: Store,
    path: Path,
    *,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    date_format: str | None = None,
) -> RawFile:
    """Read ``path`` into the ``stage`` catalog and detect its layout.

    Parameters
    ----------
    date_format : str, optional
        A strptime format for the layout's date column (``%d/%m/%Y``); without it the
        format is detected, and dates that could be day-first or month-first are
        settled by the whole column (or the import stops and asks for one).

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
        check_date_format(store, date_format, file=path.name)
    store.drop_stage()
    store.execute(
        "CREATE TABLE stage.rejects (line BIGINT, column_name VARCHAR, value VARCHAR, "
        "message VARCHAR, reason VARCHAR)"
    )
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return read_parquet(store, path, layout, mapping, date_format)
    if suffix in (".xlsx", ".xlsm"):
        return read_excel(store, path, layout, mapping, date_format)
    if suffix == ".xls":
        raise InputError(
            "old .xls workbooks are not supported; save as .xlsx or CSV", file=path.name
        )
    return read_csv(store, path, layout, mapping, date_format)


def check_date_format(store: Store, date_format: str, *, file: str | None = None) -> None:
    """Refuse a ``--date-format`` that is not a strptime format DuckDB can use.

    >>> from clustomer.store import Store
    >>> check_date_format(Store(), "%d/%m/%Y")
    >>> check_date_format(Store(), "%Q")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clustomer.errors.InputError: --date-format '%Q' is not a date format; ...
    """
    error = InputError(
        f"--date-format {date_format!r} is not a date format; use strptime codes, "
        "e.g. '%d/%m/%Y %H:%M'",
        file=file,
    )
    if "%" not in date_format:
        raise error
    try:
        store.scalar("SELECT try_strptime('2024-01-02', ?)", [date_format])
    except duckdb.Error:
        raise error from None
