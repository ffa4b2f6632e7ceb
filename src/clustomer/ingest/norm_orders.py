"""The per-layout SQL that turns typed rows into order lines (one per input row).

Each normaliser is a SELECT over ``raw`` (the typed rows, with the line hash ``_h``, the
unparseable flag ``_bad`` and the scientific-notation-id flag ``_sci``) that yields one
row per input row with the columns of :data:`LINE_COLUMNS`. ``status_drop`` is the drop
reason a row's status gives (``voided order``, ``failed payment``, ``unpaid order``) or
NULL; ``refunded``, ``refund_ts`` and ``full_refund`` describe an order's refund, which
becomes one added negative line (:func:`refunds_sql`). E-mail and names go to the
``contacts`` table only, never to the lines.
"""

from __future__ import annotations

from collections.abc import Callable

from clustomer.errors import InputError
from clustomer.store.imports import KEPT

LINE_COLUMNS = (
    "customer_key, order_id, ts, product_id, product_name, quantity, unit_price, revenue, "
    "currency, is_return, is_cancellation, country, marketing_consent, email, first_name, "
    "last_name, phone, source_id, status_drop, refunded, refund_ts, full_refund, _h, _bad, _sci"
)


def trim_sql(col: str) -> str:
    """SQL for ``trim(col)`` that skips the copy when the value has no edge spaces.

    Trimming every value of a 10-million-line file costs about a second; most values
    need none. (A value with a space at either end is trimmed in full, Unicode spaces
    included; one with only a no-break space at an edge is left as it is.) Used for
    names, product ids and countries; customer and order ids always get the full
    ``trim``, so that ``'C1\u00a0'`` and ``'C1'`` stay one customer.

    >>> trim_sql("x")
    "CASE WHEN x LIKE ' %' OR x LIKE '% ' THEN trim(x) ELSE x END"
    """
    return f"CASE WHEN {col} LIKE ' %' OR {col} LIKE '% ' THEN trim({col}) ELSE {col} END"


CUSTOMER_ID = (
    "CASE WHEN contains({c}, '.') THEN nullif(regexp_replace(trim({c}), '\\.0+$', ''), '') "
    "ELSE nullif(trim({c}), '') END"  # keys: every edge space counts (no-break ones too)
)
CONSENT = (
    "CASE WHEN lower(trim(CAST({c} AS VARCHAR))) IN ('yes','true','1','y','subscribed') "
    "THEN true WHEN lower(trim(CAST({c} AS VARCHAR))) IN ('no','false','0','n','unsubscribed') "
    "THEN false END"
)
# contact details: an e-mail is kept (trimmed, lower-cased) only when it looks like one
EMAIL = (
    "CASE WHEN regexp_full_match(lower(trim(CAST({c} AS VARCHAR))), "
    "'[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN lower(trim(CAST({c} AS VARCHAR))) END"
)
# a secondary date (refunded at, cancelled at): Shopify's offset form, else ISO
LENIENT_TS = (
    "coalesce(TRY_CAST(try_strptime(trim(CAST({c} AS VARCHAR)), '%Y-%m-%d %H:%M:%S %z') "
    "AS TIMESTAMP), TRY_CAST(trim(CAST({c} AS VARCHAR)) AS TIMESTAMP))"
)
_NO_CONTACT = (
    "CAST(NULL AS VARCHAR) AS email, CAST(NULL AS VARCHAR) AS first_name, "
    "CAST(NULL AS VARCHAR) AS last_name, CAST(NULL AS VARCHAR) AS phone, "
    "CAST(NULL AS VARCHAR) AS source_id,"
)
# a phone number as written (normalised to E.164 later, in Python: see ingest/identities)
PHONE = "nullif(trim(CAST({c} AS VARCHAR)), '')"
_NO_PHONE_ID = "CAST(NULL AS VARCHAR) AS phone, CAST(NULL AS VARCHAR) AS source_id,"
_NO_REFUND = (
    "CAST(NULL AS DOUBLE) AS refunded, CAST(NULL AS TIMESTAMP) AS refund_ts, false AS full_refund,"
)
_NO_STATUS = "CAST(NULL AS VARCHAR) AS status_drop,"


def _status(col: str) -> str:
    """A status, lower-cased, ``wc-`` prefix and spaces made uniform (``on-hold``)."""
    return f"regexp_replace(regexp_replace(lower(trim({col})), '^wc-', ''), '[\\s_]+', '-', 'g')"


