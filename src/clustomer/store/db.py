"""Open a workspace file and talk to it.

:class:`Store` owns the one DuckDB connection of a workspace. It applies migrations on
open, turns DuckDB's lock error into a message a person can act on, and offers an
in-memory ``stage`` catalog for work that must not touch the file until it commits.

Before DuckDB sees an existing file, :func:`check_workspace_file` refuses what is not a
workspace (an export passed as ``--workspace``, an empty file) or a damaged one (cut
short, a junk header): DuckDB never writes to a file it was not allowed to open, so a
refused file keeps every byte, and nothing is created beside it. A damaged block found
later, by a query, is reported the same way (:class:`WorkspaceError` naming the file).
"""

from __future__ import annotations

import os
import re
import struct
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from clustomer.errors import WorkspaceError
from clustomer.store.migrations import apply_migrations

MEMORY = ":memory:"
#: DuckDB's memory limit of a file workspace unless one is given (``--memory-limit``):
#: measured on 2 cores, a 969 MB CSV imported in 15.1 s at 2.53 GB peak RSS without a
#: limit, in 19.1 s at 1.25 GB with 1GB (docs/benchmarks.md).
DEFAULT_MEMORY_LIMIT = "2GB"

#: DuckDB's file layout: a main header (``DUCK`` at byte 8), then two database headers,
#: each 4 KiB; blocks follow.
HEADER_BYTES = 3 * 4096
_MAGIC = b"DUCK"

#: What DuckDB says about a file that is cut short or has a damaged block.
_DAMAGE = re.compile(
    r"corrupt database file|could not read enough bytes|not a valid duckdb database file",
    re.IGNORECASE,
)

# Workspace files this process holds open. POSIX drops a process's lock on a file when
# the process closes *any* descriptor of it, so a second open must not even read the
# header of a file that a connection of this process holds (DuckDB's lock would go).
# (A store dropped without close() leaves the set when it is collected, as its
# connection closes.)
_OPEN: dict[str, weakref.WeakSet[Store]] = {}
_OPEN_LOCK = threading.Lock()


