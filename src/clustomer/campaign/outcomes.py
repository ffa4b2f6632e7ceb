"""Import a campaign's outcome file: who converted (and, optionally, their revenue).

The file is a CSV (comma, semicolon, tab or pipe; UTF-8) with a header and:

- a **customer** column named ``customer_key``, ``customer_id`` or ``customer`` (the
  first of these present is used): the customer keys of the workspace, as in the order
  files (``12346`` and ``12346.0`` are the same key; a key differing only in case
  matches too). E-mail addresses match only where they *are* the keys (Shopify);
- a **converted** column named ``converted``: ``1``/``0``, ``true``/``false``,
  ``yes``/``no``, ``y``/``n`` or ``t``/``f`` (any case);
- optionally a **revenue** column named ``revenue``: a plain number (``12.5``,
  ``-3``; a lone decimal comma ``12,5`` is read too), empty for 0.

Rows for customers who are not members of the campaign are counted and ignored. A bad
row stops the import with its file, line and column, and nothing is stored; a good
file replaces any earlier outcomes of the campaign, in one transaction.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from clustomer.errors import ClustomerError, InputError, mask_emails
from clustomer.store import campaigns as db
from clustomer.store.db import Store

CUSTOMER_COLUMNS = ("customer_key", "customer_id", "customer")
CONVERTED_COLUMN = "converted"
REVENUE_COLUMN = "revenue"
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


@dataclass(frozen=True)
class OutcomeImport:
    """The account of one outcome file (no customer keys)."""

    campaign: str
    file: str
    rows: int
    matched: int
    not_members: int
    converted: int
    has_revenue: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_outcomes(store: Store, name: str, path: str | Path) -> OutcomeImport:
    """Read an outcome file and store it as campaign ``name``'s outcomes (all or nothing).

    Raises
    ------
    InputError
        The file cannot be read, lacks a column, or a row is bad (naming file, line and
        column); or none of its customers is a member of the campaign.
    ClustomerError
        There is no campaign of that name.
    """
    campaign = db.find_campaign(store, name)
    if campaign is None:
        raise ClustomerError(f"there is no campaign named {name!r}; record it first")
    path = Path(path)
    frame = read_outcome_file(path)
    members = db.member_keys(store, campaign["audience_ids"])
    exact = set(members)
    folded: dict[str, str | None] = {}
    for key in members:
        folded[key.lower()] = None if key.lower() in folded else key
    keys: list[str | None] = []
    for key in frame["customer_key"]:
        keys.append(key if key in exact else folded.get(key.lower()))
    frame["customer_key"] = keys
    matched = frame[frame["customer_key"].notna()]
    if matched.empty:
        raise InputError(
            f"none of its {len(frame):,} customers is a member of campaign "
            f"{campaign['name']!r}; check the customer column holds the workspace's keys",
            file=path.name,
        )
    dup = matched["customer_key"].duplicated(keep="first")
    if dup.any():
        line = int(matched.loc[dup, "line"].iloc[0])
        raise InputError(
            "this customer is listed twice (once with other spelling or case)",
            file=path.name,
            line=line,
            column=str(frame.attrs["customer_column"]),
        )
    db.replace_outcomes(store, int(campaign["campaign_id"]), matched)
    return OutcomeImport(
        campaign=str(campaign["name"]),
        file=path.name,
        rows=len(frame),
        matched=len(matched),
        not_members=len(frame) - len(matched),
        converted=int(matched["converted"].sum()),
        has_revenue=bool(frame.attrs["has_revenue"]),
    )


def read_outcome_file(path: Path) -> pd.DataFrame:
    """Parse and check an outcome file; columns ``line, customer_key, converted, revenue``.

    ``revenue`` is null in every row when the file has no revenue column. The frame's
    ``attrs`` hold ``customer_column`` and ``has_revenue``.
    """
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError("no such file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        line = text_line_of(path.read_bytes(), exc.start)
        raise InputError("is not UTF-8 text; save it as UTF-8 CSV", file=name, line=line) from None
    except OSError as exc:
        raise InputError(f"cannot read it: {exc.strerror}", file=str(path)) from None
    # lines end at \n, \r\n or \r only: str.splitlines would also split at \f, \x85 or
    # \u2028 inside a cell and put every later line number off
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("the file is empty", file=name) from None
    except csv.Error as exc:
        raise InputError(f"cannot read the header: {exc}", file=name, line=1) from None
    columns = [re.sub(r"[\s\-]+", "_", h.strip().lower()) for h in header]
    cust_col = next((c for c in CUSTOMER_COLUMNS if c in columns), None)
    if cust_col is None:
        raise InputError(
            f"no customer column: name one {' / '.join(CUSTOMER_COLUMNS)} "
            f"(found: {mask_emails(', '.join(header))})",
            file=name,
            line=1,
        )
    if CONVERTED_COLUMN not in columns:
        raise InputError(
            f"no {CONVERTED_COLUMN!r} column (found: {mask_emails(', '.join(header))})",
            file=name,
            line=1,
        )
    i_cust = columns.index(cust_col)
    i_conv = columns.index(CONVERTED_COLUMN)
    i_rev = columns.index(REVENUE_COLUMN) if REVENUE_COLUMN in columns else None
    cust_label, conv_label = header[i_cust].strip(), header[i_conv].strip()
    rev_label = header[i_rev].strip() if i_rev is not None else REVENUE_COLUMN

    lines: list[int] = []
    keys: list[str] = []
    converted: list[bool] = []
    revenue: list[float | None] = []
    seen: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(str(exc), file=name, line=reader.line_num) from None
        line = reader.line_num
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"expected {len(header)} fields, found {len(row)}", file=name, line=line
            )
        key = _key(row[i_cust])
        if not key:
            raise InputError("no customer key", file=name, line=line, column=cust_label)
        if key in seen:
            raise InputError(
                f"this customer is listed twice (first on line {seen[key]})",
                file=name,
                line=line,
                column=cust_label,
            )
        seen[key] = line
        flag = row[i_conv].strip().lower()
        if flag in _TRUE:
            converted.append(True)
        elif flag in _FALSE:
            converted.append(False)
        else:
            raise InputError(
                f"cannot read {mask_emails(row[i_conv].strip())!r} as converted: "
                "use 1/0, true/false or yes/no",
                file=name,
                line=line,
                column=conv_label,
            )
        revenue.append(None if i_rev is None else _revenue(row[i_rev], name, line, rev_label))
        lines.append(line)
        keys.append(key)
    if not keys:
        raise InputError("the file has a header but no rows", file=name)
    frame = pd.DataFrame(
        {
            "line": lines,
            "customer_key": pd.Series(keys, dtype=object),
            "converted": converted,
            "revenue": pd.Series(revenue, dtype="float64"),
        }
    )
    frame.attrs["customer_column"] = cust_label
    frame.attrs["has_revenue"] = i_rev is not None
    return frame


def _key(value: str) -> str:
    """A customer key as the order imports store it (trimmed, ``12346.0`` → ``12346``)."""
    key = value.strip()
    if "." in key:
        key = re.sub(r"\.0+$", "", key)
    return key


def _revenue(value: str, file: str, line: int, column: str) -> float:
    raw = value.strip()
    if not raw:
        return 0.0
    text = raw.replace(",", ".") if raw.count(",") == 1 and "." not in raw else raw
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise InputError(
            f"cannot read {mask_emails(raw)!r} as a revenue amount (a plain number, e.g. 12.50)",
            file=file,
            line=line,
            column=column,
        )
    return number


def _delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def text_line_of(data: bytes, offset: int) -> int:
    """The 1-based line number of a byte offset.

    >>> text_line_of(b"a\\nb\\nc", 3)
    2
    """
    return data.count(b"\n", 0, offset) + 1