def _online_retail(cols: set[str]) -> str:
    return f"""
        SELECT {CUSTOMER_ID.format(c="customer_id")} AS customer_key,
               trim(invoice) AS order_id,
               invoice_date AS ts,
               {trim_sql("stock_code")} AS product_id,
               {trim_sql("description")} AS product_name,
               quantity, unit_price,
               quantity * unit_price AS revenue,
               CAST(NULL AS VARCHAR) AS currency,
               (starts_with(upper(ltrim(invoice)), 'C') OR quantity < 0) AS is_return,
               starts_with(upper(ltrim(invoice)), 'C') AS is_cancellation,
               nullif({trim_sql("country")}, '') AS country,
               CAST(NULL AS BOOLEAN) AS marketing_consent,
               {_NO_CONTACT}
               {_NO_STATUS}
               {_NO_REFUND}
               _h, _bad, _sci
        FROM raw
    """


def _generic(cols: set[str]) -> str:
    def opt(name: str, default: str = "NULL") -> str:
        return name if name in cols else default

    has_qp = {"quantity", "unit_price"} <= cols
    if "amount" not in cols and not has_qp:
        raise InputError(
            "a generic order table needs an amount column, or both quantity and unit_price "
            "(map yours with --map amount=COLUMN)"
        )
    revenue = (
        "coalesce(quantity * unit_price, amount)"
        if has_qp and "amount" in cols
        else "quantity * unit_price"
        if has_qp
        else "amount"
    )
    consent = CONSENT.format(c="marketing_consent") if "marketing_consent" in cols else "NULL"
    return f"""
        SELECT {CUSTOMER_ID.format(c="customer_id")} AS customer_key,
               nullif(trim(order_id), '') AS order_id,
               order_date AS ts,
               nullif({trim_sql(opt("product_id"))}, '') AS product_id,
               nullif({trim_sql(opt("product_name"))}, '') AS product_name,
               CAST({opt("quantity")} AS DOUBLE) AS quantity,
               CAST({opt("unit_price")} AS DOUBLE) AS unit_price,
               {revenue} AS revenue,
               upper(nullif({trim_sql(opt("currency"))}, '')) AS currency,
               {revenue} < 0 AS is_return,
               false AS is_cancellation,
               nullif({trim_sql(opt("country"))}, '') AS country,
               CAST({consent} AS BOOLEAN) AS marketing_consent,
               {EMAIL.format(c=opt("email"))} AS email,
               nullif({trim_sql(opt("first_name"))}, '') AS first_name,
               nullif({trim_sql(opt("last_name"))}, '') AS last_name,
               {PHONE.format(c=opt("phone"))} AS phone,
               CAST(NULL AS VARCHAR) AS source_id,
               {_NO_STATUS}
               {_NO_REFUND}
               _h, _bad, _sci
        FROM raw
    """


def _shopify(cols: set[str]) -> str:
    def opt(name: str, prefix: str = "") -> str:
        return f"{prefix}{name}" if name in cols else "NULL"

    sku = f"coalesce(nullif(trim({opt('sku', 'g.')}), ''), trim(g.product_name))"
    return f"""
        SELECT o.email AS customer_key,
               nullif(trim(g.order_name), '') AS order_id,
               coalesce(g.created_at, o.created_at) AS ts,
               {sku} AS product_id,
               trim(g.product_name) AS product_name,
               g.quantity, g.unit_price,
               g.quantity * g.unit_price AS revenue,
               o.currency,
               false AS is_return,
               false AS is_cancellation,
               nullif(trim(o.country), '') AS country,
               {CONSENT.format(c="o.consent")} AS marketing_consent,
               o.email,
               nullif(trim(split_part(o.billing_name, ' ', 1)), '') AS first_name,
               nullif(trim(substr(o.billing_name, length(split_part(o.billing_name, ' ', 1)) + 2)),
                      '') AS last_name,
               {PHONE.format(c="o.phone")} AS phone,
               CAST(NULL AS VARCHAR) AS source_id,
               CASE WHEN o.financial_status = 'voided' THEN 'voided order' END AS status_drop,
               o.refunded,
               {LENIENT_TS.format(c="o.refund_at")} AS refund_ts,
               coalesce(o.financial_status = 'refunded', false) AS full_refund,
               g._h, g._bad, g._sci
        FROM raw g
        LEFT JOIN (  -- order-level fields sit on the first row of each order only
            SELECT order_name,
                   max(nullif(lower(trim(email)), '')) AS email,
                   max(nullif(lower(trim(financial_status)), '')) AS financial_status,
                   max(upper(nullif(trim(currency), ''))) AS currency,
                   min(created_at) AS created_at,
                   max({opt("refunded_amount")}) AS refunded,
                   max({opt("cancelled_at")}) AS refund_at,
                   max({opt("accepts_marketing")}) AS consent,
                   max({opt("billing_country")}) AS country,
                   max(trim({opt("billing_name")})) AS billing_name,
                   max(nullif(trim({opt("phone")}), '')) AS phone
            FROM raw GROUP BY order_name
        ) o ON o.order_name IS NOT DISTINCT FROM g.order_name
    """


