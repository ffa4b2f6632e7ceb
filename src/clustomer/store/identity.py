"""One customer across sources: link the keys of one person, explain and undo the links.

Every reader of the workspace reads ``order_lines.customer_key``; linking therefore
*rewrites* that key to the person's unified key, and keeps what it takes to explain and
undo it (tables of schema step 6, see :mod:`clustomer.store.migrations`):

* ``customer_sources``: the identifiers each *source key* (a key as imported) came with:
  e-mail and phone pseudonyms, and the shop's own customer id (``shopify:…``,
  ``stripe:cus_…``, ``woocommerce:17``). Two source keys with one identifier in common
  are one person (union-find, so links are transitive).
* The unified key of a group is its source key first seen (smallest import id, then the
  smallest key): it does not change when a new key joins, and when two groups meet, the
  older group's key wins.
* ``identity_links``: every source key that belongs to another key, with the rule that
  linked it (``"customer id"``, ``"email"``, ``"phone"``, in that order of preference)
  and its evidence (the id, or the first 12 hex digits of the pseudonym: never a raw
  address).
* ``line_sources``: the source key of each rewritten line (by import and order), so that
  :func:`unlink` restores it; ``identity_overrides``: keys unlinked by hand, never
  linked automatically again.
* ``payment_duplicates``: payment lines (Stripe) that pay an order of the same customer
  already in a shop export (:func:`dedupe_payments`).

Examples
--------
>>> store = Store(":memory:")
>>> store.execute("INSERT INTO customer_sources VALUES ('a@x.com', 'email', 'h1', 'a@x.com', 1),"
...               " ('cus_1', 'email', 'h1', 'cus_1', 2)")
>>> relink(store)
1
>>> store.rows("SELECT source_key, customer_key, rule FROM identity_links")
[('cus_1', 'a@x.com', 'email')]
>>> store.close()
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from clustomer.errors import InputError
from clustomer.store.db import Store
from clustomer.store.payments import (
    DUPLICATE_PAYMENT_REASON,
    PAYMENT_LAYOUTS,
    dedupe_payments,
    frame_view,
    restore_payments,
)

__all__ = [
    "DUPLICATE_PAYMENT_REASON",
    "PAYMENT_LAYOUTS",
    "dedupe_payments",
    "identities",
    "relink",
    "restore_payments",
    "source_keys_of",
    "unified_keys_of",
    "unlink",
]

#: Rules, most convincing first (the one shown when a key shares several identifiers).
_RULES = ("customer id", "email", "phone")


class _Groups:
    """Union-find over source keys."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _evidence(kind: str, value: str) -> str:
    return value if kind == "customer id" else f"pseudonym {value[:12]}"


def relink(store: Store, import_id: int | None = None) -> int:
    """Recompute every group and bring the workspace in line; return the links changed.

    Call inside the transaction that changed ``customer_sources`` (an import) or
    ``identity_overrides`` (:func:`unlink`). Cheap when no identifier is shared.
    """
    overrides = sorted(k for (k,) in store.rows("SELECT customer_key FROM identity_overrides"))
    shared = store.rows(
        """
        SELECT kind, value, list(DISTINCT source_key ORDER BY source_key)
        FROM customer_sources WHERE NOT list_contains(?::VARCHAR[], source_key)
        GROUP BY kind, value HAVING count(DISTINCT source_key) > 1
        """,
        [overrides],
    )
    groups = _Groups()
    seen: dict[str, set[tuple[int, str, str]]] = {}
    for kind, value, keys in shared:
        for k in keys:
            groups.union(keys[0], k)
            seen.setdefault(k, set()).add((_RULES.index(kind), kind, value))
    first = dict(
        store.rows(
            "SELECT source_key, min(import_id) FROM customer_sources "
            "WHERE list_contains(?::VARCHAR[], source_key) GROUP BY 1",
            [sorted(seen)],
        )
    )
    members: dict[str, list[str]] = {}
    for k in seen:
        members.setdefault(groups.find(k), []).append(k)
    target: dict[str, str] = {}
    for keys in members.values():
        unified = min(keys, key=lambda k: (first.get(k, 1 << 30), k))
        target.update({k: unified for k in keys if k != unified})
    links = []
    for k, t in sorted(target.items()):
        _, kind, value = min(seen[k])
        links.append((k, t, kind, _evidence(kind, value)))
    frame = pd.DataFrame(links, columns=["source_key", "target", "rule", "evidence"], dtype=object)
    before = set(store.rows("SELECT source_key, customer_key FROM identity_links"))
    with frame_view(store, "clustomer_links", frame):
        _merge_rows(store, target, members)
        _relink_lines(store)
        store.execute(
            "UPDATE customer_sources SET customer_key = coalesce(m.target, s.source_key) "
            "FROM customer_sources s LEFT JOIN clustomer_links m ON m.source_key = s.source_key "
            "WHERE customer_sources.source_key = s.source_key AND customer_sources.kind = s.kind "
            "AND customer_sources.value = s.value "
            "AND customer_sources.customer_key IS DISTINCT FROM coalesce(m.target, s.source_key)"
        )
        store.execute(
            "DELETE FROM identity_links WHERE NOT EXISTS (SELECT 1 FROM clustomer_links m "
            "WHERE m.source_key = identity_links.source_key "
            "AND m.target = identity_links.customer_key)"
        )
        store.execute(
            "INSERT INTO identity_links SELECT source_key, target, rule, evidence, ?, now() "
            "FROM clustomer_links m WHERE NOT EXISTS (SELECT 1 FROM identity_links l "
            "WHERE l.source_key = m.source_key)",
            [import_id],
        )
    return len(before ^ {(k, t) for k, t, _, _ in links})


