"""Erase people from the workspace: their rows in every table, then the file's free blocks.

:func:`erase_customer` deletes, in one transaction, every row of the given customer keys
from each table that has a ``customer_key`` column (found in ``information_schema``, so a
new table is covered the day it is added), the suppression entries that name them, and
the rejected cells of imports that hold one of their keys, addresses or numbers.

Deleting is not erasing: DuckDB leaves the bytes of deleted rows in blocks it marks as
free, and a CHECKPOINT (even ``VACUUM`` or recreating the table) does not overwrite them.
:func:`rewrite_file` therefore copies the database into a new file (``COPY FROM
DATABASE``: tables, constraints and sequences with their current values) and puts it in
place of the workspace file in one rename, keeping the file's mode.

The pseudonyms of erased people go to ``forgotten`` (:func:`record_forgotten`), so that
an import of an old file can drop them again; the list holds no raw value.

Examples
--------
>>> store = Store(":memory:")
>>> store.execute("INSERT INTO customers (customer_key) VALUES ('C1'), ('C2')")
>>> erase_customer(store, ["C1"])["customers"]
1
>>> [k for (k,) in store.rows("SELECT customer_key FROM customers")]
['C2']
>>> store.close()
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from clustomer.errors import WorkspaceError
from clustomer.fsync import sync_folder
from clustomer.store.db import MEMORY, Store

__all__ = [
    "FORGOTTEN_KINDS",
    "audience_files",
    "contact_details",
    "customer_tables",
    "erase_customer",
    "fill_contact_hashes",
    "find_traces",
    "forgotten_values",
    "keys_matching",
    "record_forgotten",
    "rewrite_file",
]

#: What ``forgotten`` holds: pseudonyms (HMAC-SHA256 under the install's key) only.
#: ``key_check`` is the pseudonym of a fixed text, to notice a key file that changed.
FORGOTTEN_KINDS = ("customer_key_hash", "email_hash", "phone_hash", "key_check")

_CUSTOMER_KEY = "customer_key"


def _main_columns(store: Store) -> list[tuple[str, str, str]]:
    """``(table, column, data type)`` of every column of the workspace's own tables."""
    rows = store.rows(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_schema = 'main' "
        "ORDER BY table_name, ordinal_position"
    )
    return [(str(t), str(c), str(d)) for t, c, d in rows]


def customer_tables(store: Store) -> list[str]:
    """Every table of the workspace that has a ``customer_key`` column, by name.

    >>> store = Store(":memory:")
    >>> tables = customer_tables(store)
    >>> "order_lines" in tables and "assignments" in tables and "imports" not in tables
    True
    >>> store.close()
    """
    return sorted({t for t, c, _ in _main_columns(store) if c == _CUSTOMER_KEY})


def keys_matching(
    store: Store,
    *,
    keys: Iterable[str] = (),
    emails: Iterable[str] = (),
    email_hashes: Iterable[str] = (),
) -> set[str]:
    """The customer keys of the workspace that are one of ``keys`` (exactly), that are
    one of ``emails`` (a key that is an address, ignoring case), or whose contact has
    one of ``emails`` (normalised) or ``email_hashes``.

    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'a@x.com')")
    >>> store.execute("INSERT INTO order_lines VALUES ('A@x.com', 'o1', TIMESTAMP "
    ...     "'2024-01-01', NULL, NULL, 1, 1, 1, 'EUR', false, 1)")
    >>> sorted(keys_matching(store, emails=["a@x.com"])), keys_matching(store, keys=["C1"])
    (['A@x.com', 'C1'], {'C1'})
    >>> store.close()
    """
    key_list, email_list = sorted(set(keys)), sorted(set(emails))
    hash_list = sorted(set(email_hashes))
    found: set[str] = set()
    for table in customer_tables(store):
        rows = store.rows(
            f'SELECT DISTINCT customer_key FROM "{table}" '
            "WHERE list_contains(?::VARCHAR[], customer_key) "
            "OR list_contains(?::VARCHAR[], lower(trim(customer_key)))",
            [key_list, email_list],
        )
        found.update(str(k) for (k,) in rows)
    rows = store.rows(
        "SELECT customer_key FROM contacts "
        "WHERE list_contains(?::VARCHAR[], lower(trim(email))) "
        "OR list_contains(?::VARCHAR[], email_hash)",
        [email_list, hash_list],
    )
    found.update(str(k) for (k,) in rows)
    return found


def contact_details(store: Store, keys: Iterable[str]) -> tuple[set[str], set[str]]:
    """``(e-mail addresses, phone numbers)`` of these customers' contacts, as stored."""
    rows = store.rows(
        "SELECT email, phone FROM contacts WHERE list_contains(?::VARCHAR[], customer_key)",
        [sorted(set(keys))],
    )
    emails = {str(e) for e, _ in rows if e}
    phones = {str(p) for _, p in rows if p}
    return emails, phones


