"""From a shop's export file to normalised order lines in the workspace."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clustomer.errors import InputError
from clustomer.ingest.identities import stage_identities
from clustomer.ingest.layouts import LAYOUTS, Layout, detect_layout
from clustomer.ingest.normalize import Accounting, normalize, recount
from clustomer.ingest.readers import RawFile, read_file
from clustomer.progress import polled
from clustomer.store.db import Store
from clustomer.store.identity import PAYMENT_LAYOUTS
from clustomer.store.imports import (
    ImportSummary,
    commit_import,
    find_by_hash,
    load_summary,
    size_seen,
    workspace_currencies,
)

__all__ = ["LAYOUTS", "Layout", "content_hash", "detect_layout", "import_file"]


def content_hash(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's bytes: the same export imported twice is recognised by it.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
    >>> _ = p.write_text("x")
    >>> content_hash(p)[:12]
    '2d711642b726'
    """
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def import_file(
    store: Store,
    path: str | Path,
    *,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    currency: str | None = None,
    as_of: datetime | None = None,
    date_format: str | None = None,
    progress: Any = None,
    no_pii: bool = False,
    key_file: str | Path | None = None,
) -> ImportSummary:
    """Import one export file atomically and idempotently.

    The file is read and checked in memory first; the workspace changes only in the
    final transaction, so any error leaves it exactly as it was. Importing the same
    bytes again changes nothing and returns the earlier account with
    ``already_imported=True``.

    Parameters
    ----------
    layout : str, optional
        Force a layout (:data:`LAYOUTS`); detected from the header by default.
    mapping : mapping of str to str, optional
        ``{field: column}``, for columns named otherwise than the layout expects.
    currency : str, optional
        Keep only the rows in this currency.
    as_of : datetime, optional
        Rows dated after this are dropped as ``date after as-of date`` (default: now).
    date_format : str, optional
        strptime format of the layout's date column (``"%d/%m/%Y %H:%M"``). Without it
        the format is detected; dates that could be day-first or month-first are settled
        by the whole column, or the import stops and asks for one.
    progress : Progress, optional
        Told of the stages ``read`` (with how far DuckDB has got through the file, when
        the reporter can show it: :func:`clustomer.progress.polled`) and ``commit``.
    no_pii : bool
        Store pseudonyms alone: no raw e-mail address, phone number or name, and a
        customer key that is an address becomes ``p-`` + 16 hex digits of its pseudonym.
    key_file : str or Path, optional
        The pseudonym key file (default: :func:`clustomer.privacy.default_key_file`); read
        only when the file has addresses or numbers, or people were erased.

    Rows of people erased on request (``clustomer forget``) are dropped as ``erased on
    request``. After the commit, the customers are linked across sources and payments of
    orders already imported are taken out (``docs/identity.md``).

    Raises
    ------
    InputError
        The file cannot be read or used (the message names the file, and the line and
        column where one is to blame); the workspace is unchanged.
    """
    try:
        return _import(
            store,
            Path(path),
            layout,
            mapping,
            currency,
            as_of,
            date_format,
            progress,
            no_pii=no_pii,
            key_file=key_file,
        )
    except OSError as exc:  # unreadable (permissions, a folder that vanished, ...)
        raise InputError(
            f"cannot read this file: {exc.strerror or type(exc).__name__}", file=Path(path).name
        ) from None


def _import(
    store: Store,
    path: Path,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    currency: str | None,
    as_of: datetime | None,
    date_format: str | None,
    progress: Any = None,
    *,
    no_pii: bool = False,
    key_file: str | Path | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    size = path.stat().st_size if path.is_file() else -1
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Hashing a big file takes a while; when no earlier import has the same size it
        # cannot be a repeat, so hash in the background while the file is staged.
        hashing = pool.submit(content_hash, path) if size >= 0 else None
        if hashing is not None and size_seen(store, size):
            # the same bytes with another --currency select other rows: not a repeat
            earlier = find_by_hash(store, hashing.result(), currency.upper() if currency else None)
            if earlier is not None:
                return _repeat(store, earlier)
        cutoff = as_of or datetime.now(UTC).replace(tzinfo=None)
        raw: RawFile | None = None
        try:
            # one long statement reads the whole file: its progress is DuckDB's
            with polled(progress, "read", store.query_progress):
                raw = read_file(
                    store, path, layout=layout, mapping=mapping, date_format=date_format
                )
                acc = normalize(store, raw, as_of=cutoff, currency=currency)
                if stage_identities(store, no_pii=no_pii, key_file=key_file):
                    acc = recount(store, raw, acc)
            digest = hashing.result() if hashing is not None else ""
            with polled(progress, "commit", store.query_progress):
                return _commit(
                    store, path, size, digest, raw, acc, cutoff, mapping, started, no_pii
                )
        finally:
            store.drop_stage()
            if raw is not None:
                raw.cleanup()


def _repeat(store: Store, import_id: int) -> ImportSummary:
    summary = load_summary(store, import_id)
    summary.already_imported = True
    return summary


def _commit(
    store: Store,
    path: Path,
    size: int,
    digest: str,
    raw: RawFile,
    acc: Accounting,
    cutoff: datetime,
    mapping: Mapping[str, str] | None,
    started: float,
    no_pii: bool = False,
) -> ImportSummary:
    held = workspace_currencies(store)
    if acc.currency and held and acc.currency not in held:
        raise InputError(
            f"this workspace holds orders in {', '.join(held)} and this file is in "
            f"{acc.currency}; amounts in different currencies cannot be added up. Import it "
            "into a workspace of its own (--workspace shop_"
            f"{acc.currency.lower()}.duckdb), or pick the rows in {held[0]} with "
            f"--currency {held[0]}",
            file=path.name,
        )
    summary = ImportSummary(
        import_id=0,
        file=path.name,
        file_bytes=size,
        content_hash=digest,
        layout=raw.layout.name,
        currency=acc.currency,
        rows_read=acc.rows_read,
        rows_kept=acc.rows_kept,
        rows_dropped=acc.rows_dropped,
        customers=acc.customers,
        orders=acc.orders,
        revenue=acc.revenue,
        revenue_kept=acc.revenue_kept,
        revenue_dropped={k: round(v, 2) for k, v in acc.revenue_dropped.items()},
        cancellation_lines=acc.cancellation_lines,
        extra_lines=acc.extra_lines,
        as_of=cutoff.isoformat(),
        imported_at=datetime.now(UTC).isoformat(),
        first_order=acc.first_ts.isoformat() if acc.first_ts else None,
        last_order=acc.last_ts.isoformat() if acc.last_ts else None,
        rejects=acc.rejects,
        mapping=dict(mapping or {}),
    )
    summary.seconds = round(time.perf_counter() - started, 3)
    summary.import_id = commit_import(
        store, summary, customer_table=acc.customer_table, no_pii=no_pii
    )
    if summary.layout in PAYMENT_LAYOUTS:  # its payments of imported orders: in its account
        again = load_summary(store, summary.import_id)
        again.rejects = summary.rejects if not no_pii else again.rejects
        return again
    return summary