def _woocommerce_orders(cols: set[str]) -> str:
    def opt(name: str) -> str:
        return name if name in cols else "NULL"

    cid = CUSTOMER_ID.format(c="customer_id")
    status = _status("status")
    return f"""
        SELECT CASE WHEN {cid} IS NULL OR {cid} = '0' THEN {EMAIL.format(c="customer_email")}
                    ELSE {cid} END AS customer_key,  -- guests (customer_id 0): the e-mail
               nullif(trim(order_id), '') AS order_id,
               order_date AS ts,
               CAST(NULL AS VARCHAR) AS product_id,
               CAST(NULL AS VARCHAR) AS product_name,
               CAST(NULL AS DOUBLE) AS quantity,
               CAST(NULL AS DOUBLE) AS unit_price,
               order_total AS revenue,
               upper(nullif(trim({opt("currency")}), '')) AS currency,
               order_total < 0 AS is_return,
               false AS is_cancellation,
               nullif(upper(trim({opt("country")})), '') AS country,
               CAST(NULL AS BOOLEAN) AS marketing_consent,
               {EMAIL.format(c="customer_email")} AS email,
               nullif({trim_sql(opt("first_name"))}, '') AS first_name,
               nullif({trim_sql(opt("last_name"))}, '') AS last_name,
               {PHONE.format(c=opt("phone"))} AS phone,
               CASE WHEN {cid} <> '0' THEN 'woocommerce:' || {cid} END AS source_id,
               CASE WHEN {status} = 'failed' THEN 'failed payment'
                    WHEN {status} IN ('cancelled', 'canceled', 'pending', 'pending-payment',
                                      'checkout-draft', 'draft', 'trash') THEN 'unpaid order'
               END AS status_drop,
               CAST(NULL AS DOUBLE) AS refunded,
               CAST(NULL AS TIMESTAMP) AS refund_ts,
               coalesce({status} = 'refunded', false) AS full_refund,
               _h, _bad, _sci
        FROM raw
    """


def _woocommerce_analytics(cols: set[str]) -> str:
    def opt(name: str) -> str:
        return name if name in cols else "NULL"

    # the export names the customer, nothing else: the key is a digest of the name (so
    # the name itself sits in contacts only), and the name is split into first and last
    name = "nullif(regexp_replace(trim(customer), '\\s+', ' ', 'g'), '')"
    products = (
        f"nullif(array_to_string(list_filter(list_transform(string_split({opt('products')}, "
        "','), lambda x: trim(regexp_replace(x, '^\\s*[0-9]+\\s*[×xX]\\s*', ''))), "
        "lambda x: x <> ''), ', '), '')"
    )
    revenue = "coalesce(revenue, net_sales)" if "net_sales" in cols else "revenue"
    status = _status("status")
    return f"""
        SELECT 'wc-' || left(sha256(lower({name})), 16) AS customer_key,
               nullif(trim(order_id), '') AS order_id,
               order_date AS ts,
               CAST(NULL AS VARCHAR) AS product_id,
               {products} AS product_name,
               CAST({opt("items_sold")} AS DOUBLE) AS quantity,
               CAST(NULL AS DOUBLE) AS unit_price,
               {revenue} AS revenue,
               CAST(NULL AS VARCHAR) AS currency,
               {revenue} < 0 AS is_return,
               false AS is_cancellation,
               CAST(NULL AS VARCHAR) AS country,
               CAST(NULL AS BOOLEAN) AS marketing_consent,
               CAST(NULL AS VARCHAR) AS email,
               nullif(split_part({name}, ' ', 1), '') AS first_name,
               nullif(trim(substr({name}, length(split_part({name}, ' ', 1)) + 2)), '')
                   AS last_name,
               {_NO_PHONE_ID}
               CASE WHEN {status} = 'failed' THEN 'failed payment'
                    WHEN {status} IN ('cancelled', 'canceled', 'pending', 'pending-payment',
                                      'checkout-draft', 'draft', 'trash') THEN 'unpaid order'
               END AS status_drop,
               {_NO_REFUND}
               _h, _bad, _sci
        FROM raw
    """


