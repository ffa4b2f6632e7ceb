"""Faults around an import: SIGKILL at several points, and a second writer process.

Every kill is aimed, not timed: the child reports the point it has reached on stderr
and waits there (a small driver wraps the commit), or is seen at work: the real
``clustomer import`` holding the CSV open and having read a good part of it
(``/proc/PID/io``), the COMMIT writing DuckDB's log (the ``.wal`` file).

After the kill the workspace opens, every table holds what it held before (row counts
and a hash of the ordered rows), and the import runs again to the end.
"""

from __future__ import annotations

import gc
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from clustomer import Workspace
from clustomer.errors import WorkspaceError
from clustomer.store.db import Store

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/io").exists(), reason="needs Linux: SIGKILL and /proc/PID/io"
)

#: Lines of the file killed mid-read (about 33 MB, ~0.7 s to import on the 2-core machine)
#: and of the file killed around the commit (more than one DuckDB row group of 122,880
#: rows, which DuckDB writes to the file before COMMIT).
BIG_LINES = 600_000
HOOK_LINES = 150_000

# The child for the aimed kills: it imports FILE into WORKSPACE, and at POINT says so on
# stderr and waits to be killed. staged: read and checked, nothing written yet; inserted:
# every row inserted in the open transaction, COMMIT not yet sent; commit: COMMIT sent.
DRIVER = """
import sys, time
from contextlib import contextmanager
import clustomer.ingest as ingest
from clustomer import Workspace
from clustomer.store.db import Store

workspace, file, point = sys.argv[1:4]

def say(word):
    sys.stderr.write(word + "\\n")
    sys.stderr.flush()

def hold(word):
    say(word)
    time.sleep(120)

if point == "staged":
    ingest.commit_import = lambda *args, **kwargs: hold("staged")
else:
    @contextmanager
    def transaction(self):
        self.con.execute("BEGIN TRANSACTION")
        yield
        if point == "inserted":
            hold("inserted")
        say("commit")
        self.con.execute("COMMIT")
        hold("committed")
    Store.transaction = transaction

with Workspace(workspace) as ws:
    say("open")
    ws.import_file(file)
say("done")
"""


def write_orders(path: Path, lines: int) -> Path:
    """A generic-layout CSV of distinct lines (none dropped), written by DuckDB in a blink."""
    con = duckdb.connect()
    con.execute(
        f"""
        COPY (
            SELECT 'C' || lpad((i % 20011)::VARCHAR, 6, '0') AS customer_id,
                   'O' || lpad((i // 4)::VARCHAR, 8, '0') AS order_id,
                   strftime(TIMESTAMP '2023-01-01 09:00:00' + to_seconds((i * 37) % 63000000),
                            '%Y-%m-%d %H:%M:%S') AS order_date,
                   'P' || (i % 997) AS product_id,
                   1 + i % 5 AS quantity,
                   round(1 + (i % 4999) / 100, 2) AS unit_price,
                   'EUR' AS currency
            FROM range({lines}) t(i)
        ) TO '{path}' (HEADER)
        """
    )
    con.close()
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_orders(tmp_path_factory.mktemp("big") / "big_orders.csv", BIG_LINES)


@pytest.fixture(scope="module")
def hook_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_orders(tmp_path_factory.mktemp("hook") / "hook_orders.csv", HOOK_LINES)