def _relink_lines(store: Store) -> None:
    """Rewrite ``customer_key`` of the lines whose source key now has another target."""
    for table in ("order_lines", "payment_duplicates"):
        # the lines of a key about to move that are its own (not recorded as another's)
        store.execute(
            f"""
            INSERT INTO line_sources
            SELECT DISTINCT l.import_id, l.order_id, l.customer_key, l.customer_key
            FROM {table} l JOIN clustomer_links m ON m.source_key = l.customer_key
            WHERE NOT EXISTS (SELECT 1 FROM line_sources x WHERE x.import_id = l.import_id
                              AND x.order_id = l.order_id AND x.customer_key = l.customer_key)
            """
        )
    moves = """
        SELECT ls.import_id, ls.order_id, ls.source_key, ls.customer_key AS current,
               coalesce(m.target, ls.source_key) AS target
        FROM line_sources ls LEFT JOIN clustomer_links m ON m.source_key = ls.source_key
        WHERE ls.customer_key <> coalesce(m.target, ls.source_key)
    """
    for table in ("order_lines", "payment_duplicates"):
        store.execute(
            f"UPDATE {table} SET customer_key = d.target FROM ({moves}) d "
            f"WHERE {table}.import_id = d.import_id AND {table}.order_id = d.order_id "
            f"AND {table}.customer_key = d.current"
        )
    store.execute(
        f"UPDATE line_sources SET customer_key = d.target FROM ({moves}) d "
        "WHERE line_sources.import_id = d.import_id AND line_sources.order_id = d.order_id "
        "AND line_sources.source_key = d.source_key"
    )
    store.execute("DELETE FROM line_sources WHERE source_key = customer_key")


def _merge_rows(store: Store, target: dict[str, str], members: dict[str, list[str]]) -> None:
    """One ``customers`` and one ``contacts`` row per unified key.

    The rows of a group's keys and of their previous unified keys are combined: the
    newest non-null value of each field wins, a refusal of marketing anywhere wins, and
    attributes are merged (newer over older). Rows of keys that now belong to another
    key are deleted; a previous unified key that stands alone again keeps its row.
    """
    moved = sorted(target)
    previous = dict(
        store.rows(
            "SELECT DISTINCT source_key, customer_key FROM customer_sources "
            "WHERE list_contains(?::VARCHAR[], source_key)",
            [sorted({k for keys in members.values() for k in keys})],
        )
    )
    plans: dict[str, set[str]] = {}
    for keys in members.values():
        unified = target.get(keys[0], keys[0])
        plans[unified] = set(keys) | {previous[k] for k in keys if k in previous}
    if not plans:
        return
    _merge_table(store, "customers", plans, moved, _merge_customer)
    _merge_table(store, "contacts", plans, moved, _merge_contact)