class Store:
    """A DuckDB workspace: one file (or ``":memory:"``) holding every table.

    Parameters
    ----------
    path : str or Path
        The workspace file; created (with its schema) if it does not exist.
    memory_limit : str, optional
        DuckDB's memory limit, e.g. ``"1GB"``; larger work spills to ``<file>.tmp``.
        A file workspace defaults to :data:`DEFAULT_MEMORY_LIMIT`, so that a file of
        any size is imported in bounded memory (DuckDB's own default is 80% of RAM).
    threads : int, optional
        Worker threads for DuckDB (default: all cores).
    create : bool
        Create the file when it does not exist (otherwise that is an error).

    Raises
    ------
    WorkspaceError
        The file is missing (and ``create`` is false), is not a workspace, is damaged,
        is in use by another process, or has a newer schema. A refused file is unchanged.

    Examples
    --------
    >>> store = Store(":memory:")
    >>> int(store.scalar("SELECT count(*) FROM order_lines"))
    0
    >>> store.close()
    """

    def __init__(
        self,
        path: str | Path = MEMORY,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        create: bool = True,
    ) -> None:
        self.path = str(path)
        self._key: str | None = None
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        elif self.path != MEMORY:
            config["memory_limit"] = DEFAULT_MEMORY_LIMIT
        if threads:
            config["threads"] = threads
        if self.path != MEMORY:
            key = os.path.realpath(self.path)
            with _OPEN_LOCK:
                held_here = bool(_OPEN.get(key))
            if held_here:  # DuckDB would share the connection's database, stage and all
                raise WorkspaceError(
                    f"workspace {self.path} is already open in this program; close it "
                    "first, or go on with the Workspace that has it open"
                )
            check_workspace_file(Path(self.path), create=create)
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, config=config)
        except duckdb.Error as exc:
            raise WorkspaceError(open_error_message(self.path, str(exc))) from None
        try:
            self.con.execute("SET TimeZone = 'UTC'")
            # every query that needs an order says ORDER BY; letting DuckDB write results
            # in any order makes big scans and inserts parallel (≈30% faster on 10M lines)
            self.con.execute("SET preserve_insertion_order = false")
            # DuckDB draws its own progress bar on standard output for statements longer
            # than two seconds, which would corrupt ``--json``; keep the tracking (for
            # :meth:`query_progress`) and drop the drawing — the core never prints
            self.con.execute("SET enable_progress_bar = true")
            self.con.execute("SET enable_progress_bar_print = false")
            self.con.execute("ATTACH ':memory:' AS stage")
            apply_migrations(self.con)
        except BaseException as exc:
            self.con.close()
            if isinstance(exc, duckdb.Error):
                raise WorkspaceError(open_error_message(self.path, str(exc))) from None
            raise
        if self.path != MEMORY:
            self._key = os.path.realpath(self.path)
            with _OPEN_LOCK:
                _OPEN.setdefault(self._key, weakref.WeakSet()).add(self)

    # -- queries --------------------------------------------------------------------
    def df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """Run a query and return the whole result as a DataFrame."""
        with self._damage_named():
            return self.con.execute(sql, params or []).df()

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return all rows as tuples."""
        with self._damage_named():
            return self.con.execute(sql, params or []).fetchall()

    def scalar(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run a query that returns one value."""
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement, discarding any result."""
        with self._damage_named():
            self.con.execute(sql, params or []).fetchall()

    def query_progress(self) -> float | None:
        """How far the statement running now has got, 0-100 (None: none is running).

        Safe to call from another thread while the statement runs: a front end polls it
        to draw a progress bar for a long read.

        >>> store = Store(":memory:")
        >>> store.query_progress() is None
        True
        >>> store.close()
        """
        try:
            done = float(self.con.query_progress())
        except duckdb.Error:
            return None
        return done if done >= 0 else None

    def damage_error(self, exc: BaseException | None) -> WorkspaceError | None:
        """The :class:`WorkspaceError` naming this file, if ``exc`` says it is damaged.

        For DuckDB errors raised by code that queries ``store.con`` directly.

        >>> store = Store(":memory:")
        >>> store.damage_error(duckdb.IOException("Corrupt database file")) is None
        True
        >>> store.close()
        """
        if self.path == MEMORY or not isinstance(exc, duckdb.Error):
            return None
        if not _is_damage(str(exc), self.path):
            return None
        return WorkspaceError(damaged_message(self.path, str(exc)))

    @contextmanager
    def _damage_named(self) -> Iterator[None]:
        """A damaged block met by a query is a :class:`WorkspaceError` naming the file."""
        try:
            yield
        except duckdb.Error as exc:
            damaged = self.damage_error(exc)
            if damaged is not None:
                raise damaged from None
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def drop_stage(self) -> None:
        """Forget every table in the in-memory ``stage`` catalog."""
        names = self.rows(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'stage'"
        )
        for (name,) in names:
            self.con.execute(f'DROP TABLE IF EXISTS stage."{name}"')

    def close(self) -> None:
        """Close the connection (the file is checkpointed by DuckDB)."""
        try:
            self.con.close()
        except duckdb.Error:
            pass
        if self._key is not None:
            with _OPEN_LOCK:
                holders = _OPEN.get(self._key)
                if holders is not None:
                    holders.discard(self)
                    if not holders:
                        del _OPEN[self._key]
            self._key = None


def check_workspace_file(path: Path, *, create: bool) -> None:
    """Refuse a path that is not a usable workspace, before DuckDB opens (or writes) it.

    Refused: a missing file (unless ``create``), a folder, an empty file, a file that is
    not a DuckDB database (e.g. ``orders.csv`` given as ``--workspace``: DuckDB would
    otherwise turn a typo into an empty workspace), and a file cut short — shorter than
    its header says, by a part of a block (DuckDB itself only ever trims whole free
    blocks off the end). The file is read, never written.

    Raises
    ------
    WorkspaceError
        With a message naming ``path`` and what to do.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "orders.csv").write_text("customer_id,order_id\\n1,2\\n")
    >>> try:
    ...     check_workspace_file(folder / "orders.csv", create=True)
    ... except WorkspaceError as exc:
    ...     print(str(exc).split("; ")[0].replace(str(folder), "…"))
    …/orders.csv is not a clustomer workspace (a DuckDB file)
    >>> check_workspace_file(folder / "new.duckdb", create=True)  # a new file: fine
    >>> import shutil; shutil.rmtree(folder)
    """
    if not path.exists():
        if not create:
            raise WorkspaceError(f"there is no workspace at {path}")
        return
    if path.is_dir():
        raise WorkspaceError(f"{path} is a folder; give the workspace file (e.g. shop.duckdb)")
    with path.open("rb") as fh:
        head = fh.read(HEADER_BYTES)
        size = os.fstat(fh.fileno()).st_size
        if not size:
            raise WorkspaceError(damaged_message(str(path), "it is an empty file (0 bytes)"))
        if head[8:12] != _MAGIC:
            raise WorkspaceError(_not_a_workspace(path, head))
        if size < HEADER_BYTES:
            raise WorkspaceError(damaged_message(str(path), _cut_short(size, HEADER_BYTES)))
        expected = _size_in_header(head)
        if expected is not None and size < expected[0] and (size - HEADER_BYTES) % expected[1]:
            if _locked_elsewhere(fh.fileno()):  # another process is writing it right now
                raise WorkspaceError(lock_message(str(path), ""))
            raise WorkspaceError(damaged_message(str(path), _cut_short(size, expected[0])))


def _size_in_header(head: bytes) -> tuple[int, int] | None:
    """(bytes the newer database header accounts for, block size), if it is plausible.

    A database header is: checksum, iteration, meta block, free list, block count, block
    size, vector size, … (little-endian 64-bit words). An implausible one is left to
    DuckDB, which checks the header's checksum and reports the damage itself.
    """
    headers = [struct.unpack_from("<6Q", head, offset) for offset in (4096, 8192)]
    _, _, _, _, blocks, block_size = max(headers, key=lambda h: h[1])
    if not 4096 <= block_size <= 1 << 30 or block_size & (block_size - 1) or blocks >= 1 << 40:
        return None
    return HEADER_BYTES + blocks * block_size, block_size


def _locked_elsewhere(fd: int) -> bool:
    """Whether another process holds a write lock on the file (POSIX; else False)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    fcntl.lockf(fd, fcntl.LOCK_UN)
    return False


