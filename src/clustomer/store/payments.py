"""Payments that pay an order already imported: one purchase, counted once.

A payment export (Stripe) and a shop export (Shopify, WooCommerce, ...) of the same shop
hold the same purchase twice: the order, and the charge that paid it. Once the customers
are linked (:mod:`clustomer.store.identity`), :func:`dedupe_payments` takes the payment
out; :func:`restore_payments` puts every one back (before the links change).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd

from clustomer.store.db import Store

__all__ = [
    "DUPLICATE_PAYMENT_REASON",
    "MATCH_WINDOW_S",
    "PAYMENT_LAYOUTS",
    "dedupe_payments",
    "frame_view",
    "restore_payments",
]

#: The drop reason of a payment line that pays an order already imported.
DUPLICATE_PAYMENT_REASON = "payment of an order already imported"
#: Layouts whose lines are payments (of orders that a shop export may hold too).
PAYMENT_LAYOUTS = ("stripe_payments",)
#: A payment and an order are one purchase within this many seconds of each other.
MATCH_WINDOW_S = 24 * 3600


@contextmanager
def frame_view(store: Store, name: str, frame: pd.DataFrame) -> Iterator[None]:
    """A data frame visible to SQL as ``name`` for the duration of the block."""
    store.con.register(name, frame)
    try:
        yield
    finally:
        store.con.unregister(name)


_PURCHASES = """
    SELECT l.import_id, l.order_id, l.customer_key, round(fsum(l.revenue), 2) AS amount,
           min(l.ts) AS ts
    FROM order_lines l JOIN imports i USING (import_id)
    WHERE {payment} list_contains(?::VARCHAR[], i.layout) AND NOT l.is_return {more}
    GROUP BY l.import_id, l.order_id, l.customer_key
    HAVING round(fsum(l.revenue), 2) > 0
"""


def dedupe_payments(store: Store) -> dict[int, int]:
    """Take out the payment lines that pay an order of the same customer; rows per import.

    A payment (a line of a :data:`PAYMENT_LAYOUTS` import) and an order (of any other
    order import) are one purchase when they have the same unified customer, the same
    amount to the cent, and are at most 24 hours apart; each order and each payment is
    matched once (closest in time first). The payment's lines (and its refund lines) move
    to ``payment_duplicates`` and are counted in the *payment import's* account under
    :data:`DUPLICATE_PAYMENT_REASON`, whichever file came first: the workspace ends the
    same in either order. Call inside a transaction.
    """
    layouts = list(PAYMENT_LAYOUTS)
    kinds = store.rows(
        "SELECT DISTINCT list_contains(?::VARCHAR[], layout) FROM imports "
        "WHERE layout NOT IN ('shopify_customers', 'customers')",
        [layouts],
    )
    if len(kinds) < 2:  # payments and orders both needed
        return {}
    pay = _PURCHASES.format(payment="", more="")
    orders = _PURCHASES.format(
        payment="NOT",
        more="AND l.customer_key IN (SELECT customer_key FROM pay) AND NOT EXISTS ("
        "SELECT 1 FROM payment_duplicates d WHERE d.order_import_id = l.import_id "
        "AND d.matched_order_id = l.order_id)",
    )
    pairs = store.rows(
        f"""
        WITH pay AS ({pay}), ord AS ({orders})
        SELECT p.import_id, p.order_id, p.customer_key, o.import_id, o.order_id
        FROM pay p JOIN ord o ON o.customer_key = p.customer_key AND o.amount = p.amount
         AND abs(epoch(o.ts) - epoch(p.ts)) <= {MATCH_WINDOW_S}
        ORDER BY abs(epoch(o.ts) - epoch(p.ts)), p.ts, p.import_id, p.order_id,
                 o.import_id, o.order_id
        """,
        [layouts, layouts],
    )
    used_pay: set[tuple[Any, ...]] = set()
    used_order: set[tuple[Any, ...]] = set()
    chosen = []
    for pi, po, key, oi, oo in pairs:
        if (pi, po, key) in used_pay or (oi, oo) in used_order:
            continue
        used_pay.add((pi, po, key))
        used_order.add((oi, oo))
        chosen.append((pi, po, key, oi, oo))
    if not chosen:
        return {}
    frame = pd.DataFrame(chosen, columns=["pi", "po", "pk", "oi", "oo"]).astype(object)
    match = "l.import_id = m.pi AND l.order_id = m.po AND l.customer_key = m.pk"
    with frame_view(store, "clustomer_matches", frame):
        store.execute(
            "INSERT INTO payment_duplicates SELECT l.*, m.oi, m.oo FROM order_lines l "
            f"JOIN clustomer_matches m ON {match}"
        )
        counts = _account_moves(store, "clustomer_matches", +1)
        store.execute(f"DELETE FROM order_lines l USING clustomer_matches m WHERE {match}")
    return counts


def _account_moves(store: Store, matches: str, sign: int) -> dict[int, int]:
    """Move the matched payments' rows out of (+1) or back into (-1) their imports' kept."""
    stats = store.rows(
        f"""
        SELECT l.import_id, count(*) FILTER (WHERE NOT l.is_return),
               coalesce(fsum(l.revenue), 0), count(*) FILTER (WHERE l.is_return),
               count(DISTINCT l.order_id)
        FROM payment_duplicates l JOIN {matches} m
          ON l.import_id = m.pi AND l.order_id = m.po AND l.customer_key = m.pk
        GROUP BY 1
        """
    )
    counts: dict[int, int] = {}
    for import_id, rows, revenue, extra, orders in stats:
        store.execute(
            "UPDATE imports SET rows_kept = rows_kept - ?, revenue_kept = revenue_kept - ?, "
            "extra_lines = extra_lines - ?, orders = orders - ? WHERE import_id = ?",
            [sign * rows, sign * revenue, sign * extra, sign * orders, import_id],
        )
        store.execute(
            "INSERT INTO import_drops VALUES (?, ?, ?, ?) ON CONFLICT (import_id, reason) "
            "DO UPDATE SET rows = import_drops.rows + excluded.rows, "
            "revenue = coalesce(import_drops.revenue, 0) + excluded.revenue",
            [import_id, DUPLICATE_PAYMENT_REASON, sign * rows, sign * revenue],
        )
        counts[int(import_id)] = int(rows)
    store.execute(
        "DELETE FROM import_drops WHERE reason = ? AND rows = 0", [DUPLICATE_PAYMENT_REASON]
    )
    return counts


def restore_payments(store: Store) -> int:
    """Put every matched payment back into ``order_lines`` (and its import's account)."""
    frame = pd.DataFrame(
        store.rows(
            "SELECT DISTINCT import_id AS pi, order_id AS po, customer_key AS pk "
            "FROM payment_duplicates"
        ),
        columns=["pi", "po", "pk"],
        dtype=object,
    )
    if frame.empty:
        return 0
    with frame_view(store, "clustomer_matches", frame):
        _account_moves(store, "clustomer_matches", -1)
    n = int(store.scalar("SELECT count(*) FROM payment_duplicates"))
    store.execute(
        "INSERT INTO order_lines SELECT * EXCLUDE (order_import_id, matched_order_id) "
        "FROM payment_duplicates"
    )
    store.execute("DELETE FROM payment_duplicates")
    return n
