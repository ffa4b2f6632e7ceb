"""The file layouts an audience can be written in, one entry each.

============== ================================================ ========================
format         columns                                          for
============== ================================================ ========================
mailchimp      Email Address, First Name, Last Name, Tags       Mailchimp contact import
klaviyo        Email, First Name, Last Name, segment, clv_12m,  Klaviyo list upload (the
               p_active_90d, top_products                       first column is the key)
customer-match Email (SHA-256 of the normalised address)        Google Ads Customer Match,
                                                                Meta custom audiences
csv            customer_key, segment, p_active_90d,             a spreadsheet, any tool
               expected_revenue_90d, clv_12m, email,
               first_name, last_name
============== ================================================ ========================

Every file is UTF-8 with a header row; dates are written ``YYYY-MM-DD``; money with two
decimals and probabilities with four; free text is escaped against CSV injection
(:func:`~clustomer.export.safety.escape_cell`). Google's Customer Match files name the
hashed-address column ``Email`` (support.google.com/google-ads/answer/7476159).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import InputError
from clustomer.export.safety import escape_cell

#: Decimals written for numeric columns (others: as Python prints them).
DECIMALS = {"clv_12m": 2, "expected_revenue_90d": 2, "p_active_90d": 4}

#: How many recommended products go into ``top_products``.
TOP_PRODUCTS = 3

#: The separator between product names in ``top_products``.
PRODUCT_SEPARATOR = " | "

Row = list[Any]


@dataclass(frozen=True)
class ExportContext:
    """What every row of one export shares."""

    segment_name: str
    #: customer key -> "A | B | C" (empty without recommendations)
    top_products: Mapping[str, str]


@dataclass(frozen=True)
class ExportFormat:
    """One file layout: its header, whether it needs an e-mail address, its rows."""

    name: str
    header: tuple[str, ...]
    needs_email: bool
    description: str
    #: (one prepared member as a dict, context) -> the row's raw values
    row: Callable[[Mapping[str, Any], ExportContext], Row]


def mailchimp_tag(segment_name: str) -> str:
    """The tag Mailchimp gets: ``clustomer: <segment>`` (commas would split the tag).

    >>> mailchimp_tag("Loyal, big spenders")
    'clustomer: Loyal  big spenders'
    """
    return f"clustomer: {segment_name.replace(',', ' ')}"


def _mailchimp(m: Mapping[str, Any], ctx: ExportContext) -> Row:
    return [m["email"], m["first_name"], m["last_name"], mailchimp_tag(ctx.segment_name)]


def _klaviyo(m: Mapping[str, Any], ctx: ExportContext) -> Row:
    return [
        m["email"],
        m["first_name"],
        m["last_name"],
        ctx.segment_name,
        m["clv_12m"],
        m["p_active_90d"],
        ctx.top_products.get(str(m["customer_key"]), ""),
    ]


def _customer_match(m: Mapping[str, Any], ctx: ExportContext) -> Row:
    return [m["email_sha256"]]


def _csv(m: Mapping[str, Any], ctx: ExportContext) -> Row:
    return [
        m["customer_key"],
        ctx.segment_name,
        m["p_active_90d"],
        m["expected_revenue_90d"],
        m["clv_12m"],
        m["email"],
        m["first_name"],
        m["last_name"],
    ]


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat(
            "mailchimp",
            ("Email Address", "First Name", "Last Name", "Tags"),
            True,
            "Mailchimp contact import, tagged with the segment",
            _mailchimp,
        ),
        ExportFormat(
            "klaviyo",
            (
                "Email",
                "First Name",
                "Last Name",
                "segment",
                "clv_12m",
                "p_active_90d",
                "top_products",
            ),
            True,
            "Klaviyo list upload with the segment, value and recommended products",
            _klaviyo,
        ),
        ExportFormat(
            "customer-match",
            ("Email",),
            True,
            "hashed e-mails (SHA-256) for Google Customer Match and Meta audiences",
            _customer_match,
        ),
        ExportFormat(
            "csv",
            (
                "customer_key",
                "segment",
                "p_active_90d",
                "expected_revenue_90d",
                "clv_12m",
                "email",
                "first_name",
                "last_name",
            ),
            False,
            "plain CSV: customer key, segment, value columns, contact where known",
            _csv,
        ),
    )
}


def get_format(name: str) -> ExportFormat:
    """The format called ``name`` (case-insensitive).

    >>> get_format("Customer-Match").header
    ('Email',)
    >>> get_format("excel")
    Traceback (most recent call last):
    ...
    clustomer.errors.InputError: unknown export format 'excel'; choose one of: mailchimp, klaviyo, customer-match, csv
    """  # noqa: E501
    found = FORMATS.get(name.strip().lower())
    if found is None:
        raise InputError(f"unknown export format {name!r}; choose one of: {', '.join(FORMATS)}")
    return found


def render_cell(value: Any, decimals: int | None = None) -> str:
    """One value as the text of a cell: empty for missing, dates ``YYYY-MM-DD``, numbers
    with ``decimals``, text escaped against CSV injection.

    >>> [render_cell(v) for v in (None, float("nan"), "=1+1", True, 3)]
    ['', '', "'=1+1", 'true', '3']
    >>> render_cell(-12.345, 2), render_cell(datetime(2024, 5, 1, 13, 0))
    ('-12.35', '2024-05-01')
    """
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, numbers.Integral) and decimals is None:
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return ""
        return f"{number:.{decimals}f}" if decimals is not None else repr(number)
    return escape_cell(str(value))


def render_rows(
    fmt: ExportFormat, members: pd.DataFrame, ctx: ExportContext
) -> Iterator[list[str]]:
    """The text rows of a file, one per member, in the members' order."""
    decimals = [DECIMALS.get(col) for col in fmt.header]
    for member in members.to_dict(orient="records"):
        values = fmt.row({str(k): v for k, v in member.items()}, ctx)
        yield [render_cell(v, d) for v, d in zip(values, decimals, strict=True)]


def top_products(recommendations: pd.DataFrame | None, n: int = TOP_PRODUCTS) -> dict[str, str]:
    """Each customer's first ``n`` recommended products, best first, as ``"A | B | C"``.

    ``recommendations`` has ``customer_key, rank, product_id, product_name`` (rank 1 is
    the best); a missing name falls back to the product id.

    Examples
    --------
    >>> recs = pd.DataFrame({"customer_key": ["C1", "C1", "C2"], "rank": [2, 1, 1],
    ...     "product_id": ["P2", "P1", "P9"], "product_name": ["Mug", "Tea", None]})
    >>> top_products(recs)
    {'C1': 'Tea | Mug', 'C2': 'P9'}
    """
    if recommendations is None or recommendations.empty:
        return {}
    missing = {"customer_key", "rank", "product_id", "product_name"} - set(recommendations)
    if missing:
        raise InputError(f"the recommendations lack the columns {', '.join(sorted(missing))}")
    recs = recommendations.sort_values(["customer_key", "rank"], kind="stable")
    names = recs["product_name"].where(recs["product_name"].notna(), recs["product_id"])
    recs = recs.assign(name=names.astype(str)).groupby("customer_key", sort=False).head(n)
    joined = recs.groupby("customer_key", sort=False)["name"].agg(PRODUCT_SEPARATOR.join)
    return {str(k): str(v) for k, v in joined.items()}
