"""The suppression list: people who are never exported again, whatever else changes.

An e-mail address is stored only as the SHA-256 of its normalised form
(:func:`~clustomer.export.safety.email_sha256`), so the list holds no raw address, and a
suppressed address still matches when it comes back under a new customer key in a later
import.
"""

from __future__ import annotations

import re

from clustomer.errors import InputError
from clustomer.export.safety import email_sha256
from clustomer.store.audiences import (
    contact_emails,
    insert_suppression,
    suppression_values,
)
from clustomer.store.db import Store

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def add_suppression(
    store: Store, value: str, reason: str | None = None, *, kind: str | None = None
) -> tuple[str, str]:
    """Never export this person again; return the ``(kind, stored value)``.

    Parameters
    ----------
    store : Store
    value : str
        An e-mail address (anything with ``@``: stored as its SHA-256) or a customer key.
    reason : str, optional
        Why, in words (e.g. ``"unsubscribed"``); kept with the entry.
    kind : str, optional
        Force the kind: ``"customer_key"``, or ``"email_sha256"`` for a digest that is
        already hashed (64 lower-case hex digits, e.g. from another tool's list).

    Examples
    --------
    >>> store = Store(":memory:")
    >>> add_suppression(store, " Anna@Example.com ", "unsubscribed")[0]
    'email_sha256'
    >>> add_suppression(store, "C0042")
    ('customer_key', 'C0042')
    >>> "anna@example.com" in str(store.rows("SELECT * FROM suppressions"))
    False
    """
    text = value.strip()
    if not text:
        raise InputError("give an e-mail address or a customer key to suppress")
    if kind is None:
        kind = "email_sha256" if "@" in text else "customer_key"
        if kind == "email_sha256":
            text = email_sha256(text)
    elif kind == "email_sha256":
        text = text.lower()
        if not _HEX64.match(text):
            raise InputError("an email_sha256 suppression must be 64 hexadecimal digits")
    elif kind != "customer_key":
        raise InputError(f"unknown suppression kind {kind!r}; use customer_key or email_sha256")
    insert_suppression(store, kind, text, reason)
    return kind, text


def suppressed_hashes(store: Store) -> set[str]:
    """The SHA-256 digests of every suppressed e-mail address."""
    return suppression_values(store, "email_sha256")


def suppressed_keys(store: Store) -> set[str]:
    """Every customer key that must not be exported.

    The keys suppressed directly, and those whose contact address (as it is now) hashes
    to a suppressed digest.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'a@x.com')")
    >>> _ = add_suppression(store, "A@X.COM"); _ = add_suppression(store, "C9")
    >>> sorted(suppressed_keys(store))
    ['C1', 'C9']
    """
    keys = suppression_values(store, "customer_key")
    hashes = suppressed_hashes(store)
    if hashes:
        contacts = contact_emails(store)
        for key, email in zip(contacts["customer_key"], contacts["email"], strict=True):
            if email_sha256(str(email)) in hashes:
                keys.add(str(key))
    return keys