def snapshot(path: Path) -> dict[str, tuple[int, str]]:
    """Every table of the workspace: its row count and a SHA-256 of its ordered rows.

    Opening it is part of the check: the workspace must open after the kill.
    """
    store = Store(path, create=False)
    try:
        names = store.rows(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE database_name = current_database() ORDER BY table_name"
        )
        tables = {}
        for (name,) in names:
            rows = store.rows(f'SELECT * FROM "{name}" ORDER BY ALL')
            tables[name] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
        return tables
    finally:
        store.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def child_env() -> dict[str, str]:
    """The child imports the same clustomer as this test (a checkout's src/ included)."""
    import clustomer

    env = dict(os.environ)
    src = str(Path(clustomer.__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return env


def start_driver(tmp_path: Path, workspace: Path, file: Path, point: str) -> subprocess.Popen[str]:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    return subprocess.Popen(
        [sys.executable, str(script), str(workspace), str(file), point],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )


def wait_for(proc: subprocess.Popen[str], word: str) -> None:
    """Read the child's stderr until it says ``word`` (it fails if the child ends first)."""
    assert proc.stderr is not None
    said = []
    for line in proc.stderr:
        said.append(line)
        if line.strip() == word:
            return
    proc.wait()
    pytest.fail(f"the child ended (rc {proc.returncode}) before {word!r}: {''.join(said)[-2000:]}")


def kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
    if proc.stderr is not None:
        proc.stderr.close()


def rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/PID/io")


def holds_open(pid: int, file: Path) -> bool:
    target = str(file.resolve())
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == target:
                return True
        except OSError:
            continue
    return False


def wait_until_reading(proc: subprocess.Popen[bytes], file: Path) -> None:
    """Until the child has the file open and has read 1.2 times its size since.

    The hash of the file accounts for one size; the rest is DuckDB's read under way.
    """
    size = file.stat().st_size
    deadline = time.monotonic() + 120
    baseline = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the import ended (rc {proc.returncode}) before it could be killed")
        try:
            if baseline is None:
                if holds_open(proc.pid, file):
                    baseline = rchar(proc.pid)
            elif rchar(proc.pid) - baseline >= 1.2 * size:
                return
        except FileNotFoundError:  # the child is going away; poll() says how
            pass
        time.sleep(0.002)
    pytest.fail("the import did not start reading its file within 120 s")


def count(workspace: Path, table: str) -> int:
    with Workspace(workspace, create=False) as ws:
        return int(ws.store.scalar(f"SELECT count(*) FROM {table}"))


def check_rerun(workspace: Path, file: Path, before: dict[str, Any], lines: int) -> None:
    """The import runs again to the end and adds exactly its lines, once."""
    with Workspace(workspace) as ws:
        summary = ws.import_file(file)
    assert not summary.already_imported
    assert summary.rows_read == summary.rows_kept == lines
    assert count(workspace, "imports") == before["imports"][0] + 1
    assert count(workspace, "order_lines") == before["order_lines"][0] + lines


# -- kill -------------------------------------------------------------------------------
def test_sigkill_mid_read_leaves_every_byte_and_the_rerun_completes(
    disk_ws: Path, big_csv: Path
) -> None:
    before, digest, listing = snapshot(disk_ws), sha(disk_ws), sorted(os.listdir(disk_ws.parent))
    proc = subprocess.Popen(
        [sys.executable, "-m", "clustomer", "import", str(big_csv), "-w", str(disk_ws), "--json"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=child_env(),
    )
    wait_until_reading(proc, big_csv)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    # the file is read into memory first: the workspace was never written
    assert sha(disk_ws) == digest
    assert sorted(os.listdir(disk_ws.parent)) == listing  # no .wal, no temporary file
    assert snapshot(disk_ws) == before
    check_rerun(disk_ws, big_csv, before, BIG_LINES)


@pytest.mark.parametrize("point", ["staged", "inserted"])
def test_sigkill_before_the_commit_changes_nothing(
    tmp_path: Path, disk_ws: Path, hook_csv: Path, point: str
) -> None:
    before, digest = snapshot(disk_ws), sha(disk_ws)
    proc = start_driver(tmp_path, disk_ws, hook_csv, point)
    wait_for(proc, point)
    kill(proc)
    if point == "staged":
        assert sha(disk_ws) == digest  # nothing written before the transaction
    # "inserted": DuckDB may have written the new rows' blocks already; they are not part
    # of the workspace until COMMIT, so every table reads as before
    assert snapshot(disk_ws) == before
    check_rerun(disk_ws, hook_csv, before, HOOK_LINES)


def test_sigkill_during_the_commit_is_all_or_nothing(
    tmp_path: Path, disk_ws: Path, hook_csv: Path
) -> None:
    before = snapshot(disk_ws)
    wal = disk_ws.with_name(disk_ws.name + ".wal")
    proc = start_driver(tmp_path, disk_ws, hook_csv, "commit")
    wait_for(proc, "commit")
    deadline = time.monotonic() + 60
    while not (wal.exists() and wal.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.0005)
    assert wal.exists(), "COMMIT never wrote the log"
    kill(proc)  # while COMMIT writes the log (on this machine), or just after it returned
    state = snapshot(disk_ws)
    with Workspace(disk_ws) as ws:
        again = ws.import_file(hook_csv)
        kept = ws.store.rows(
            "SELECT i.import_id, i.rows_kept + i.extra_lines, count(l.import_id) "
            "FROM imports i LEFT JOIN order_lines l USING (import_id) "
            "GROUP BY ALL ORDER BY 1"
        )
    if state == before:  # the kill came first: nothing of the import is there
        assert not again.already_imported
    else:  # COMMIT finished: all of it is there, and the re-run recognises it
        assert again.already_imported
        assert state["imports"][0] == before["imports"][0] + 1
        assert state["order_lines"][0] == before["order_lines"][0] + HOOK_LINES
    assert len(kept) == 2 and all(expected == found for _, expected, found in kept)


# -- a second writer ------------------------------------------------------------------------
def test_second_writer_process_gets_the_in_use_error(
    tmp_path: Path, disk_ws: Path, data_dir: Path
) -> None:
    digest = sha(disk_ws)
    few = write_orders(tmp_path / "few.csv", 1000)
    holder = start_driver(tmp_path, disk_ws, few, "staged")  # an import under way
    try:
        wait_for(holder, "staged")
        for args in (["import", str(data_dir / "generic_orders.csv")], ["quality"]):
            second = subprocess.run(
                [sys.executable, "-m", "clustomer", *args, "-w", str(disk_ws)],
                capture_output=True,
                text=True,
                timeout=120,
                env=child_env(),
            )
            assert second.returncode == WorkspaceError.exit_code == 3, second.stderr
            assert second.stdout == ""
            message = second.stderr.strip()
            assert "\n" not in message and "Traceback" not in message
            assert f"workspace {disk_ws} is in use by another" in message
            assert f"(process {holder.pid})" in message
        with pytest.raises(WorkspaceError, match=f"in use by another .*process {holder.pid}"):
            Workspace(disk_ws)
    finally:
        kill(holder)
    assert sha(disk_ws) == digest  # the holder was stopped before its commit
    with Workspace(disk_ws) as ws:  # free again
        assert len(ws.imports()) == 1


def test_a_second_open_in_this_process_is_refused_and_keeps_the_lock(disk_ws: Path) -> None:
    # POSIX drops a process's lock when it closes any descriptor of the file: the second
    # open must not even read the header, or another process could open the file too
    first = Store(disk_ws)
    try:
        with pytest.raises(WorkspaceError, match="already open in this program"):
            Store(disk_ws)
        other = subprocess.run(
            [sys.executable, "-c", f"import duckdb; duckdb.connect({str(disk_ws)!r})"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert other.returncode != 0 and "Conflicting lock" in other.stderr
    finally:
        first.close()
    with Workspace(disk_ws) as ws:  # closed: it opens again
        assert len(ws.imports()) == 1
    dropped = Store(disk_ws)  # never closed, but collected: its connection is gone
    del dropped
    gc.collect()
    Store(disk_ws).close()


# -- a long statement -------------------------------------------------------------------
def test_long_statements_print_nothing_and_report_their_progress(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # DuckDB draws its own bar on standard output for statements longer than
    # progress_bar_time: that would corrupt --json; the store keeps only the tracking
    store = Store(tmp_path / "w.duckdb")
    seen: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            done = store.query_progress()
            if done is not None:
                seen.append(done)
            time.sleep(0.002)

    try:
        store.execute("SET progress_bar_time = 1")  # the bar would start after 1 ms
        watcher = threading.Thread(target=poll)
        watcher.start()
        try:
            total = store.scalar("SELECT sum(i) FROM range(60000000) t(i)")
        finally:
            stop.set()
            watcher.join()
    finally:
        store.close()
    assert total == 60_000_000 * (60_000_000 - 1) // 2
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert seen and all(0 <= done <= 100 for done in seen)
