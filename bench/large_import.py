"""clustomer benchmark: import a ~2 GB CSV; peak memory, and what the terminal shows.

Not a test: it measures and reports. Steps:

1. generate the CSV with ``bench/generate.py`` (through ``run.generate_if_needed``, in a
   child process) into a temporary folder: 21M lines in the generic layout, about
   2.0 GB (the 10M-line file is 969 MB); or take ``--file``;
2. run ``clustomer import FILE --workspace TMP/large.duckdb`` in a child process whose
   standard error is a pseudo-terminal, so that it draws what a person would see (the
   account table goes to standard output); then ``clustomer quality --json`` for the
   account;
3. while it runs, sample the child's ``VmRSS`` and ``VmHWM`` (``/proc/PID/status``) and
   how much it has read (``rchar``, ``/proc/PID/io``) every 0.1 s; at the end take its
   peak RSS from ``os.wait4`` as well;
4. report the file size, lines, wall time, peak RSS (and its ratio to the file size), the
   RSS at each 10 % of the file read (memory that grows with the file is not streaming),
   whether a progress bar was drawn on the terminal (a percentage or bar characters,
   not just a spinner), and whether DuckDB's own progress bar leaked onto standard
   output;
5. delete the CSV and the workspace (``--keep`` keeps them).

Usage::

    .venv/bin/python bench/large_import.py                 # ~2 GB: a few minutes on 2 cores
    .venv/bin/python bench/large_import.py --lines 2000000 # quick check (~200 MB)

Results go to ``bench/large_import.json`` (``--results``) and a summary is printed. Linux
only (``/proc``). The generator needs about 2.5 GB of memory per 10M lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pty
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import run as bench_run  # noqa: E402  (bench/run.py: the generator's driver)

DEFAULT_LINES = 21_000_000
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")
BAR_GLYPHS = ("━", "█", "▏", "▕", "╸", "╺")
PERCENT = re.compile(r"\b\d{1,3}(?:\.\d)?%")


def status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB (empty once it is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return out


def rchar(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return None


def clustomer() -> str:
    exe = Path(sys.executable).parent / "clustomer"
    if not exe.exists():
        exe = ROOT / ".venv" / "bin" / "clustomer"
    return str(exe)


def account(workspace: Path) -> dict[str, Any]:
    """The import's account, from ``clustomer quality --json``."""
    done = subprocess.run(
        [clustomer(), "quality", "--workspace", str(workspace), "--json"],
        capture_output=True,
        text=True,
    )
    found = bench_run.parse_json_object(done.stdout) or {}
    keys = ("rows_read", "rows_kept", "rows_dropped", "customers", "orders", "seconds", "layout")
    return {k: found.get(k) for k in keys}


def run_import(cmd: list[str], file_bytes: int, timeout: float) -> dict[str, Any]:
    """Run the import with stderr on a pseudo-terminal; sample memory and reads."""
    master, slave = pty.openpty()
    env = dict(os.environ, TERM=os.environ.get("TERM", "xterm-256color"), COLUMNS="100")
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        screen = bytearray()

        def drain() -> None:
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed its end
                    return
                if not chunk:
                    return
                screen.extend(chunk)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        samples: list[dict[str, Any]] = []
        hwm = 0
        while True:
            done, status, usage = os.wait4(proc.pid, os.WNOHANG)  # reaps it here, not Popen
            if done:
                break
            mem = status_kib(proc.pid)
            read = rchar(proc.pid)
            hwm = max(hwm, mem.get("VmHWM", 0))
            samples.append(
                {
                    "t": round(time.perf_counter() - t0, 2),
                    "rss_mb": round(mem.get("VmRSS", 0) / 1024, 1),
                    "rchar": read,
                }
            )
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        reader.join(timeout=5)
        os.close(master)
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    text = ANSI.sub("\n", screen.decode(errors="replace"))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return {
        "cmd": cmd,
        "rc": proc.returncode,
        "wall_s": round(wall, 2),
        "user_s": round(usage.ru_utime, 2),
        "sys_s": round(usage.ru_stime, 2),
        "peak_rss_mb_wait4": round(usage.ru_maxrss / 1024, 1),
        "peak_rss_mb_vmhwm": round(hwm / 1024, 1),
        "samples": samples,
        "rss_by_read": rss_by_read(samples, file_bytes),
        "terminal_lines": sorted(set(lines))[:40],
        "progress_bar": any(g in text for g in BAR_GLYPHS) or bool(PERCENT.search(text)),
        "duckdb_bar_on_stdout": bool(re.search(r"\d+% ▕", stdout)),
        "stdout_tail": stdout[-1500:],
    }