def _cut_short(size: int, expected: int) -> str:
    return f"it is cut short: {size:,} bytes where its header accounts for {expected:,}"


def _not_a_workspace(path: Path, head: bytes) -> str:
    looks_like_export = head[:4] in (b"PAR1", b"PK\x03\x04") or _is_text(head)
    if looks_like_export:
        return (
            f"{path} is not a clustomer workspace (a DuckDB file); did you mean to import "
            "it? Use: clustomer import FILE --workspace shop.duckdb"
        )
    return (
        f"{path} is not a clustomer workspace: it is not a DuckDB file, or its header is "
        "damaged. clustomer has not changed it; if it was a workspace, restore it from a "
        "backup, or give another --workspace"
    )


def _is_text(head: bytes) -> bool:
    sample = head[:4096]
    if b"\0" in sample:
        return False
    for encoding in ("utf-8", "cp1252"):
        try:
            sample.decode(encoding)
            return True
        except UnicodeDecodeError:
            continue
    return False


def holds_imports(path: Path) -> bool:
    """Whether the workspace file at ``path`` holds any import (False if unreadable)."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return bool(con.execute("SELECT count(*) FROM imports").fetchall()[0][0])
    except duckdb.Error:
        return False


def open_error_message(path: str, detail: str) -> str:
    """The message for DuckDB's error on opening ``path``: in use, damaged, or other.

    >>> open_error_message("shop.duckdb", 'Could not set lock on file "shop.duckdb": '
    ...     "Conflicting lock is held in python (PID 42)")[:60]
    'workspace shop.duckdb is in use by another clustomer or Duck'
    >>> open_error_message("shop.duckdb", "Corrupt database file: computed checksum 1 does "
    ...     "not match stored checksum 2 in block at location 4096")[:36]
    'workspace shop.duckdb is damaged (a '
    """
    if re.search(r"\block\b", detail, re.IGNORECASE):  # not "block"
        return lock_message(path, detail)
    if _is_damage(detail, path):
        return damaged_message(path, detail)
    return f"cannot open workspace {path}: {detail}"


def _is_damage(detail: str, path: str) -> bool:
    """Whether DuckDB's error says the workspace file itself is damaged.

    "Could not read enough bytes" counts only when it names the workspace file: a CSV
    cut short while it is read says the same about the CSV.
    """
    found = _DAMAGE.search(detail)
    if found is None:
        return False
    return "enough bytes" not in found.group(0).lower() or Path(path).name in detail


def lock_message(path: str, detail: str) -> str:
    """The message for a workspace another process holds (naming its PID if known)."""
    pid = re.search(r"PID (\d+)", detail)
    who = f" (process {pid.group(1)})" if pid else ""
    return (
        f"workspace {path} is in use by another clustomer or DuckDB process{who}; "
        "close that program (or wait for it to finish) and try again"
    )


def damaged_message(path: str, detail: str) -> str:
    """The message for a damaged workspace: what is wrong, that it is untouched, what to do.

    ``detail`` is a plain reason, or DuckDB's error (turned into one).

    >>> damaged_message("shop.duckdb", "it is an empty file (0 bytes)")[:60]
    'workspace shop.duckdb is damaged (it is an empty file (0 byt'
    """
    lowered = detail.lower()
    if "could not read enough bytes" in lowered:
        detail = "it is cut short: a block it needs is missing"
    elif "corrupt" in lowered:
        detail = "a block's checksum does not match: its bytes were changed"
    elif "not a valid duckdb database file" in lowered:
        detail = "it is not a valid DuckDB database"
    return (
        f"workspace {path} is damaged ({detail}); clustomer has not changed it. Restore it "
        "from a backup, or move it aside and import your exports into a new workspace"
    )
