"""``clustomer forget``: erase one person from the workspace, and keep them out of it.

:func:`forget` finds every customer key of the person (by key, by e-mail address in
``contacts`` or as a pseudonym, keys that are the address itself, and the other keys that
share one of their addresses), deletes their rows from every table
(:func:`clustomer.store.erase.erase_customer`), records their pseudonyms in
``forgotten`` in the same transaction, optionally removes them from an output folder,
and rewrites the workspace file so that the deleted bytes are gone
(:func:`clustomer.store.erase.rewrite_file`).

:func:`forgotten_filter` is what an import asks to drop those people again from an old
file, with the drop reason :data:`ERASED_REASON`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clustomer.errors import InputError, WorkspaceError
from clustomer.export.safety import normalize_email
from clustomer.export.suppression import normalize_key
from clustomer.privacy.keys import hmac_hex, load_or_create_key, pseudonym
from clustomer.store import erase as store_erase
from clustomer.store.db import Store
from clustomer.store.identity import source_keys_of, unified_keys_of

__all__ = [
    "ERASED_REASON",
    "ForgetResult",
    "ForgottenFilter",
    "forget",
    "forgotten_filter",
    "mask_who",
]

#: The drop reason of an imported row whose customer was erased on request.
ERASED_REASON = "erased on request"

_KEY_CHECK = b"clustomer pseudonym key check"


def mask_who(who: str) -> str:
    """What may be printed of an address or key: ``a***@example.com``, ``…2346``.

    >>> mask_who(" Anna@Example.com "), mask_who("12346"), mask_who("C1")
    ('a***@example.com', '…2346', 'C1')
    """
    text = who.strip()
    local, at, domain = text.partition("@")
    if at:
        return f"{local[:1].lower()}***@{domain.lower()}"
    return "…" + text[-4:] if len(text) > 4 else text


@dataclass(frozen=True)
class ForgetResult:
    """What :func:`forget` did. Holds no raw address: ``who`` is masked, keys are counted.

    Attributes
    ----------
    who : str
        The person asked for, masked (:func:`mask_who`).
    customers : int
        Customer keys erased (0: the person was not in the workspace; their pseudonyms
        are recorded all the same, so a later import drops them).
    deleted : dict of str to int
        Rows deleted per table (every table with customer rows, 0 included).
    recorded : int
        New entries in ``forgotten``.
    outputs : dict of str to int or str
        With ``out_dir``: rows removed from ``segments.csv``, what ``report.html`` holds.
    files_to_check : tuple of str
        Files outside the workspace that may still hold the person: audience exports
        they were in, an output that mentions them. clustomer does not edit those.
    traces : dict of str to int
        Rows that still mention them after erasure (``table.column``); empty normally.
    rewrite_seconds, seconds : float
        Time spent rewriting the workspace file, and in all.
    """

    who: str
    customers: int
    deleted: dict[str, int]
    recorded: int
    outputs: dict[str, int | str] = field(default_factory=dict)
    files_to_check: tuple[str, ...] = ()
    traces: dict[str, int] = field(default_factory=dict)
    rewrite_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """Rows deleted in all."""
        return sum(self.deleted.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "who": self.who,
            "customers": self.customers,
            "rows": self.rows,
            "deleted": dict(self.deleted),
            "recorded": self.recorded,
            "outputs": dict(self.outputs),
            "files_to_check": list(self.files_to_check),
            "traces": dict(self.traces),
            "rewrite_seconds": round(self.rewrite_seconds, 3),
            "seconds": round(self.seconds, 3),
        }


def check_key(store: Store, key: bytes) -> str:
    """The key's check value; refuse a key other than the one ``forgotten`` was made with.

    Raises
    ------
    WorkspaceError
        The workspace's erasure list was recorded under another key: its pseudonyms
        would no longer match, and erased people could come back with an old file.
    """
    check = hmac_hex(key, _KEY_CHECK)
    known = store_erase.forgotten_values(store)["key_check"]
    if known and check not in known:
        raise WorkspaceError(
            "this workspace's list of erased people was made with another pseudonym key "
            "file; restore that file (or point CLUSTOMER_KEY_FILE at it) before going on"
        )
    return check


def fill_pseudonyms(store: Store, key: bytes) -> int:
    """Fill in the missing ``email_hash`` and ``phone_hash`` of ``contacts``; return rows.

    Workspaces made before schema version 5 (and imports that store raw details only)
    have none; they are computed here, where the key is at hand.
    """
    missing = store_erase.contacts_missing_hashes(store)
    hashes = {
        k: (
            pseudonym("email", normalize_email(e), key) if e else None,
            pseudonym("phone", p, key) if p else None,
        )
        for k, e, p in missing
    }
    return store_erase.fill_contact_hashes(store, hashes)


def _person(store: Store, who: str, key: bytes) -> tuple[set[str], set[str], set[str]]:
    """``(customer keys in the workspace, e-mail addresses, phone numbers)`` of ``who``."""
    keys: set[str] = set()
    emails: set[str] = set()
    phones: set[str] = set()
    if "@" in who:
        emails.add(normalize_email(who))
    else:
        asked = {who, normalize_key(who)}
        keys = store_erase.keys_matching(store, keys=asked)
        keys |= unified_keys_of(store, sorted(asked))  # a key linked to another customer
    while True:  # keys and addresses lead to each other
        found = store_erase.keys_matching(
            store,
            keys=keys,
            emails=emails,
            email_hashes={pseudonym("email", e, key) for e in emails},
        )
        found_emails, found_phones = store_erase.contact_details(store, found)
        found_emails = {normalize_email(e) for e in found_emails}
        found_emails |= {normalize_email(k) for k in found if "@" in k}
        if found <= keys and found_emails <= emails and found_phones <= phones:
            return keys, emails, phones
        keys |= found
        emails |= found_emails
        phones |= found_phones


def forget(
    store: Store,
    who: str,
    *,
    key_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    rewrite: bool = True,
) -> ForgetResult:
    """Erase the person ``who`` from the workspace, and keep them out of later imports.

    Parameters
    ----------
    store : Store
        The workspace (it is reopened on a rewritten file when this returns).
    who : str
        An e-mail address (anything with ``@``) or a customer key. An address matches
        contacts with that address (or its pseudonym) and keys that are that address;
        the keys found bring in their own addresses, and so on.
    key_file : str or Path, optional
        The pseudonym key file (default: :func:`~clustomer.privacy.keys.default_key_file`;
        made on first use).
    out_dir : str or Path, optional
        An output folder of ``clustomer segment``: the person's rows leave its
        ``segments.csv`` too.
    rewrite : bool
        Rewrite the workspace file so that deleted rows leave no bytes behind (default).

    Returns
    -------
    ForgetResult
        Counts per table; no raw address.

    Raises
    ------
    InputError
        ``who`` is empty.
    WorkspaceError
        The key file cannot be used, or is not the one this workspace's list was made
        with; the workspace is then unchanged.

    Examples
    --------
    >>> import tempfile
    >>> key_file = Path(tempfile.mkdtemp()) / "pseudonym.key"
    >>> store = Store(":memory:")
    >>> store.execute("INSERT INTO customers (customer_key) VALUES ('C1'), ('C2')")
    >>> store.execute("INSERT INTO contacts (customer_key, email) VALUES ('C1', 'a@x.com')")
    >>> result = forget(store, "A@x.com", key_file=key_file)
    >>> result.customers, result.deleted["customers"], result.deleted["contacts"]
    (1, 1, 1)
    >>> "a@x.com" in repr(result), "a@x.com" in str(store.rows("SELECT * FROM forgotten"))
    (False, False)
    >>> forget(store, "a@x.com", key_file=key_file).rows  # twice: nothing left to do
    0
    >>> store.close()
    """
    started = time.perf_counter()
    text = who.strip()
    if not text:
        raise InputError("give the e-mail address or customer key of the person to forget")
    key = load_or_create_key(key_file)
    check = check_key(store, key)
    fill_pseudonyms(store, key)
    keys, emails, phones = _person(store, text, key)
    keys |= source_keys_of(store, sorted(keys))  # the keys as imported, before linking
    files = store_erase.audience_files(store, keys)
    # a key not (or no longer) in the workspace is recorded all the same
    asked = set() if "@" in text else {normalize_key(text)}
    entries = [("key_check", check)]
    entries += [("customer_key_hash", pseudonym("customer_key", k, key)) for k in keys | asked]
    entries += [("email_hash", pseudonym("email", e, key)) for e in emails]
    entries += [("phone_hash", pseudonym("phone", p, key)) for p in phones]
    before = _entries(store)
    deleted = store_erase.erase_customer(
        store, sorted(keys), emails=emails, phones=phones, forgotten=entries
    )
    outputs: dict[str, int | str] = {}
    if out_dir is not None:
        from clustomer.privacy.outputs import erase_from_outputs

        outputs, still = erase_from_outputs(Path(out_dir), keys, emails | phones)
        files += still
    traces = store_erase.find_traces(store, texts=emails | phones, keys=keys)
    seconds = store_erase.rewrite_file(store) if rewrite else 0.0
    return ForgetResult(
        who=mask_who(text),
        customers=len(keys),
        deleted=deleted,
        recorded=_entries(store) - before,
        outputs=outputs,
        files_to_check=tuple(files),
        traces=traces,
        rewrite_seconds=seconds,
        seconds=time.perf_counter() - started,
    )


def _entries(store: Store) -> int:
    """People's pseudonyms in ``forgotten`` (the key check left out)."""
    values = store_erase.forgotten_values(store)
    return sum(len(v) for kind, v in values.items() if kind != "key_check")