def rss_by_read(samples: list[dict[str, Any]], file_bytes: int) -> list[dict[str, Any]]:
    """The RSS when the child had read each further 10 % of the file's size (``rchar``;
    the hash of the file and DuckDB's scan both count, so it passes 100 %)."""
    marks: list[dict[str, Any]] = []
    base = next((s["rchar"] for s in samples if s["rchar"]), 0) or 0
    step = file_bytes / 10
    next_mark = step
    for s in samples:
        if s["rchar"] is None:
            continue
        while s["rchar"] - base >= next_mark:
            pct = round(100 * next_mark / file_bytes)
            marks.append({"read_pct": pct, "t": s["t"], "rss_mb": s["rss_mb"]})
            next_mark += step
    return marks


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(8 << 20), b"")) - 1


def machine() -> dict[str, Any]:
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_before": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=DEFAULT_LINES, help="lines to generate")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--file", default=None, help="import this CSV instead (not deleted)")
    ap.add_argument("--tmpdir", default=None, help="where the CSV and workspace go")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds for the import")
    ap.add_argument("--keep", action="store_true", help="keep the generated CSV and workspace")
    ap.add_argument("--results", default=str(BENCH / "large_import.json"))
    args = ap.parse_args(argv)
    if not Path("/proc/self/status").exists():
        raise SystemExit("bench/large_import.py needs Linux (/proc)")

    tmp = Path(tempfile.mkdtemp(prefix="clustomer-large-", dir=args.tmpdir))
    result: dict[str, Any] = {"machine": machine()}
    try:
        if args.file:
            file = Path(args.file).resolve()
            result["generate_s"] = None
        else:
            args.data = str(tmp)
            t0 = time.perf_counter()
            meta = bench_run.generate_if_needed(args)
            result["generate_s"] = round(time.perf_counter() - t0, 1)
            file = Path(meta["path"]).resolve()
        size = file.stat().st_size
        result["file"] = {"name": file.name, "bytes": size, "lines": count_lines(file)}
        print(
            f"importing {file.name}: {size / 1e9:.2f} GB, {result['file']['lines']:,} lines",
            file=sys.stderr,
        )
        workspace = tmp / "large.duckdb"
        cmd = [clustomer(), "import", str(file), "--workspace", str(workspace)]
        res = run_import(cmd, size, args.timeout)
        res["account"] = account(workspace) if res["rc"] == 0 else None
        res["workspace_mb"] = (
            round((tmp / "large.duckdb").stat().st_size / 1e6, 1)
            if (tmp / "large.duckdb").exists()
            else None
        )
        result["import"] = res
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    result["machine"]["load_after"] = os.getloadavg()[0]
    Path(args.results).write_text(json.dumps(result, indent=2) + "\n")

    imp = result["import"]
    peak = max(imp["peak_rss_mb_wait4"], imp["peak_rss_mb_vmhwm"])
    print(
        json.dumps(
            {
                "file_gb": round(result["file"]["bytes"] / 1e9, 3),
                "lines": result["file"]["lines"],
                "rc": imp["rc"],
                "wall_s": imp["wall_s"],
                "peak_rss_mb": peak,
                "peak_rss_over_file_size": round(peak * 2**20 / result["file"]["bytes"], 2),
                "rss_by_read": imp["rss_by_read"],
                "progress_bar": imp["progress_bar"],
                "terminal_lines": imp["terminal_lines"][:5],
                "duckdb_bar_on_stdout": imp["duckdb_bar_on_stdout"],
                "account": imp["account"],
            },
            indent=1,
        )
    )
    return 0 if imp["rc"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