def _stripe_payments(cols: set[str]) -> str:
    def opt(name: str) -> str:
        return name if name in cols else "NULL"

    status = _status("status")
    uncaptured = f"lower(trim({opt('captured')})) IN ('false', 'no', '0')"
    return f"""
        SELECT coalesce(nullif(trim(customer_id), ''), {EMAIL.format(c=opt("customer_email"))})
                   AS customer_key,
               nullif(trim(charge_id), '') AS order_id,
               created AS ts,
               CAST(NULL AS VARCHAR) AS product_id,
               nullif({trim_sql(opt("description"))}, '') AS product_name,
               CAST(NULL AS DOUBLE) AS quantity,
               CAST(NULL AS DOUBLE) AS unit_price,
               amount AS revenue,
               upper(nullif(trim(currency), '')) AS currency,
               amount < 0 AS is_return,
               false AS is_cancellation,
               CAST(NULL AS VARCHAR) AS country,
               CAST(NULL AS BOOLEAN) AS marketing_consent,
               {EMAIL.format(c=opt("customer_email"))} AS email,
               CAST(NULL AS VARCHAR) AS first_name,
               CAST(NULL AS VARCHAR) AS last_name,
               CAST(NULL AS VARCHAR) AS phone,
               'stripe:' || nullif(trim(customer_id), '') AS source_id,
               CASE WHEN {status} = 'failed' THEN 'failed payment'
                    WHEN {status} IN ('canceled', 'cancelled', 'uncaptured', 'incomplete',
                                      'requires-payment-method', 'requires-action',
                                      'requires-confirmation', 'pending')
                         OR coalesce({uncaptured}, false) THEN 'unpaid order'
               END AS status_drop,
               CAST({opt("amount_refunded")} AS DOUBLE) AS refunded,
               {LENIENT_TS.format(c=opt("refunded_at"))} AS refund_ts,
               coalesce({status} = 'refunded', false) AS full_refund,
               _h, _bad, _sci
        FROM raw
    """


#: normaliser name (``Layout.normalizer``) -> the SELECT for the columns it has
ORDER_NORMALIZERS: dict[str, Callable[[set[str]], str]] = {
    "online_retail": _online_retail,
    "generic": _generic,
    "shopify_orders": _shopify,
    "woocommerce_orders": _woocommerce_orders,
    "woocommerce_analytics": _woocommerce_analytics,
    "stripe_payments": _stripe_payments,
}


def refunds_sql() -> str:
    """One negative line per refunded order (added lines, not input rows).

    A refund never takes an order below zero (Shopify's refunded amount includes
    shipping and taxes, which line items do not), and an order whose status says
    ``refunded`` is refunded whole. The line is dated when the refund was, if known.
    """
    return f"""
        SELECT customer_key, order_id, coalesce(refund_ts, ts) AS ts,
               CAST(NULL AS VARCHAR) AS product_id, 'Refund' AS product_name,
               CAST(NULL AS DOUBLE) AS quantity, CAST(NULL AS DOUBLE) AS unit_price,
               -CASE WHEN full_refund THEN bought ELSE least(refunded, bought) END AS revenue,
               currency, true AS is_return
        FROM (
            SELECT customer_key, order_id, min(ts) AS ts, any_value(currency) AS currency,
                   sum(revenue) AS bought, bool_or(full_refund) AS full_refund,
                   coalesce(max(refunded) FILTER (WHERE isfinite(refunded)), 0) AS refunded,
                   max(refund_ts) AS refund_ts
            FROM stage.lines
            WHERE {KEPT}
            GROUP BY customer_key, order_id
        )
        WHERE bought > 0 AND (refunded > 0 OR full_refund)
    """