def contacts_missing_hashes(store: Store) -> list[tuple[str, str | None, str | None]]:
    """``(customer_key, email, phone)`` of contacts whose pseudonym is not filled in yet."""
    rows = store.rows(
        "SELECT customer_key, email, phone FROM contacts "
        "WHERE (email IS NOT NULL AND email_hash IS NULL) "
        "OR (phone IS NOT NULL AND phone_hash IS NULL) ORDER BY customer_key"
    )
    return [(str(k), e, p) for k, e, p in rows]


def fill_contact_hashes(store: Store, hashes: Mapping[str, tuple[str | None, str | None]]) -> int:
    """Set ``email_hash, phone_hash`` (where NULL) of the contacts ``{key: (email_hash,
    phone_hash)}``; return how many rows changed."""
    if not hashes:
        return 0
    import pandas as pd

    frame = pd.DataFrame(
        [(k, e, p) for k, (e, p) in hashes.items()],
        columns=["customer_key", "email_hash", "phone_hash"],
        dtype=object,
    )
    store.con.register("clustomer_contact_hashes", frame)
    try:
        rows = store.rows(
            "UPDATE contacts SET "
            "email_hash = coalesce(contacts.email_hash, h.email_hash), "
            "phone_hash = coalesce(contacts.phone_hash, h.phone_hash) "
            "FROM clustomer_contact_hashes h WHERE h.customer_key = contacts.customer_key"
        )
    finally:
        store.con.unregister("clustomer_contact_hashes")
    return int(rows[0][0]) if rows else 0


def audience_files(store: Store, keys: Iterable[str]) -> list[str]:
    """The files of the audience exports these customers were in (as recorded)."""
    rows = store.rows(
        "SELECT DISTINCT a.file_name FROM audiences a "
        "JOIN audience_members m ON m.audience_id = a.audience_id "
        "WHERE a.file_name IS NOT NULL AND list_contains(?::VARCHAR[], m.customer_key) "
        "ORDER BY 1",
        [sorted(set(keys))],
    )
    return [str(f) for (f,) in rows]


def erase_customer(
    store: Store,
    keys: list[str],
    *,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    forgotten: Iterable[tuple[str, str]] = (),
) -> dict[str, int]:
    """Delete every row of these customers, in one transaction; return rows per table.

    Parameters
    ----------
    store : Store
    keys : list of str
        The customer keys, exactly as stored.
    emails, phones : iterable of str
        Their contact details (normalised), to find rejected cells and suppression
        entries that hold them rather than a key.

    Returns
    -------
    dict of str to int
        Rows deleted from each table with a ``customer_key`` column (0 included, so the
        caller sees every table was looked at), then ``suppressions`` and
        ``import_rejects``.
    """
    key_list = sorted(set(keys))
    email_list = sorted({e.strip().lower() for e in emails if e and e.strip()})
    phone_list = sorted({p.strip() for p in phones if p and p.strip()})
    digests = [hashlib.sha256(e.encode("utf-8")).hexdigest() for e in email_list]
    counts: dict[str, int] = {}
    with store.transaction():
        for table in customer_tables(store):
            counts[table] = _deleted(
                store,
                f'DELETE FROM "{table}" WHERE list_contains(?::VARCHAR[], customer_key)',
                [key_list],
            )
        counts["suppressions"] = _deleted(
            store,
            "DELETE FROM suppressions WHERE (kind = 'customer_key' AND "
            "list_contains(?::VARCHAR[], value)) OR (kind = 'email_sha256' AND "
            "list_contains(?::VARCHAR[], value))",
            [key_list, digests],
        )
        # a rejected cell is the raw text of the file: the key itself, or a cell that
        # holds an address or a number (a shifted column)
        counts["import_rejects"] = _deleted(
            store,
            "DELETE FROM import_rejects WHERE list_contains(?::VARCHAR[], trim(value)) "
            f"OR {_holds_any('lower(value)')}",
            [key_list, email_list + phone_list],
        )
        record_forgotten(store, forgotten)
    return counts


def _holds_any(expr: str) -> str:
    """SQL: whether ``expr`` contains one of the texts of a ``?`` list parameter."""
    return f"EXISTS (SELECT 1 FROM unnest(?::VARCHAR[]) AS needles(x) WHERE contains({expr}, x))"


def _deleted(store: Store, sql: str, params: list[object]) -> int:
    rows = store.rows(sql, params)
    return int(rows[0][0]) if rows else 0


