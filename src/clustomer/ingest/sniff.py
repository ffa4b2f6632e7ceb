"""Look at the first megabyte of a CSV file: encoding, delimiter, header, date format.

Nothing here reads the whole file; DuckDB's reader does that with what this finds (and,
when the sample cannot tell day-first from month-first dates, counts over the whole
column: see ``resolve`` in :func:`detect_date_format`). Number formats are in
:mod:`clustomer.ingest.numbers`.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clustomer.errors import InputError

# a shop's notes or descriptions may be long: let the sampler read any field
csv.field_size_limit(sys.maxsize)

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
    #: data rows sampled from the start of the file and from evenly spread places in it
    sample: list[list[str]]
    #: the first megabyte was plain ASCII
    ascii_head: bool = True


#: how many extra places in a big file are sampled, and how much is read at each
SPREAD_CHUNKS = 24
SPREAD_BYTES = 1 << 15
#: rows kept from each spread place (the head gives up to SAMPLE_ROWS)
PER_CHUNK = 100


def sniff_csv(path: Path) -> CsvDialect:
    """Find the encoding, delimiter and header of a CSV file, and sample its rows.

    The header and the first rows come from the first megabyte; further rows from
    places spread over the whole file, so that a format question (day-first dates, say)
    is settled by the whole file rather than its first days.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = p.write_bytes("a;b\\r\\n1;2,5\\r\\n".encode("utf-8-sig"))
    >>> d = sniff_csv(p)
    >>> d.delimiter, d.header, d.sample
    (';', ['a', 'b'], [['1', '2,5']])
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
        more = bool(fh.read(1))
        spread: list[bytes] = []
        rest = size - SNIFF_BYTES
        chunks = min(SPREAD_CHUNKS, rest // SPREAD_BYTES) if more else 0
        for i in range(chunks):  # places that never overlap, evenly over the rest
            fh.seek(SNIFF_BYTES + (i * rest) // chunks)
            spread.append(fh.read(SPREAD_BYTES))
    utf16 = head.startswith((b"\xff\xfe", b"\xfe\xff"))  # Excel's "Unicode Text"
    if utf16:
        # whole characters of the head only; the spread places are not sampled (their
        # byte offsets may split characters): DuckDB reads a UTF-8 copy of the file
        text = head[: len(head) // 2 * 2].decode("utf-16", errors="replace")
        text, encoding, spread = text[: text.rfind("\n") + 1] if more else text, "utf-16", []
    elif more:  # drop a possibly cut last line
        head = head[: head.rfind(b"\n") + 1] or head
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    ascii_head = head.isascii()
    if not utf16:
        try:
            text, encoding = head.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:  # Excel on Windows saves CSV as Windows-1252
            text, encoding = head.decode("cp1252", errors="replace"), "cp1252"
    if not text.strip():
        raise InputError("the file is empty (no header line)", file=path.name)
    first = text.splitlines()[0]
    if first.count('"') % 2:
        raise InputError(
            "the header has a quote that is never closed (unterminated quote); fix the "
            "quotes on the first line",
            file=path.name,
            line=1,
        )
    counts = {d: _count_outside_quotes(first, d) for d in (",", ";", "\t", "|")}
    delimiter = max(counts, key=lambda d: counts[d]) if max(counts.values()) else ","
    rows = _parse_rows(text, delimiter)
    if not rows:
        raise InputError("the first line (the header) is blank", file=path.name, line=1)
    header = [h.strip() for h in rows[0]]
    if not any(header):
        raise InputError("the first line (the header) is blank", file=path.name, line=1)
    data = rows[1:]
    step = max(1, len(data) // SAMPLE_ROWS)  # rows spread over the first megabyte
    sample = data[::step][:SAMPLE_ROWS]
    for chunk in spread:
        # whole lines only: drop the cut first and last ones
        body = chunk[chunk.find(b"\n") + 1 : chunk.rfind(b"\n") + 1]
        decoded = body.decode(encoding, errors="replace")
        found = [r for r in _parse_rows(decoded, delimiter) if len(r) == len(header)]
        sample += found[:: max(1, len(found) // PER_CHUNK)][:PER_CHUNK]
    return CsvDialect(encoding, delimiter, header, sample, ascii_head)


def _parse_rows(text: str, delimiter: str) -> list[list[str]]:
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False))
    except csv.Error:  # an odd quote: fall back to plain splitting for the sample
        rows = [line.split(delimiter) for line in text.splitlines()]
    return [r for r in rows if r]


def _count_outside_quotes(line: str, ch: str) -> int:
    inside, n = False, 0
    for c in line:
        if c == '"':
            inside = not inside
        elif c == ch and not inside:
            n += 1
    return n


@dataclass(frozen=True)
class DateFormat:
    """How a date column is read: a strptime format, or DuckDB's ISO 8601 cast.

    ``sql_type`` is ``TIMESTAMPTZ`` when the ISO values carry an offset (``Z``,
    ``+02:00``); they are then converted to UTC.
    """

    fmt: str | None = None
    sql_type: str = "TIMESTAMP"


_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(?P<tz>Z|[+-]\d{2}(:?\d{2})?)?$"
)
#: a value must parse this often in the sample for a format to be chosen; the rest of
#: the rows that fail are dropped as "unparseable value"
MIN_SHARE = 0.5


def detect_date_format(
    values: list[str],
    *,
    file: str | None = None,
    resolve: Callable[[Sequence[str]], Sequence[int]] | None = None,
) -> DateFormat:
    """Pick how to read a date column from a sample of its values.

    ISO 8601 wins when it reads most values; otherwise the format among
    :data:`DATE_FORMATS` that reads the most values. Day-first and month-first are told
    apart by the data: when the sample cannot tell them apart, ``resolve`` (if given)
    counts how many values of the *whole column* each candidate format reads, and a
    single format that reads more than the others wins (one ``13/02/2011`` anywhere
    decides). Otherwise the import stops and asks for ``--date-format``.

    >>> detect_date_format(["2011-12-09 12:50:00", "2011-01-02"])
    DateFormat(fmt=None, sql_type='TIMESTAMP')
    >>> detect_date_format(["2024-01-02T10:00:00Z"]).sql_type
    'TIMESTAMPTZ'
    >>> detect_date_format(["12/1/2010 8:26", "12/13/2010 9:01"]).fmt
    '%m/%d/%Y %H:%M'
    >>> detect_date_format(["13/1/2010 8:26", "unknown"]).fmt
    '%d/%m/%Y %H:%M'
    >>> whole_column = lambda fmts: [5 if f.startswith("%d") else 4 for f in fmts]
    >>> detect_date_format(["01/02/2011"], resolve=whole_column).fmt
    '%d/%m/%Y'
    """
    vals = [v.strip() for v in values if v and v.strip()]
    if not vals:
        return DateFormat()
    iso = [m for m in map(_ISO.match, vals) if m]
    scores = {fmt: sum(_parses(v, fmt) for v in vals) for fmt in DATE_FORMATS}
    best = max(scores.values())
    if len(iso) >= max(best, MIN_SHARE * len(vals)):
        with_tz = any(m.group("tz") for m in iso)
        return DateFormat(None, "TIMESTAMPTZ" if with_tz else "TIMESTAMP")
    if best < MIN_SHARE * len(vals):
        return DateFormat()  # nothing fits: DuckDB's own cast, bad values are reported
    winners = [fmt for fmt in DATE_FORMATS if scores[fmt] == best]
    # values the winner cannot read but another format can: the column mixes formats,
    # and dropping them all would lose real orders
    other = [
        v
        for v in vals
        if not _parses(v, winners[0])
        and (_ISO.match(v) or any(_parses(v, f) for f in DATE_FORMATS))
    ]
    if len(other) > 0.05 * len(vals):
        raise InputError(
            f"the dates are written in more than one way (e.g. {other[0]!r} next to "
            f"{next(v for v in vals if _parses(v, winners[0]))!r}); give the main format "
            "with --date-format, and the rows in another format will be dropped as "
            "unparseable",
            file=file,
        )
    swapped = {w.replace("%d", "%D").replace("%m", "%d").replace("%D", "%m") for w in winners}
    if len(winners) > 1 and swapped & set(winners):
        if resolve is not None:
            counts = list(resolve(winners))
            top = [w for w, n in zip(winners, counts, strict=True) if n == max(counts)]
            if len(top) == 1 and max(counts) > 0:
                return DateFormat(top[0])
        example = next(v for v in vals if _parses(v, winners[0]))
        raise InputError(
            f"dates such as {example!r} could be day-first or month-first, and no date in "
            "the column says which (a day above 12 would); give the format with "
            "--date-format, e.g. " + " or ".join(repr(w) for w in winners[:2]),
            file=file,
        )
    return DateFormat(winners[0])


def _parses(value: str, fmt: str) -> bool:
    try:
        datetime.strptime(value, fmt)
    except ValueError:
        return False
    return True
