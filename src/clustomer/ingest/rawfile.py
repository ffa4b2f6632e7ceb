"""What a reader hands the normaliser: :class:`RawFile`, and small SQL helpers.

Every reader (``csv_reader``, ``table_reader``) yields the same thing: SQL (``source``)
that selects one row per data row of the file, the layout's fields under their field
names with their kinds' types (``DOUBLE``, ``TIMESTAMP``, ``VARCHAR``), and every other
column kept as ``_c<i>`` so that exact duplicates can be recognised on the whole line.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustomer.ingest.layouts import Layout, Match, normalize_header

SQL_TYPES = {"number": "DOUBLE", "timestamp": "TIMESTAMP", "text": "VARCHAR"}

#: headers of columns never kept as customer attributes: contact details and payment data
#: (they belong in ``contacts``, or nowhere)
PRIVATE_COLUMNS = re.compile(
    r"phone|mobile|telephone|^tel$|mail|address|street|zip|postcode|postal|^name$|fullname|"
    r"password|card|iban|bic|ssn|passport|birth|note|ipaddress|useragent"
)


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
    #: number fields read as text and parsed strictly (separators, currency symbols)
    text_numbers: list[str] = field(default_factory=list)
    #: columns of ``source`` kept as customer attributes (``_c<i>`` -> attribute name)
    attributes: dict[str, str] = field(default_factory=dict)
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

    @property
    def key_columns(self) -> dict[str, str]:
        """Identifier fields present in the file: field name -> header in the file."""
        cols = self.match.columns
        return {f.name: cols[f.name] for f in self.layout.fields if f.key and f.name in cols}


def attribute_columns(match: Match, header: list[str]) -> dict[str, str]:
    """The columns a customer table keeps as attributes: ``_c<i>`` -> attribute name.

    Every column that feeds no field, except contact and payment details
    (:data:`PRIVATE_COLUMNS`); names are lower-case with ``_``, made unique.

    >>> from clustomer.ingest.layouts import detect_layout
    >>> h = ["customer_id", "Age", "Brand Preference", "Phone", "age"]
    >>> attribute_columns(detect_layout(h), h)
    {'_c1': 'age', '_c2': 'brand_preference', '_c4': 'age_2'}
    """
    if not match.layout.attributes:
        return {}
    used = set(match.columns.values())
    out: dict[str, str] = {}
    seen: set[str] = set()
    for i, col in enumerate(header):
        if col in used and header.index(col) == i:
            continue
        if not col.strip() or PRIVATE_COLUMNS.search(normalize_header(col)):
            continue
        base = re.sub(r"[^0-9a-z]+", "_", col.strip().lower()).strip("_") or f"column_{i + 1}"
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}_{n}"
        seen.add(name)
        out[f"_c{i}"] = name
    return out


def sql_str(value: str) -> str:
    """A SQL string literal.

    >>> sql_str("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def quoted(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def masked(sql: str) -> str:
    """SQL that hides e-mail addresses in a value before it is stored or shown."""
    return f"regexp_replace({sql}, '[^\\s@\"]+@[^\\s@\"]+', '<e-mail>', 'g')"


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