def find_traces(
    store: Store, *, texts: Iterable[str] = (), keys: Iterable[str] = ()
) -> dict[str, int]:
    """Rows of any table that still mention one of ``texts`` or ``keys``: ``{"t.col": n}``.

    ``texts`` (addresses, phone numbers: long enough not to match by chance) are looked
    for inside every text and JSON column, ignoring case; ``keys`` as a whole value of a
    ``customer_key`` column, and as a JSON string (``"C1"``) inside JSON columns. An
    empty result is what erasure should leave.

    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO runs (run_id, created_at, method, as_of, k, n_customers, "
    ...     "details) VALUES (1, now(), 'kmeans', now(), 2, 2, '{\\"examples\\": [\\"C1\\"]}')")
    >>> find_traces(store, keys=["C1"], texts=["a@x.com"])
    {'runs.details': 1}
    >>> store.close()
    """
    text_list = sorted({t.strip().lower() for t in texts if t and t.strip()})
    key_list = sorted({k for k in keys if k})
    quoted = [f'"{k}"' for k in key_list]
    found: dict[str, int] = {}
    for table, column, dtype in _main_columns(store):
        col = f'"{column}"'
        tests = []
        params: list[object] = []
        if dtype in ("VARCHAR", "JSON") and text_list:
            tests.append(_holds_any(f"lower({col}::VARCHAR)"))
            params.append(text_list)
        if column == _CUSTOMER_KEY and key_list:
            tests.append(f"list_contains(?::VARCHAR[], {col})")
            params.append(key_list)
        if dtype == "JSON" and quoted:
            tests.append(_holds_any(f"{col}::VARCHAR"))
            params.append(quoted)
        if not tests:
            continue
        n = int(store.scalar(f'SELECT count(*) FROM "{table}" WHERE ' + " OR ".join(tests), params))
        if n:
            found[f"{table}.{column}"] = n
    return found


def record_forgotten(store: Store, entries: Iterable[tuple[str, str]]) -> int:
    """Add ``(kind, pseudonym)`` entries to ``forgotten``; return how many were new."""
    added = 0
    now = datetime.now(UTC)
    for kind, value in sorted(set(entries)):
        if kind not in FORGOTTEN_KINDS:
            raise ValueError(f"unknown kind {kind!r} for the forgotten list")
        added += _deleted(
            store,
            "INSERT INTO forgotten (kind, value, forgotten_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            [kind, value, now],
        )
    return added


def forgotten_values(store: Store) -> dict[str, set[str]]:
    """Every pseudonym in ``forgotten``, by kind (each of :data:`FORGOTTEN_KINDS` present).

    >>> store = Store(":memory:")
    >>> _ = record_forgotten(store, [("email_hash", "ab" * 32)])
    >>> {k: len(v) for k, v in forgotten_values(store).items()}["email_hash"]
    1
    >>> store.close()
    """
    values: dict[str, set[str]] = {kind: set() for kind in FORGOTTEN_KINDS}
    for kind, value in store.rows("SELECT kind, value FROM forgotten"):
        values.setdefault(str(kind), set()).add(str(value))
    return values


def rewrite_file(store: Store) -> float:
    """Copy the workspace into a new file and put it in place of the old one.

    What was deleted is then gone from the workspace file (DuckDB's free blocks keep it
    otherwise). The store is open again on the new file when this returns; its mode is
    the old file's. An in-memory store is left alone. Returns the seconds it took.

    Raises
    ------
    WorkspaceError
        The copy or the rename failed; the workspace file is then as it was, and open.
    """
    if store.path == MEMORY:
        return 0.0
    started = time.perf_counter()
    path = Path(store.path)
    name = str(store.scalar("SELECT current_database()"))
    threads = int(store.scalar("SELECT current_setting('threads')"))
    memory = str(store.scalar("SELECT current_setting('memory_limit')"))
    fresh = path.with_name(f".{path.name}.erase-{secrets.token_hex(4)}.tmp")
    leftovers = (fresh, fresh.with_name(fresh.name + ".wal"))
    literal = str(fresh).replace("'", "''")
    try:
        store.execute("CHECKPOINT")
        store.execute(f"ATTACH '{literal}' AS clustomer_fresh")
        try:
            store.execute(f'COPY FROM DATABASE "{_ident(name)}" TO clustomer_fresh')
        finally:
            store.execute("DETACH clustomer_fresh")
    except (duckdb.Error, OSError) as exc:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        raise WorkspaceError(
            f"could not rewrite workspace {path} to erase deleted rows ({exc}); the rows are "
            "deleted, but their bytes may remain in the file until the next forget"
        ) from None
    mode = path.stat().st_mode & 0o777
    store.close()
    try:
        os.chmod(fresh, mode)
        # after a clean close there is no write-ahead log; one left over must not be
        # replayed onto the new file
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
        os.replace(fresh, path)
    except OSError as exc:
        for leftover in leftovers:
            leftover.unlink(missing_ok=True)
        Store.__init__(store, path, memory_limit=memory, threads=threads, create=False)
        raise WorkspaceError(f"could not replace workspace {path}: {exc.strerror or exc}") from None
    sync_folder(path.parent)
    Store.__init__(store, path, memory_limit=memory, threads=threads, create=False)
    return time.perf_counter() - started


def _ident(name: str) -> str:
    return name.replace('"', '""')