@dataclass(frozen=True)
class ForgottenFilter:
    """The pseudonyms of erased people, and the key to compute those of imported rows.

    False (``bool(filter)``) when nobody was ever erased: an import then has nothing to
    check. See :func:`forgotten_filter`.
    """

    key: bytes | None = None
    key_hashes: frozenset[str] = frozenset()
    email_hashes: frozenset[str] = frozenset()
    phone_hashes: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.key_hashes or self.email_hashes or self.phone_hashes)

    def is_forgotten(
        self, customer_key: str | None, email: str | None = None, phone: str | None = None
    ) -> bool:
        """Whether a row with this (normalised) key, address or E.164 number was erased.

        A key that is itself an address is checked as an address too.
        """
        if not self or self.key is None:
            return False
        if customer_key and pseudonym("customer_key", customer_key, self.key) in self.key_hashes:
            return True
        addresses = [email] if email else []
        if customer_key and "@" in customer_key:
            addresses.append(customer_key)
        for address in addresses:
            if pseudonym("email", normalize_email(address), self.key) in self.email_hashes:
                return True
        return bool(phone) and pseudonym("phone", str(phone), self.key) in self.phone_hashes

    def erased_keys(self, rows: Iterable[tuple[str | None, str | None, str | None]]) -> set[str]:
        """The customer keys among ``(customer_key, email, phone)`` rows to drop.

        >>> f = ForgottenFilter(bytes(32), frozenset(), frozenset(
        ...     {pseudonym("email", "a@x.com", bytes(32))}))
        >>> sorted(f.erased_keys([("C1", "A@x.com ", None), ("C2", None, None),
        ...                       ("a@x.com", None, None)]))
        ['C1', 'a@x.com']
        """
        return {str(k) for k, e, p in rows if k is not None and self.is_forgotten(str(k), e, p)}


