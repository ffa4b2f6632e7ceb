"""The export layouts clustomer knows: which columns each needs, and how to spot them.

A layout maps *fields* (the names the normalising SQL uses) to the column headers of a
shop's export. Columns are always matched by name, never by position; extra columns are
ignored. ``--map FIELD=COLUMN`` overrides the header for one field.

Examples
--------
>>> detect_layout(["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
...                "UnitPrice", "CustomerID", "Country"]).layout.name
'online_retail'
>>> detect_layout(["customer_id", "order_id", "order_date", "amount"]).layout.name
'generic'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from clustomer.errors import LayoutError

Kind = Literal["text", "number", "timestamp"]


@dataclass(frozen=True)
class Field:
    """One field of a layout: the header it is read from, its kind, whether required."""

    name: str
    header: str
    kind: Kind = "text"
    required: bool = True


@dataclass(frozen=True)
class Layout:
    """A known export layout."""

    name: str
    title: str
    fields: tuple[Field, ...]
    #: the field whose values are the line's timestamp
    time_field: str
    #: currency when the file has no currency column
    default_currency: str | None = None
    #: which normaliser turns its fields into order lines (see ``normalize.py``)
    normalizer: str = ""

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)


def _f(name: str, header: str, kind: Kind = "text", required: bool = True) -> Field:
    return Field(name, header, kind, required)


_RETAIL_FIELDS = ("invoice", "stock_code", "description", "quantity", "invoice_date")

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "online_retail",
            "UCI Online Retail (InvoiceNo, StockCode, ..., CustomerID, Country)",
            (
                _f("invoice", "InvoiceNo"),
                _f("stock_code", "StockCode"),
                _f("description", "Description"),
                _f("quantity", "Quantity", "number"),
                _f("invoice_date", "InvoiceDate", "timestamp"),
                _f("unit_price", "UnitPrice", "number"),
                _f("customer_id", "CustomerID"),
                _f("country", "Country"),
            ),
            time_field="invoice_date",
            default_currency="GBP",
            normalizer="online_retail",
        ),
        Layout(
            "online_retail_ii",
            "UCI Online Retail II (Invoice, StockCode, ..., Price, Customer ID, Country)",
            (
                _f("invoice", "Invoice"),
                _f("stock_code", "StockCode"),
                _f("description", "Description"),
                _f("quantity", "Quantity", "number"),
                _f("invoice_date", "InvoiceDate", "timestamp"),
                _f("unit_price", "Price", "number"),
                _f("customer_id", "Customer ID"),
                _f("country", "Country"),
            ),
            time_field="invoice_date",
            default_currency="GBP",
            normalizer="online_retail",
        ),
        Layout(
            "shopify_orders",
            "Shopify orders export (one row per line item; Name, Email, Lineitem ...)",
            (
                _f("order_name", "Name"),
                _f("email", "Email"),
                _f("financial_status", "Financial Status"),
                _f("currency", "Currency"),
                _f("created_at", "Created at", "timestamp"),
                _f("quantity", "Lineitem quantity", "number"),
                _f("product_name", "Lineitem name"),
                _f("unit_price", "Lineitem price", "number"),
                _f("sku", "Lineitem sku", required=False),
                _f("refunded_amount", "Refunded Amount", "number", required=False),
                _f("cancelled_at", "Cancelled at", required=False),
                _f("accepts_marketing", "Accepts Marketing", required=False),
                _f("billing_country", "Billing Country", required=False),
                _f("shopify_id", "Id", required=False),
                _f("billing_name", "Billing Name", required=False),
            ),
            time_field="created_at",
            normalizer="shopify_orders",
        ),
        Layout(
            "generic",
            "Generic order table (customer_id, order_id, order_date, amount, ...)",
            (
                _f("customer_id", "customer_id"),
                _f("order_id", "order_id"),
                _f("order_date", "order_date", "timestamp"),
                # amount may be left out when quantity and unit_price are given
                _f("amount", "amount", "number", required=False),
                _f("product_id", "product_id", required=False),
                _f("product_name", "product_name", required=False),
                _f("quantity", "quantity", "number", required=False),
                _f("unit_price", "unit_price", "number", required=False),
                _f("currency", "currency", required=False),
                _f("email", "email", required=False),
                _f("first_name", "first_name", required=False),
                _f("last_name", "last_name", required=False),
                _f("country", "country", required=False),
                _f("marketing_consent", "marketing_consent", required=False),
            ),
            time_field="order_date",
            normalizer="generic",
        ),
    )
}


def normalize_header(name: str) -> str:
    """Compare headers loosely: case, spaces, ``_`` and ``-`` do not matter.

    >>> normalize_header(" Customer ID")
    'customerid'
    """
    return re.sub(r"[\s_\-]+", "", name.strip().lstrip("\ufeff")).lower()


@dataclass
class Match:
    """A layout matched against a header: which column feeds each field."""

    layout: Layout
    columns: dict[str, str] = field(default_factory=dict)  # field -> header as in file
    missing: list[str] = field(default_factory=list)  # headers of missing required fields

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def score(self) -> float:
        req = len(self.layout.required)
        return (req - len(self.missing)) / req if req else 0.0


def match_layout(
    layout: Layout, header: Sequence[str], mapping: Mapping[str, str] | None = None
) -> Match:
    """Match one layout against a header, applying ``mapping`` (field -> column)."""
    by_norm = {normalize_header(h): h for h in header}
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in {f.name for f in layout.fields}]
    if unknown:
        names = ", ".join(f.name for f in layout.fields)
        raise LayoutError(
            f"--map names field(s) {', '.join(unknown)} that layout {layout.name} does not "
            f"have; its fields are: {names}"
        )
    result = Match(layout)
    for f in layout.fields:
        wanted = mapping.get(f.name, f.header)
        col = by_norm.get(normalize_header(wanted))
        if col is None and f.name in mapping:
            raise LayoutError(f"--map {f.name}={wanted}: the file has no column {wanted!r}")
        if col is not None:
            result.columns[f.name] = col
        elif f.required:
            result.missing.append(wanted)
    return result


def detect_layout(
    header: Sequence[str],
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    *,
    file: str | None = None,
) -> Match:
    """Find the layout of a file from its header (or check the one asked for).

    Raises
    ------
    LayoutError
        Naming the closest layout, the columns it misses, and suggesting ``--map``.
    """
    if layout is not None:
        if layout not in LAYOUTS:
            close = difflib.get_close_matches(layout, LAYOUTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise LayoutError(
                f"unknown layout {layout!r}{hint}; known layouts: {', '.join(LAYOUTS)}",
                file=file,
            )
        candidates = [LAYOUTS[layout]]
    else:
        candidates = list(LAYOUTS.values())
    matches = []
    errors: list[LayoutError] = []
    for lay in candidates:
        try:
            matches.append(match_layout(lay, header, mapping))
        except LayoutError as exc:
            errors.append(exc)
    good = [m for m in matches if m.ok]
    if good:
        # the most specific layout wins: the one that recognises the most columns
        return max(good, key=lambda m: (len(m.columns), -list(LAYOUTS).index(m.layout.name)))
    if not matches:
        # --map named a column the file lacks, or fields no layout has: say which
        raise LayoutError(str(errors[-1] if layout is None else errors[0]), file=file)
    best = max(matches, key=lambda m: (m.score, -len(m.missing)))
    shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
    raise LayoutError(
        f"the columns ({shown}) match no known layout. The closest is {best.layout.name}, "
        f"which is missing: {', '.join(best.missing)}. Rename those columns, or map them "
        f"with --layout {best.layout.name} --map FIELD=COLUMN (fields: "
        f"{', '.join(f.name for f in best.layout.required)})",
        file=file,
    )
