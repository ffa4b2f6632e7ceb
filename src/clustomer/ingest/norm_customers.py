"""Customer tables (one row per customer): keys, consent, contacts and attributes.

A customer table adds no order lines. Each row is kept (one customer) or dropped with
one reason: ``unparseable value``, ``malformed line``, ``missing customer``,
``duplicate line`` (the same row again), or ``repeated customer`` (an earlier row for a
customer that appears again: the last row wins).

Attributes are stored in ``customers.attributes`` as a JSON object, the way
:func:`clustomer.features.sets._demographic_columns` reads them: a column is stored as
numbers when every value in it is a number (``34``, ``1.299,50``, ``$45,000``), else as
text; empty cells are left out, so a later table updates only what it states.
"""

from __future__ import annotations

from clustomer.ingest.norm_orders import CONSENT, CUSTOMER_ID, EMAIL, PHONE, trim_sql
from clustomer.ingest.numbers import lenient_number, strict_number
from clustomer.ingest.rawfile import RawFile, quoted, sql_str
from clustomer.store.db import Store

#: the columns of ``stage.lines`` for a customer table (plus the raw attribute columns)
CUSTOMER_COLUMNS = (
    "customer_key, country, marketing_consent, email, first_name, last_name, phone, source_id, "
    "fixed_attrs, "
    "_h, _bad, _sci"
)


def _json_number(name: str, value: str) -> str:
    return f"CASE WHEN isfinite({value}) THEN '\"{name}\":' || to_json(CAST({value} AS DOUBLE)) END"


def _customers(raw: RawFile) -> str:
    cols = set(raw.match.columns)

    def opt(name: str) -> str:
        return name if name in cols else "NULL"

    consent = CONSENT.format(c="marketing_consent") if "marketing_consent" in cols else "NULL"
    extra = "".join(f", {quoted(c)}" for c in raw.attributes)
    return f"""
        SELECT {CUSTOMER_ID.format(c="customer_id")} AS customer_key,
               nullif(upper(trim({opt("country")})), '') AS country,
               CAST({consent} AS BOOLEAN) AS marketing_consent,
               {EMAIL.format(c=opt("email"))} AS email,
               nullif({trim_sql(opt("first_name"))}, '') AS first_name,
               nullif({trim_sql(opt("last_name"))}, '') AS last_name,
               {PHONE.format(c=opt("phone"))} AS phone,
               CAST(NULL AS VARCHAR) AS source_id,
               CAST([] AS VARCHAR[]) AS fixed_attrs,
               _h, _bad, _sci{extra}
        FROM raw
    """


def _shopify_customers(raw: RawFile) -> str:
    cols = set(raw.match.columns)

    def opt(name: str) -> str:
        return name if name in cols else "NULL"

    # Shopify writes the id with a leading apostrophe so that spreadsheets keep it text
    shopify_id = "nullif(ltrim(trim(customer_id), ''''), '')"
    tags = (
        f"list_filter(list_transform(string_split({opt('tags')}, ','), lambda t: trim(t)), "
        "lambda t: t <> '')"
    )
    return f"""
        SELECT coalesce({EMAIL.format(c="email")}, {shopify_id}) AS customer_key,
               nullif(upper(trim({opt("country")})), '') AS country,
               {CONSENT.format(c=opt("accepts_marketing"))} AS marketing_consent,
               {EMAIL.format(c="email")} AS email,
               nullif({trim_sql(opt("first_name"))}, '') AS first_name,
               nullif({trim_sql(opt("last_name"))}, '') AS last_name,
               coalesce({PHONE.format(c=opt("phone"))}, {PHONE.format(c=opt("address_phone"))})
                   AS phone,
               'shopify:' || {shopify_id} AS source_id,
               [{_json_number("total_spent", "total_spent")},
                {_json_number("total_orders", "total_orders")},
                CASE WHEN len({tags}) > 0 THEN '"tags":' || to_json({tags}) END] AS fixed_attrs,
               _h, _bad OR NOT coalesce(isfinite(total_spent), true)
                   OR NOT coalesce(isfinite(total_orders), true) AS _bad, _sci
        FROM raw
    """


