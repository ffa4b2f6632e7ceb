"""The suppression list: people who are never exported again, whatever else changes.

An e-mail address is stored only as the SHA-256 of its normalised form
(:func:`~clustomer.export.safety.email_sha256`), so the list holds no raw address, and a
suppressed address still matches when it comes back under a new customer key in a later
import. A customer key is stored as the order imports store keys (``12346.0`` is
``12346``) and matches whatever its case: suppressing one customer too many is safe,
one too few is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clustomer.errors import InputError
from clustomer.export.safety import email_sha256
from clustomer.store.audiences import (
    contact_emails,
    customer_keys,
    insert_suppression,
    suppression_values,
)
from clustomer.store.db import Store

_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def normalize_key(key: str) -> str:
    """A customer key as the order imports store it: trimmed, ``12346.0`` -> ``12346``.

    >>> normalize_key(" 12346.0 "), normalize_key("C-1.5")
    ('12346', 'C-1.5')
    """
    text = key.strip()
    return re.sub(r"\.0+$", "", text) if "." in text else text


def key_matches(keys: Iterable[str], suppressed: Iterable[str]) -> list[bool]:
    """Which ``keys`` are suppressed: same key ignoring case (after :func:`normalize_key`),
    or a key that is itself an e-mail address whose digest is suppressed.

    >>> key_matches(["C1", "c2", "x@y.com"], {"c1", "C2", email_sha256("X@Y.com")})
    [True, True, True]
    """
    wanted = {normalize_key(str(k)).casefold() for k in suppressed}
    return [
        normalize_key(str(k)).casefold() in wanted
        or ("@" in str(k) and email_sha256(str(k)) in wanted)
        for k in keys
    ]


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
        text = email_sha256(text) if kind == "email_sha256" else normalize_key(text)
    elif kind == "email_sha256":
        text = text.lower()
        if not _HEX64.match(text):
            raise InputError("an email_sha256 suppression must be 64 hexadecimal digits")
    elif kind == "customer_key":
        text = normalize_key(text)
    else:
        raise InputError(f"unknown suppression kind {kind!r}; use customer_key or email_sha256")
    insert_suppression(store, kind, text, reason)
    return kind, text


def suppressed_hashes(store: Store) -> set[str]:
    """The SHA-256 digests of every suppressed e-mail address."""
    return suppression_values(store, "email_sha256")


def suppressed_keys(store: Store) -> set[str]:
    """Every customer key of the workspace that must not be exported or contacted.

    The keys suppressed directly (as stored, and each workspace key equal to one ignoring
    case), keys that are themselves a suppressed e-mail address (Shopify), and those whose
    contact address (as it is now) hashes to a suppressed digest.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'a@x.com')")
    >>> store.execute("INSERT INTO customers (customer_key) VALUES ('k7'), ('b@x.com')")
    >>> _ = add_suppression(store, "A@X.COM"); _ = add_suppression(store, "C9")
    >>> _ = add_suppression(store, "K7"); _ = add_suppression(store, "b@x.com")
    >>> sorted(suppressed_keys(store))
    ['C1', 'C9', 'K7', 'b@x.com', 'k7']
    """
    keys = suppression_values(store, "customer_key")
    hashes = suppressed_hashes(store)
    known = customer_keys(store)
    for key, hit in zip(known, key_matches(known, keys | hashes), strict=True):
        if hit:
            keys.add(key)
    if hashes:
        contacts = contact_emails(store)
        for key, email in zip(contacts["customer_key"], contacts["email"], strict=True):
            if email_sha256(str(email)) in hashes:
                keys.add(str(key))
    return keys
