"""An import's people: pseudonyms of their contact details, erased people, ``--no-pii``.

Runs once ``stage.lines`` is normalised and before the commit. It

* drops the rows of people erased on request (:func:`clustomer.privacy.forgotten_filter`)
  with the reason :data:`~clustomer.privacy.ERASED_REASON`;
* computes the pseudonyms (HMAC-SHA256 under the install's key) of the e-mail addresses
  (normalised) and phone numbers (E.164) of the file: ``stage.emails (email,
  email_hash)`` and ``stage.phones (raw, phone, phone_hash)``, which the commit stores in
  ``contacts`` and ``customer_sources`` (the identifiers that link one person's keys);
* with ``no_pii``, replaces every customer key that is an e-mail address by
  ``p-`` + the first 16 hex digits of its pseudonym (:func:`pseudonymous_key`), so that
  no raw address or number is committed (the commit then stores pseudonyms alone).

The key file is read only when the file has an address or a number to pseudonymise, or
when people were erased.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clustomer.export.safety import normalize_email
from clustomer.privacy.forget import ERASED_REASON, forgotten_filter
from clustomer.privacy.keys import load_or_create_key, normalize_phone, pseudonym
from clustomer.store.db import Store
from clustomer.store.imports import KEPT

__all__ = ["pseudonymous_key", "stage_identities"]


def pseudonymous_key(email: str, key: bytes) -> str:
    """The customer key that stands for an address under ``--no-pii``.

    >>> k = pseudonymous_key(" Anna@Example.com", bytes(32))
    >>> k.startswith("p-"), len(k), k == pseudonymous_key("anna@example.com", bytes(32))
    (True, 18, True)
    """
    return "p-" + pseudonym("email", normalize_email(email), key)[:16]


def stage_identities(
    store: Store, *, no_pii: bool = False, key_file: str | Path | None = None
) -> bool:
    """Prepare the staged rows' identities (see the module); True if kept rows were dropped.

    Leaves ``stage.erased (customer_key)``: the keys of erased people, whose rows (kept
    or not) the commit must not store. Expects ``stage.lines`` with ``customer_key``,
    ``email``, ``phone`` and ``drop_reason``, and ``stage.dups``; ``stage.extra`` when
    the file has order lines.
    """
    has_extra = bool(
        store.scalar(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_catalog = 'stage' AND table_name = 'extra'"
        )
    )
    rows = store.rows(
        "SELECT DISTINCT customer_key, email, phone FROM stage.lines WHERE customer_key IS NOT NULL"
    )
    phones = {str(p): normalize_phone(str(p)) for _, _, p in rows if p}
    dropped = False
    drop: set[str] = set()
    erased = forgotten_filter(store, key_file=key_file)
    if erased:
        drop = erased.erased_keys((k, e, phones.get(p) if p else None) for k, e, p in rows)
        if drop:
            dropped = bool(
                store.scalar(
                    f"SELECT count(*) FROM stage.lines WHERE {KEPT} "
                    "AND list_contains(?::VARCHAR[], customer_key)",
                    [sorted(drop)],
                )
            )
            store.execute(
                f"UPDATE stage.lines SET drop_reason = ? WHERE {KEPT} "
                "AND list_contains(?::VARCHAR[], customer_key)",
                [ERASED_REASON, sorted(drop)],
            )
            if has_extra:
                store.execute(
                    "DELETE FROM stage.extra WHERE list_contains(?::VARCHAR[], customer_key)",
                    [sorted(drop)],
                )
            rows = [r for r in rows if r[0] not in drop]
    store.execute("DROP TABLE IF EXISTS stage.erased")
    _table(store, "stage.erased", pd.DataFrame(sorted(drop), columns=["customer_key"]))
    emails = {normalize_email(str(e)) for _, e, _ in rows if e}
    emails |= {normalize_email(str(k)) for k, _, _ in rows if "@" in str(k)}
    numbers = {raw: e164 for raw, e164 in phones.items() if e164}
    key = erased.key if erased and erased.key else None
    if key is None and (emails or numbers):
        key = load_or_create_key(key_file)
    hashed = [(e, pseudonym("email", e, key)) for e in sorted(emails)] if key else []
    store.execute("DROP TABLE IF EXISTS stage.emails")
    store.execute("DROP TABLE IF EXISTS stage.phones")
    _table(store, "stage.emails", pd.DataFrame(hashed, columns=["email", "email_hash"]))
    _table(
        store,
        "stage.phones",
        pd.DataFrame(
            [(raw, p, pseudonym("phone", p, key)) for raw, p in sorted(numbers.items())]
            if key
            else [],
            columns=["raw", "phone", "phone_hash"],
        ),
    )
    if no_pii and key is not None:
        keyed = sorted({str(k) for k, _, _ in rows if "@" in str(k)})
        if keyed:
            mapping = pd.DataFrame(
                [(k, normalize_email(k), pseudonymous_key(k, key)) for k in keyed],
                columns=["customer_key", "email", "new_key"],
            ).astype(object)
            store.con.register("clustomer_new_keys", mapping)
            try:
                # the key's address stays in the (in-memory) stage as the row's e-mail, so
                # that its pseudonym is stored; the commit stores no raw address
                store.execute(
                    "UPDATE stage.lines SET email = coalesce(stage.lines.email, m.email), "
                    "customer_key = m.new_key FROM clustomer_new_keys m "
                    "WHERE stage.lines.customer_key = m.customer_key"
                )
                if has_extra:
                    store.execute(
                        "UPDATE stage.extra SET customer_key = m.new_key "
                        "FROM clustomer_new_keys m WHERE stage.extra.customer_key = m.customer_key"
                    )
            finally:
                store.con.unregister("clustomer_new_keys")
    if no_pii:
        store.execute("UPDATE stage.rejects SET value = NULL WHERE value IS NOT NULL")
    return dropped


def _table(store: Store, name: str, frame: pd.DataFrame) -> None:
    store.con.register("clustomer_frame", frame.astype(object))
    try:
        cols = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in frame.columns)
        store.execute(f"CREATE TABLE {name} AS SELECT {cols} FROM clustomer_frame")
    finally:
        store.con.unregister("clustomer_frame")
