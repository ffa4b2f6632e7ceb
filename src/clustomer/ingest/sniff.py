"""Look at the first megabyte of a CSV file: encoding, delimiter, header, date format.

Nothing here reads the whole file; DuckDB's reader does that with what this finds.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clustomer.errors import InputError

SNIFF_BYTES = 1 << 20
SAMPLE_ROWS = 2000

#: Date formats tried on a sample of the time column, most specific first. The first that
#: parses every sampled value wins; day-first and month-first are told apart by the data.
DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
)


@dataclass
class CsvDialect:
    encoding: str
    delimiter: str
    header: list[str]
    sample: list[list[str]]


def sniff_csv(path: Path) -> CsvDialect:
    """Find the encoding, delimiter and header of a CSV file from its first megabyte.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_bytes("a;b\\r\\n1;2,5\\r\\n".encode("utf-8-sig"))
    >>> d = sniff_csv(p)
    >>> d.delimiter, d.header, d.sample
    (';', ['a', 'b'], [['1', '2,5']])
    """
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
        more = bool(fh.read(1))
    if more:  # drop a possibly cut last line
        head = head[: head.rfind(b"\n") + 1] or head
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    try:
        text, encoding = head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = head.decode("latin-1"), "latin-1"
    if not text.strip():
        raise InputError("the file is empty (no header line)", file=path.name)
    first = text.splitlines()[0]
    counts = {d: _count_outside_quotes(first, d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=False))
    except csv.Error:
        rows = [next(csv.reader([first], delimiter=delimiter))]
    rows = [r for r in rows if r]
    header = [h.strip() for h in rows[0]]
    if not any(header):
        raise InputError("the first line (the header) is blank", file=path.name, line=1)
    return CsvDialect(encoding, delimiter, header, rows[1 : SAMPLE_ROWS + 1])


def _count_outside_quotes(line: str, ch: str) -> int:
    inside, n = False, 0
    for c in line:
        if c == '"':
            inside = not inside
        elif c == ch and not inside:
            n += 1
    return n


def detect_date_format(values: list[str]) -> str | None:
    """Pick a strptime format that parses every sampled value; ``None`` means ISO 8601.

    >>> detect_date_format(["2011-12-09 12:50:00", "2011-01-02"])
    >>> detect_date_format(["12/1/2010 8:26", "12/13/2010 9:01"])
    '%m/%d/%Y %H:%M'
    >>> detect_date_format(["13/1/2010 8:26"])
    '%d/%m/%Y %H:%M'
    """
    vals = [v.strip() for v in values if v and v.strip()]
    if not vals:
        return None
    if all(_is_iso(v) for v in vals):
        return None
    for fmt in DATE_FORMATS:
        if all(_parses(v, fmt) for v in vals):
            return fmt
    return None


def _is_iso(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is None
    except ValueError:
        return False


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True


_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(\.\d{3})*,\d+$|^-?\d+,\d+$")


def uses_decimal_comma(values: list[str]) -> bool:
    """Whether numbers are written with a decimal comma (``29,98``).

    >>> uses_decimal_comma(["29,98", "1.234,50"]), uses_decimal_comma(["29.98"])
    (True, False)
    """
    vals = [v.strip() for v in values if v and v.strip()]
    return (
        bool(vals)
        and any(_DECIMAL_COMMA.match(v) for v in vals)
        and not any(re.match(r"^-?\d+\.\d+$", v) for v in vals)
    )
