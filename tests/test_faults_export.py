"""Failed writes of output files: nothing partial is left, and the previous file stays.

``export.safety.atomic_file`` is the one way outputs are written. Here it meets a disk
that fills up in the middle of the file (``ENOSPC`` from a write, or from the flush),
a read-only folder or file, a folder where the file should be, and Ctrl-C. The main
job's own outputs (``segments.csv``, ``report.html``, the recommendations CSV) are then
written for real in a child process whose files may not grow past 64 KiB
(``RLIMIT_FSIZE``), which fails their writes the way a full disk does.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import clustomer.export.safety as safety
from clustomer import Workspace
from clustomer.errors import ClustomerError, InputError
from clustomer.export import export_segment, write_csv_atomic
from clustomer.export.safety import atomic_file
from test_export import add_contacts, make_run

PREVIOUS = b"previous file\n"
ROWS = [[f"k{i}@example.com", f"name {i}"] for i in range(2000)]  # ~50 KB


class FullDisk:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, inner: Any, room: int) -> None:
        self.inner = inner
        self.room = room
        self.written = 0

    def write(self, data: Any) -> int:
        left = self.room - self.written
        if len(data) > left:
            self.inner.write(data[:left])
            self.inner.flush()
            self.written = self.room
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += len(data)
        return int(self.inner.write(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __enter__(self) -> FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.inner.close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> list[FullDisk]:
    """Every file ``atomic_file`` opens fills the disk after 4 KiB; the files, to inspect."""
    opened: list[FullDisk] = []
    real = os.fdopen

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> FullDisk:
        opened.append(FullDisk(real(fd, *args, **kwargs), room=4096))
        return opened[-1]

    monkeypatch.setattr(safety.os, "fdopen", fdopen)
    return opened


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_full_disk_mid_file_keeps_the_previous_file(tmp_path: Path, full_disk: list) -> None:
    out = tmp_path / "audience.csv"
    out.write_bytes(PREVIOUS)
    with pytest.raises(ClustomerError) as info:
        write_csv_atomic(out, ["Email", "Name"], ROWS)
    assert str(info.value) == f"cannot write {out}: No space left on device"
    assert full_disk[0].written == 4096  # it failed in the middle of the file
    assert out.read_bytes() == PREVIOUS
    assert names(tmp_path) == ["audience.csv"]  # the temporary file is gone


def test_full_disk_in_a_new_file_leaves_no_file(tmp_path: Path, full_disk: list) -> None:
    with pytest.raises(ClustomerError, match="No space left on device"):
        with atomic_file(tmp_path / "segments.csv", binary=True) as fh:
            for row in ROWS:
                fh.write((",".join(row) + "\n").encode())
    assert names(tmp_path) == []


def test_full_disk_at_the_flush_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # some file systems (NFS, quotas) report the full disk only when data reaches it
    def fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(safety.os, "fsync", fsync)
    out = tmp_path / "report.html"
    out.write_bytes(PREVIOUS)
    with pytest.raises(ClustomerError, match="report.html: No space left on device"):
        with atomic_file(out) as fh:
            fh.write("<html>" * 1000)
    assert out.read_bytes() == PREVIOUS and names(tmp_path) == ["report.html"]


def test_read_only_folder_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "a.csv"
    out.write_bytes(PREVIOUS)

    def mkstemp(*args: Any, **kwargs: Any) -> Any:  # what a read-only folder answers
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(safety.tempfile, "mkstemp", mkstemp)
    with pytest.raises(ClustomerError, match=f"cannot write {out}: Permission denied"):
        write_csv_atomic(out, ["Email"], ROWS)
    assert out.read_bytes() == PREVIOUS and names(tmp_path) == ["a.csv"]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders"
)
def test_read_only_folder_for_real(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    out = folder / "a.csv"
    out.write_bytes(PREVIOUS)
    folder.chmod(0o555)
    try:
        with pytest.raises(ClustomerError, match="Permission denied"):
            write_csv_atomic(out, ["Email"], ROWS)
        assert out.read_bytes() == PREVIOUS and names(folder) == ["a.csv"]
    finally:
        folder.chmod(0o755)


def test_read_only_file_is_not_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "a.csv"
    out.write_bytes(PREVIOUS)
    out.chmod(0o444)
    # root may write anything: answer as the file's permissions do
    monkeypatch.setattr(safety.os, "access", lambda p, mode: not os.stat(p).st_mode & 0o200 == 0)
    with pytest.raises(ClustomerError, match=f"cannot write {out}: it is read-only"):
        write_csv_atomic(out, ["Email"], ROWS)
    assert out.read_bytes() == PREVIOUS and names(tmp_path) == ["a.csv"]


def test_target_that_is_a_folder_is_refused_and_untouched(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.mkdir()
    (target / "inside.txt").write_bytes(PREVIOUS)
    with pytest.raises(InputError, match="is a folder"):
        with atomic_file(target) as fh:
            fh.write("never")
    assert names(tmp_path) == ["out.csv"] and names(target) == ["inside.txt"]


def test_ctrl_c_while_writing_keeps_the_previous_file(tmp_path: Path) -> None:
    out = tmp_path / "a.csv"
    out.write_bytes(PREVIOUS)

    def rows() -> Any:
        yield from ROWS[:500]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_csv_atomic(out, ["Email", "Name"], rows())
    assert out.read_bytes() == PREVIOUS and names(tmp_path) == ["a.csv"]


def test_modes_and_links(tmp_path: Path) -> None:
    new = tmp_path / "new.csv"
    write_csv_atomic(new, ["Email"], [["a@example.com"]])
    assert new.stat().st_mode & 0o777 == 0o600  # personal data: the owner's alone
    kept = tmp_path / "kept.csv"
    kept.write_bytes(PREVIOUS)
    kept.chmod(0o640)
    write_csv_atomic(kept, ["Email"], [["a@example.com"]])
    assert kept.stat().st_mode & 0o777 == 0o640
    real = tmp_path / "real.html"
    real.write_bytes(PREVIOUS)
    link = tmp_path / "link.html"
    link.symlink_to(real)
    with atomic_file(link, new_mode=0o644) as fh:
        fh.write("<html></html>")
    assert link.is_symlink() and real.read_text() == "<html></html>"


def test_failed_audience_export_keeps_the_previous_export(
    ws: Workspace, tmp_path: Path, full_disk: list
) -> None:
    keys = [f"K{i}" for i in range(120)]  # enough rows to pass the 4 KiB the disk holds
    make_run(ws.store, {"Champions": keys})
    add_contacts(ws.store, [(k, f"{k.lower()}@example.com", "Ann", "Lee", True) for k in keys])
    out = tmp_path / "champions.csv"
    out.write_bytes(PREVIOUS)
    with pytest.raises(ClustomerError, match="No space left on device"):
        export_segment(ws.store, "Champions", fmt="klaviyo", out=out, holdout="10%", seed=1)
    assert full_disk and full_disk[0].written == 4096
    assert out.read_bytes() == PREVIOUS and names(tmp_path) == ["champions.csv"]
    assert ws.store.scalar("SELECT count(*) FROM audiences") == 0  # nothing recorded


# -- the main job's outputs, on a disk that fills up -------------------------------------
CHILD = """
import json, os, resource, signal, sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from clustomer import Workspace
from clustomer.pipeline import write_segments_csv
from clustomer.recommend import RECOMMENDATION_COLUMNS
from clustomer.report import write_report
from clustomer.report.summarize import _example_result, summarize_run