def _merge_table(
    store: Store,
    table: str,
    plans: dict[str, set[str]],
    moved: list[str],
    merge: Any,
) -> None:
    wanted = sorted({k for keys in plans.values() for k in keys})
    frame = store.df(
        f"SELECT * FROM {table} WHERE list_contains(?::VARCHAR[], customer_key)", [wanted]
    )
    if frame.empty:
        return
    by_key = {str(r["customer_key"]): r for r in frame.to_dict("records")}
    merged = []
    for unified, keys in sorted(plans.items()):
        rows = [by_key[k] for k in sorted(keys) if k in by_key]
        if rows:
            merged.append(merge(unified, rows))
    out = pd.DataFrame(merged, columns=list(frame.columns)).astype(object)
    out = out.where(out.notna(), None)
    gone = sorted(set(moved) | set(plans))
    with frame_view(store, "clustomer_merged", out):
        store.execute(
            f"DELETE FROM {table} WHERE list_contains(?::VARCHAR[], customer_key)", [gone]
        )
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        store.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM clustomer_merged")


def _newest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Oldest first (by ``updated_at``, then import id)."""

    def when(r: dict[str, Any]) -> tuple[float, int]:
        t = r.get("updated_at")
        stamp = pd.Timestamp(t).timestamp() if t is not None and not pd.isna(t) else 0.0
        imp = r.get("import_id", r.get("first_import_id"))
        return stamp, int(imp) if imp is not None and not pd.isna(imp) else 0

    return sorted(rows, key=when)


def _last(rows: list[dict[str, Any]], col: str) -> Any:
    for r in reversed(rows):
        v = r.get(col)
        if v is not None and not (isinstance(v, float) and pd.isna(v)):
            return v
    return None


def _merge_customer(unified: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = _newest(rows)
    consents = [r["marketing_consent"] for r in rows if r["marketing_consent"] in (True, False)]
    attributes: dict[str, Any] = {}
    for r in rows:
        if isinstance(r.get("attributes"), str):
            attributes.update(json.loads(r["attributes"]))
    firsts = [int(r["first_import_id"]) for r in rows if not pd.isna(r["first_import_id"])]
    return {
        "customer_key": unified,
        "country": _last(rows, "country"),
        "marketing_consent": False if False in consents else (True if consents else None),
        "attributes": json.dumps(attributes) if attributes else None,
        "first_import_id": min(firsts) if firsts else None,
        "updated_at": _last(rows, "updated_at"),
    }


def _merge_contact(unified: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    rows = _newest(rows)
    out = dict(rows[-1])
    out["customer_key"] = unified
    for a, b in (("email", "email_hash"), ("phone", "phone_hash")):
        pair = next((r for r in reversed(rows) if r.get(a) or r.get(b)), None)
        out[a], out[b] = (pair.get(a), pair.get(b)) if pair else (None, None)
    for col in ("first_name", "last_name"):
        out[col] = _last(rows, col)
    return out


def _mapped(store: Store, values: list[str], given: str, wanted: str) -> set[str]:
    """The ``wanted`` column of every row of the identity tables whose ``given`` column
    is one of ``values`` (``given``/``wanted``: ``source_key`` or ``customer_key``)."""
    found: set[str] = set()
    for table in ("identity_links", "line_sources", "customer_sources"):
        found |= {
            str(k)
            for (k,) in store.rows(
                f"SELECT DISTINCT {wanted} FROM {table} WHERE list_contains(?::VARCHAR[], {given})",
                [sorted(set(values))],
            )
        }
    return found


def unified_keys_of(store: Store, source_keys: list[str]) -> set[str]:
    """The keys that these source keys (keys as imported) now belong to.

    >>> store = Store(":memory:")
    >>> unified_keys_of(store, ["cus_1"])
    set()
    >>> store.close()
    """
    return _mapped(store, source_keys, "source_key", "customer_key")


def source_keys_of(store: Store, keys: list[str]) -> set[str]:
    """Every source key that now belongs to one of these (unified) keys.

    >>> store = Store(":memory:")
    >>> source_keys_of(store, ["C1"])
    set()
    >>> store.close()
    """
    return _mapped(store, keys, "customer_key", "source_key")


# -- undo, and the unified view ----------------------------------------------------------
def unlink(store: Store, source_key: str) -> dict[str, Any]:
    """Give ``source_key`` its own lines back, and never link it automatically again.

    Payments taken out as duplicates are put back and matched again under the new links.
    The source key's customer and contact rows start as a copy of the unified ones.

    Raises
    ------
    InputError
        ``source_key`` is not linked to any other key.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO customer_sources VALUES ('a', 'email', 'h', 'a', 1),"
    ...               " ('b', 'email', 'h', 'b', 2)")
    >>> relink(store)
    1
    >>> unlink(store, "b")["customer_key"]
    'a'
    >>> store.scalar("SELECT count(*) FROM identity_links")
    0
    >>> store.close()
    """
    key = source_key.strip()
    row = store.rows("SELECT customer_key, rule FROM identity_links WHERE source_key = ?", [key])
    members = store.scalar("SELECT count(*) FROM identity_links WHERE customer_key = ?", [key])
    if not row and not members:
        raise InputError(
            "this key is not linked to another customer (clustomer customers --merged "
            "lists the linked ones)"
        )
    unified = str(row[0][0]) if row else key
    with store.transaction():
        store.execute(
            "INSERT INTO identity_overrides VALUES (?, 'unlinked by hand', now()) "
            "ON CONFLICT DO NOTHING",
            [key],
        )
        restored = restore_payments(store)
        relink(store)
        for table in ("customers", "contacts"):  # the key's own row, a copy of the unified
            cols = [
                c
                for (c,) in store.rows(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                    "AND table_catalog = current_database() ORDER BY ordinal_position",
                    [table],
                )
                if c != "customer_key"
            ]
            listed = ", ".join(f'"{c}"' for c in cols)
            store.execute(
                f"INSERT INTO {table} (customer_key, {listed}) SELECT ?, {listed} FROM {table} "
                "WHERE customer_key = ? ON CONFLICT DO NOTHING",
                [key, unified],
            )
        matched = dedupe_payments(store)
    return {
        "source_key": key,
        "customer_key": unified,
        "rule": str(row[0][1]) if row else None,
        "payments_restored": restored - sum(matched.values()),
    }


def identities(store: Store, *, merged_only: bool = False) -> pd.DataFrame:
    """One row per (unified) customer: its source keys, how they were linked, orders, revenue.

    Columns: ``customer_key``, ``source_keys`` (list, the unified key first), ``links``
    (list of ``"KEY: linked by RULE (EVIDENCE)"``), ``linked_by`` (the rules),
    ``orders`` (distinct purchases), ``revenue`` (net), ``first_order``, ``last_order``.

    >>> store = Store(":memory:")
    >>> list(identities(store).columns)[:3]
    ['customer_key', 'source_keys', 'links']
    >>> store.close()
    """
    return store.df(
        f"""
        WITH lines AS (
            SELECT customer_key,
                   count(DISTINCT (import_id, order_id)) FILTER (WHERE NOT is_return) AS orders,
                   fsum(revenue) AS revenue, min(ts) AS first_order, max(ts) AS last_order
            FROM order_lines GROUP BY customer_key
        ),
        keys AS (SELECT customer_key FROM lines UNION SELECT customer_key FROM customers),
        links AS (
            SELECT customer_key, list(source_key ORDER BY source_key) AS linked,
                   list(source_key || ': linked by ' || rule || coalesce(' (' || evidence || ')',
                        '') ORDER BY source_key) AS links,
                   list(DISTINCT rule ORDER BY rule) AS linked_by
            FROM identity_links GROUP BY customer_key
        )
        SELECT k.customer_key,
               list_concat([k.customer_key], coalesce(s.linked, [])) AS source_keys,
               coalesce(s.links, []) AS links,
               coalesce(s.linked_by, []) AS linked_by,
               coalesce(l.orders, 0) AS orders, round(coalesce(l.revenue, 0), 2) AS revenue,
               l.first_order, l.last_order
        FROM keys k LEFT JOIN links s USING (customer_key) LEFT JOIN lines l USING (customer_key)
        {"WHERE s.linked IS NOT NULL" if merged_only else ""}
        ORDER BY k.customer_key
        """
    )
