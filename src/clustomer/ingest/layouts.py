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
>>> detect_layout(["customer_id", "age", "city"]).layout.name
'customers'
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from clustomer.errors import LayoutError, mask_emails

Kind = Literal["text", "number", "timestamp"]
#: what a layout's rows are: order lines, or one row per customer (attributes, contacts)
Target = Literal["orders", "customers"]


@dataclass(frozen=True)
class Field:
    """One field of a layout: the header it is read from, its kind, whether required.

    A ``key`` field is an identifier (customer or order id): a value in scientific
    notation there (``7.21E+12``, what Excel makes of a long id) stops the import.
    """

    name: str
    header: str
    kind: Kind = "text"
    required: bool = True
    key: bool = False


@dataclass(frozen=True)
class Layout:
    """A known export layout."""

    name: str
    title: str
    fields: tuple[Field, ...]
    #: the field whose values are the line's timestamp (None for a customer table)
    time_field: str | None
    #: currency when the file has no currency column
    default_currency: str | None = None
    #: which normaliser turns its fields into rows (see ``norm_orders``, ``norm_customers``)
    normalizer: str = ""
    #: order lines, or one row per customer
    target: Target = "orders"
    #: every column that is not a field is kept as a customer attribute
    attributes: bool = False
    #: chosen only when no other layout fits and the file does not look like orders
    fallback: bool = False

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)


def _f(
    name: str, header: str, kind: Kind = "text", required: bool = True, key: bool = False
) -> Field:
    return Field(name, header, kind, required, key)


_RETAIL_FIELDS = ("invoice", "stock_code", "description", "quantity", "invoice_date")

LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "online_retail",
            "UCI Online Retail (InvoiceNo, StockCode, ..., CustomerID, Country)",
            (
                _f("invoice", "InvoiceNo", key=True),
                _f("stock_code", "StockCode"),
                _f("description", "Description"),
                _f("quantity", "Quantity", "number"),
                _f("invoice_date", "InvoiceDate", "timestamp"),
                _f("unit_price", "UnitPrice", "number"),
                _f("customer_id", "CustomerID", key=True),
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
                _f("invoice", "Invoice", key=True),
                _f("stock_code", "StockCode"),
                _f("description", "Description"),
                _f("quantity", "Quantity", "number"),
                _f("invoice_date", "InvoiceDate", "timestamp"),
                _f("unit_price", "Price", "number"),
                _f("customer_id", "Customer ID", key=True),
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
                _f("phone", "Phone", required=False),
            ),
            time_field="created_at",
            normalizer="shopify_orders",
        ),
        Layout(
            "generic",
            "Generic order table (customer_id, order_id, order_date, amount, ...)",
            (
                _f("customer_id", "customer_id", key=True),
                _f("order_id", "order_id", key=True),
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
                _f("phone", "phone", required=False),
            ),
            time_field="order_date",
            normalizer="generic",
        ),
        Layout(
            "woocommerce_orders",
            "WooCommerce order export plugin (order_id, order_date, status, order_total, ...)",
            (
                _f("order_id", "order_id", key=True),
                _f("order_date", "order_date", "timestamp"),
                _f("status", "status"),
                _f("order_total", "order_total", "number"),
                _f("customer_id", "customer_id", key=True),
                _f("customer_email", "customer_email"),
                _f("order_number", "order_number", required=False),
                _f("currency", "order_currency", required=False),
                _f("first_name", "billing_first_name", required=False),
                _f("last_name", "billing_last_name", required=False),
                _f("country", "billing_country", required=False),
                _f("phone", "billing_phone", required=False),
            ),
            time_field="order_date",
            normalizer="woocommerce_orders",
        ),
        Layout(
            "woocommerce_analytics",
            "WooCommerce Analytics orders download (Date, Order #, N. Revenue (formatted), ...)",
            (
                _f("order_date", "Date", "timestamp"),
                _f("order_id", "Order #", key=True),
                _f("revenue", "N. Revenue (formatted)", "number"),
                _f("status", "Status"),
                _f("customer", "Customer"),
                _f("customer_type", "Customer type", required=False),
                _f("products", "Product(s)", required=False),
                _f("items_sold", "Items sold", "number", required=False),
                _f("coupons", "Coupon(s)", required=False),
                _f("net_sales", "Net Sales", "number", required=False),
            ),
            time_field="order_date",
            normalizer="woocommerce_analytics",
        ),
        Layout(
            "stripe_payments",
            "Stripe payments export (id, Created (UTC), Amount, Currency, Status, ...)",
            (
                _f("charge_id", "id", key=True),
                _f("created", "Created (UTC)", "timestamp"),
                _f("amount", "Amount", "number"),
                _f("currency", "Currency"),
                _f("status", "Status"),
                _f("customer_id", "Customer ID", key=True),
                _f("amount_refunded", "Amount Refunded", "number", required=False),
                _f("refunded_at", "Refunded date (UTC)", required=False),
                _f("captured", "Captured", required=False),
                _f("customer_email", "Customer Email", required=False),
                _f("description", "Description", required=False),
            ),
            time_field="created",
            normalizer="stripe_payments",
        ),
        Layout(
            "shopify_customers",
            "Shopify customers export (Customer ID, Email, Total Spent, Total Orders, ...)",
            (
                _f("customer_id", "Customer ID", key=True),
                _f("email", "Email"),
                _f("total_spent", "Total Spent", "number"),
                _f("total_orders", "Total Orders", "number"),
                _f("accepts_marketing", "Accepts Email Marketing", required=False),
                _f("first_name", "First Name", required=False),
                _f("last_name", "Last Name", required=False),
                _f("country", "Default Address Country Code", required=False),
                _f("tags", "Tags", required=False),
                _f("phone", "Phone", required=False),
                _f("address_phone", "Default Address Phone", required=False),
            ),
            time_field=None,
            normalizer="shopify_customers",
            target="customers",
        ),
        Layout(
            "customers",
            "Customer attribute table (customer_id and any columns: age, income, city, ...)",
            (
                _f("customer_id", "customer_id", key=True),
                _f("email", "email", required=False),
                _f("first_name", "first_name", required=False),
                _f("last_name", "last_name", required=False),
                _f("country", "country", required=False),
                _f("marketing_consent", "marketing_consent", required=False),
                _f("phone", "phone", required=False),
            ),
            time_field=None,
            normalizer="customers",
            target="customers",
            attributes=True,
            fallback=True,
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
    if mapping:  # one column feeds one field: a mapping must not take another field's
        taken: dict[str, str] = {}
        for name, col in result.columns.items():
            if col in taken:
                raise LayoutError(
                    f"--map: column {col!r} would feed both {taken[col]} and {name}; "
                    "map each field to a column of its own"
                )
            taken[col] = name
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
    if layout is None:
        # a fallback layout (the plain customer table) only when nothing else fits and the
        # file does not look like an order file: one missing a column must say so
        firm = [m for m in good if not m.layout.fallback]
        good = firm or ([] if _looks_like_orders(header) else good)
        if not good:  # the closest layout to name is then an order layout
            matches = [m for m in matches if not m.layout.fallback] or matches
    if good:
        # the most specific layout wins: the one that recognises the most columns
        return max(good, key=lambda m: (len(m.columns), -list(LAYOUTS).index(m.layout.name)))
    if not matches:
        # --map named a column the file lacks, or fields no layout has: say which
        raise LayoutError(str(errors[-1] if layout is None else errors[0]), file=file)
    best = max(matches, key=lambda m: (m.score, not m.layout.fallback, -len(m.missing)))
    # headers as the file has them, but short and without e-mail addresses (a broken
    # header line may hold data)
    shown = mask_emails(
        ", ".join(h if len(h) <= 40 else h[:37] + "..." for h in header[:12])
        + (", ..." if len(header) > 12 else "")
    )
    raise LayoutError(
        f"the columns ({shown}) match no known layout. The closest is {best.layout.name}, "
        f"which is missing: {', '.join(best.missing)}. Rename those columns, or map them "
        f"with --layout {best.layout.name} --map FIELD=COLUMN (fields: "
        f"{', '.join(f.name for f in best.layout.required)})",
        file=file,
    )


#: fields that name the customer; the other required fields of an order layout say "orders"
_CUSTOMER_FIELDS = frozenset({"customer_id", "email", "customer_email", "customer"})


def _looks_like_orders(header: Sequence[str]) -> bool:
    """Whether the header has half or more of some order layout's required order columns
    (those that do not name the customer): an order date, an order id, an amount ...

    >>> _looks_like_orders(["customer_id", "order_id", "amount"])
    True
    >>> _looks_like_orders(["customer_id", "created_at", "age"])
    False
    """
    for lay in LAYOUTS.values():
        if lay.target != "orders":
            continue
        m = match_layout(lay, header)
        wanted = [f.name for f in m.layout.required if f.name not in _CUSTOMER_FIELDS]
        found = [name for name in wanted if name in m.columns]
        if wanted and len(found) >= len(wanted) / 2:
            return True
    return False