out = Path(sys.argv[1])
n = 5000
table = pd.DataFrame({
    "customer_key": [f"C{i:05d}" for i in range(n)],
    "segment_id": [i % 4 for i in range(n)],
    "segment_name": ["Loyal"] * n,
    "recency_days": [i / 3 for i in range(n)],
})
run = SimpleNamespace(table=lambda: table.copy())
summary = summarize_run(_example_result(), imports=[], run={})
recs = pd.DataFrame({
    "customer_key": [f"C{i // 10:05d}" for i in range(n)],
    "rank": [1 + i % 10 for i in range(n)],
    "product_id": [f"P{i % 97}" for i in range(n)],
    "product_name": [f"Product number {i % 97}" for i in range(n)],
    "score": [1 / (1 + i % 10) for i in range(n)],
    "reason": ["bought before"] * n,
})
assert list(recs.columns) == list(RECOMMENDATION_COLUMNS)
ws = Workspace(":memory:")
ws.recommendations = lambda **options: recs
writers = {
    "segments.csv": lambda path: write_segments_csv(run, path),
    "report.html": lambda path: write_report(summary, path),
    "recommendations.csv": lambda path: ws.write_recommendations(path),
}
for name in writers:
    (out / name).write_text("previous file\\n")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, hard))
outcomes = {}
for name, write in writers.items():
    try:
        write(out / name)
        outcomes[name] = "written"
    except Exception as exc:
        outcomes[name] = f"{type(exc).__name__}: {exc}"
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
print(json.dumps({
    "outcomes": outcomes,
    "files": sorted(os.listdir(out)),
    "contents": {name: (out / name).read_text(errors="replace")[:100] for name in writers},
}))
"""


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("outputs")
    env = dict(os.environ)
    src = str(Path(safety.__file__).parents[2])  # this checkout's clustomer
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    result: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize(
    "name",
    [
        "report.html",
        "recommendations.csv",
        "segments.csv",
    ],
)
def test_main_job_output_on_a_full_disk(full_disk_run: dict[str, Any], name: str) -> None:
    outcome = full_disk_run["outcomes"][name]
    assert outcome.startswith("ClustomerError: ") and "File too large" in outcome, outcome
    assert name in outcome  # the message names the output, not a temporary file
    assert full_disk_run["contents"][name] == PREVIOUS.decode()
    assert [f for f in full_disk_run["files"] if f.startswith(f".{name}")] == []