def forgotten_filter(store: Store, *, key_file: str | Path | None = None) -> ForgottenFilter:
    """What an import needs to drop the rows of people erased earlier.

    Costs nothing when nobody was erased (the key file is not even read). Otherwise the
    importer, once its rows are normalised in the ``stage`` catalog and before it
    commits, asks::

        erased = forgotten_filter(store)
        if erased:
            rows = store.rows("SELECT DISTINCT customer_key, email, phone FROM stage.lines")
            drop = erased.erased_keys(rows)

    and gives every row whose ``customer_key`` is in ``drop`` the drop reason
    :data:`ERASED_REASON` (``"erased on request"``), counted like any other reason; no
    order line, customer or contact of theirs is committed.

    Raises
    ------
    WorkspaceError
        People were erased but the key file is missing, unusable, or another key.
    """
    values = store_erase.forgotten_values(store)
    kinds = ("customer_key_hash", "email_hash", "phone_hash")
    if not any(values[kind] for kind in kinds):
        return ForgottenFilter()
    try:
        key = load_or_create_key(key_file, create=False)
    except WorkspaceError as exc:
        raise WorkspaceError(
            f"{exc}. This workspace has people erased on request, and only that key "
            "recognises them in an import; restore the key file before importing"
        ) from None
    check_key(store, key)
    return ForgottenFilter(
        key,
        frozenset(values["customer_key_hash"]),
        frozenset(values["email_hash"]),
        frozenset(values["phone_hash"]),
    )