CUSTOMER_NORMALIZERS = {"customers": _customers, "shopify_customers": _shopify_customers}


def scan_customers_sql(raw: RawFile, raw_select: str) -> str:
    """The one scan of a customer table into ``stage.lines``, with the drop reason."""
    body = CUSTOMER_NORMALIZERS[raw.layout.normalizer](raw)
    return f"""
        CREATE TABLE stage.lines AS
        WITH raw AS ({raw_select}),
        norm AS ({body})
        SELECT *,
            CASE
                WHEN _bad THEN 'unparseable value'
                WHEN customer_key IS NULL THEN 'missing customer'
            END AS drop_reason
        FROM norm
    """


def mark_repeats(store: Store) -> None:
    """Exact copies are ``duplicate line``; other earlier rows of a customer who appears
    again are ``repeated customer`` (the last row wins). Both go to ``stage.dups``."""
    store.execute(
        """
        CREATE TABLE stage.dups AS
        SELECT rid, 'duplicate line' AS reason FROM (
            SELECT rowid AS rid,
                   row_number() OVER (
                       PARTITION BY _h, customer_key, country, marketing_consent, email,
                                    first_name, last_name
                       ORDER BY rowid) AS copy
            FROM stage.lines WHERE drop_reason IS NULL
        ) WHERE copy > 1
        """
    )
    store.execute(
        """
        INSERT INTO stage.dups
        SELECT rid, 'repeated customer' FROM (
            SELECT rowid AS rid,
                   row_number() OVER (PARTITION BY customer_key ORDER BY rowid DESC) AS n
            FROM stage.lines
            WHERE drop_reason IS NULL AND rowid NOT IN (SELECT rid FROM stage.dups)
        ) WHERE n > 1
        """
    )


def build_attributes(store: Store, raw: RawFile) -> list[str]:
    """``stage.attrs``: each kept row's attributes as a JSON object (or NULL).

    Returns the names of the attributes stored as numbers.
    """
    o = raw.options
    parsed: dict[str, str] = {}
    for col in raw.attributes:
        q = quoted(col)
        parsed[col] = (
            strict_number(q, o.get("decimal_separator", "."), o.get("thousands"), True)
            if raw.format == "csv"
            else lenient_number(q)
        )
    numeric: list[str] = []
    if parsed:
        checks = ", ".join(
            f"bool_and(nullif(trim({quoted(c)}), '') IS NULL "
            f"OR coalesce(isfinite({expr}), false)), count(nullif(trim({quoted(c)}), ''))"
            for c, expr in parsed.items()
        )
        row = store.rows(f"SELECT {checks} FROM stage.lines WHERE drop_reason IS NULL")[0]
        for i, col in enumerate(parsed):
            if row[2 * i] and row[2 * i + 1]:
                numeric.append(col)
    fragments = ["fixed_attrs"]
    # in the order of their names, whatever the order of the columns
    for col, name in sorted(raw.attributes.items(), key=lambda item: item[1]):
        q = quoted(col)
        if col in numeric:
            frag = _json_number(name, parsed[col])
        else:
            frag = (
                f"CASE WHEN nullif(trim({q}), '') IS NOT NULL "
                f"THEN {sql_str(f'{chr(34)}{name}{chr(34)}:')} || to_json(trim({q})) END"
            )
        fragments.append(f"[{frag}]")
    listed = " || ".join(fragments)
    store.execute(
        f"""
        CREATE TABLE stage.attrs AS
        SELECT rid, CASE WHEN len(parts) > 0
                         THEN '{{' || array_to_string(parts, ',') || '}}' END AS attributes
        FROM (
            SELECT rowid AS rid, list_filter({listed}, lambda x: x IS NOT NULL) AS parts
            FROM stage.lines
        )
        """
    )
    return [raw.attributes[c] for c in numeric]
