"""clustomer benchmark: end to end against two baselines, on one synthetic CSV.

``make bench`` runs this with the defaults (10M lines). For a quick check::

    .venv/bin/python bench/run.py --lines 200000

Steps: generate the CSV if it is not there (bench/generate.py), read it once so that every
measurement finds it in the page cache, then, in rounds so that drift hits all alike:

- ``e2e``: ``clustomer segment FILE --workspace TMP/bench.duckdb --out TMP/out --json``
  with a fresh workspace each time; its stdout's ``"timings"`` are kept per stage;
- ``bare``: baseline (a), ``bench/baselines.py bare FILE``;
- ``notebook``: baseline (b), ``bench/baselines.py notebook FILE``;
- ``store``: (c), not a target: ``bench/baselines.py store FILE``, the cost of storing
  the file's lines in a DuckDB file at all, the floor under clustomer's import.

Each command runs in its own child process; wall time is measured here and peak RSS comes
from ``os.wait4`` for that child alone (it includes any grandchildren it waited for).
A failing command is reported with its stderr and the others go on. Results go to
bench/results.json and a Markdown table is printed for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

TARGET_E2E_OVER_BARE = 4.0
TARGET_NOTEBOOK_OVER_E2E = 2.0
TARGET_E2E_RSS_MB = 1536.0

NAMES = {
    "e2e": "clustomer segment (end to end)",
    "bare": "(a) bare DuckDB RFM query",
    "notebook": "(b) pandas + scikit-learn notebook",
    "store": "(c) DuckDB: store the lines in a file (floor)",
}


# --------------------------------------------------------------------------- measuring


def measure(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run ``cmd`` as a child; wall seconds, peak RSS (MB) of that child, rc, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        except OSError as exc:
            return {
                "rc": None,
                "wall_s": 0.0,
                "peak_rss_mb": None,
                "stdout": "",
                "stderr": str(exc),
            }
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            os.wait4(proc.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return {
            "rc": proc.returncode,
            "timed_out": timed_out.is_set(),
            "wall_s": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
            "user_s": usage.ru_utime,
            "sys_s": usage.ru_stime,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


def parse_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object printed on stdout: the whole text, else the last line that is one."""
    text = text.strip()
    try:
        value = json.loads(text)
        return value if isinstance(value, dict) else None
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def numeric_timings(obj: dict[str, Any] | None) -> dict[str, float]:
    """The numbers under ``"timings"``, nested dicts flattened as ``outer.inner``."""
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[prefix] = float(value)

    raw = (obj or {}).get("timings")
    if isinstance(raw, dict):
        walk("", raw)
    return out


def tail(text: str, n: int = 3000) -> str:
    """The end of a child's stderr, after the first lines that name an error (a JVM's
    ``OutOfMemoryError`` is logged long before the Python traceback that ends the run)."""
    if len(text) <= n:
        return text
    causes = [
        line
        for line in text.splitlines()
        if ("Error" in line or "Exception" in line) and not line.startswith((" ", "\t"))
    ][:5]
    head = "first errors:\n" + "\n".join(causes) + "\n" if causes else ""
    return head + "...\n" + text[-n:]


def e2e_command(template: str | None, file: Path, workspace: Path, out: Path) -> list[str]:
    subs = {
        "{python}": sys.executable,
        "{file}": str(file),
        "{workspace}": str(workspace),
        "{out}": str(out),
    }
    if template is None:
        exe = Path(sys.executable).parent / "clustomer"
        if not exe.exists():
            exe = ROOT / ".venv" / "bin" / "clustomer"
        template = f"{shlex.quote(str(exe))} segment {{file}} --workspace {{workspace}} "
        template += "--out {out} --json"
    parts = shlex.split(template)
    for key, value in subs.items():
        parts = [p.replace(key, value) for p in parts]
    return parts


def run_one(kind: str, file: Path, args: argparse.Namespace) -> dict[str, Any]:
    if kind == "e2e":
        with tempfile.TemporaryDirectory(prefix="clustomer-bench-", dir=args.tmpdir) as tmp:
            workspace, out = Path(tmp) / "bench.duckdb", Path(tmp) / "out"
            cmd = e2e_command(args.e2e_cmd, file, workspace, out)
            res = measure(cmd, args.timeout)
    else:
        cmd = [sys.executable, str(BENCH / "baselines.py"), kind, str(file)]
        res = measure(cmd, args.timeout)
    res["cmd"] = shlex.join(cmd)
    obj = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
    res["ok"] = res["rc"] == 0 and (kind == "e2e" or obj is not None)
    res["timings"] = numeric_timings(obj)
    if obj is not None and kind != "e2e":
        res["in_process_s"] = obj.get("in_process_seconds")
        res["summary"] = obj.get("summary")
        res["detail"] = {k: v for k, v in obj["timings"].items() if k not in res["timings"]}
    if obj is not None and kind == "e2e":
        res["output"] = obj if len(json.dumps(obj)) <= 20_000 else {"keys": sorted(obj)}
    elif res["ok"] and kind == "e2e":
        res["stdout_tail"] = tail(res["stdout"], 2000)
        print("warning: clustomer printed no JSON object on stdout", file=sys.stderr)
    if res["ok"]:
        res.pop("stderr")
    else:
        res["stderr"] = tail(res["stderr"])
    res.pop("stdout")
    return res


# --------------------------------------------------------------------------- reporting


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if r["ok"]]
    stages: dict[str, list[float]] = {}
    for r in ok:
        for k, v in r["timings"].items():
            stages.setdefault(k, []).append(v)
    return {
        "runs": len(runs),
        "ok_runs": len(ok),
        "wall_s": median_or_none([r["wall_s"] for r in ok]),
        "peak_rss_mb_max": max((r["peak_rss_mb"] for r in ok), default=None),
        "peak_rss_mb_median": median_or_none([r["peak_rss_mb"] for r in ok]),
        "timings": {k: statistics.median(v) for k, v in stages.items()},
    }


def machine_info() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gib = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    env_keys = (
        "OPENBLAS_CORETYPE",
        "OPENBLAS_L2_SIZE",
        "OPENBLAS_NUM_THREADS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    )
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "ram_gib": ram_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            d: version(d)
            for d in ("clustomer", "duckdb", "scikit-learn", "pandas", "numpy", "pyarrow")
        },
        "env": {k: os.environ.get(k) for k in env_keys},
        "git_commit": commit or None,
    }


def ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def verdict(value: float | None, goal: float, at_most: bool) -> str:
    if value is None:
        return "n/a"
    return "PASS" if (value <= goal if at_most else value >= goal) else "MISS"


def targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    e2e = summary.get("e2e", {})
    bare = summary.get("bare", {})
    nb = summary.get("notebook", {})
    e2e_wall = e2e.get("wall_s")
    bare_query = bare.get("timings", {}).get("query")
    nb_total = nb.get("timings", {}).get("total")
    rows = [
        {
            "name": "e2e / (a)",
            "how": "e2e wall (incl. start-up) / (a) query time",
            "value": ratio(e2e_wall, bare_query),
            "goal": TARGET_E2E_OVER_BARE,
            "at_most": True,
            "unit": "x",
        },
        {
            "name": "(b) / e2e",
            "how": "(b) in-process total / e2e wall (incl. start-up)",
            "value": ratio(nb_total, e2e_wall),
            "goal": TARGET_NOTEBOOK_OVER_E2E,
            "at_most": False,
            "unit": "x",
        },
        {
            "name": "e2e peak RSS",
            "how": "max over runs, MB = MiB",
            "value": e2e.get("peak_rss_mb_max"),
            "goal": TARGET_E2E_RSS_MB,
            "at_most": True,
            "unit": "MB",
        },
    ]
    for row in rows:
        row["result"] = verdict(row["value"], row["goal"], row["at_most"])
    store_query = summary.get("store", {}).get("timings", {}).get("query")
    if store_query is not None:  # context for the first target, not a target itself
        rows.append(
            {
                "name": "(c) / (a)",
                "how": "storing the lines alone / (a): the floor under e2e / (a)",
                "value": ratio(store_query, bare_query),
                "goal": None,
                "at_most": True,
                "unit": "x",
                "result": "info",
            }
        )
    return rows


def fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def table_rows(summary: dict[str, dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(what, median seconds, peak RSS MB, runs) rows, shared by both tables."""
    rows: list[tuple[str, str, str, str]] = []
    for kind, s in summary.items():
        runs = f"{s['ok_runs']}/{s['runs']}"
        rss = fmt(s["peak_rss_mb_max"], 0)
        if kind == "e2e":
            rows.append((NAMES[kind] + ", wall", fmt(s["wall_s"]), rss, runs))
            for stage, sec in s["timings"].items():
                rows.append((f"  stage: {stage}", fmt(sec), "", ""))
        elif kind in ("bare", "store"):
            rows.append((NAMES[kind], fmt(s["timings"].get("query")), rss, runs))
            rows.append(("  child wall (incl. start-up)", fmt(s["wall_s"]), "", ""))
        else:
            t = s["timings"]
            rows.append((NAMES[kind] + ", total", fmt(t.get("total")), rss, runs))
            for key in ("read", "aggregate", "read_aggregate", "kmeans", "silhouette"):
                label = "read + aggregate" if key == "read_aggregate" else key
                rows.append((f"  {label}", fmt(t.get(key)), "", ""))
            rows.append(("  child wall (incl. start-up)", fmt(s["wall_s"]), "", ""))
    return rows


def print_plain(results: dict[str, Any]) -> None:
    m = results["machine"]
    print()
    print(
        f"machine: {m['nproc']} CPUs ({m['usable_cpus']} usable), {m['cpu_model']}, "
        f"{m['ram_gib']} GiB RAM, {m['platform']}"
    )
    v = m["versions"]
    print(
        f"python {m['python']}, clustomer {v['clustomer']}, duckdb {v['duckdb']}, "
        f"scikit-learn {v['scikit-learn']}, pandas {v['pandas']}, numpy {v['numpy']}, "
        f"pyarrow {v['pyarrow']}"
    )
    env = ", ".join(f"{k}={val if val is not None else '(unset)'}" for k, val in m["env"].items())
    print(f"env: {env}")
    d = results["dataset"]
    print(
        f"data: {d['path']} ({d['size_bytes'] / 1e6:,.0f} MB, {d['lines']:,} lines, "
        f"{d['customers']:,} customers, generated in {fmt(d['generate_seconds'], 1)} s)"
    )
    print()
    rows = table_rows(results["summary"])
    w = max(len(r[0]) for r in rows)
    print(f"{'':{w}}  {'median s':>9}  {'peak RSS MB':>11}  {'runs':>5}")
    for what, sec, rss, runs in rows:
        print(f"{what:{w}}  {sec:>9}  {rss:>11}  {runs:>5}")
    print()
    for t in results["targets"]:
        op = "<=" if t["at_most"] else ">="
        print(
            f"{t['name']:14} {fmt(t['value']):>9} {t['unit']:2}  "
            + (f"target {op} {t['goal']:g}  " if t["goal"] is not None else "(no target)  ")
            + f"{t['result']:4}  ({t['how']})"
        )


def markdown(results: dict[str, Any]) -> str:
    m, d = results["machine"], results["dataset"]
    v = m["versions"]
    coretype = m["env"]["OPENBLAS_CORETYPE"]
    lines = [
        f"Data: {d['lines']:,} lines, {d['customers']:,} customers, "
        f"{d['size_bytes'] / 1e6:,.0f} MB CSV (`bench/generate.py`, seed {d['seed']}). "
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['ram_gib']} GiB RAM; "
        f"Python {m['python']}, DuckDB {v['duckdb']}, scikit-learn {v['scikit-learn']}, "
        f"pandas {v['pandas']}; OPENBLAS_CORETYPE "
        f"{'=' + coretype if coretype is not None else 'unset'}. "
        f"Medians of {results['config']['repeat']} runs "
        f"({results['config']['repeat_notebook']} for the notebook), warm page cache.",
        "",
        "| Measurement | Median s | Peak RSS MB | Runs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, sec, rss, runs in table_rows(results["summary"]):
        label = what.strip()
        if what.startswith("  "):
            label = "&nbsp;&nbsp;↳ " + label
        lines.append(f"| {label} | {sec} | {rss} | {runs} |")
    lines += ["", "| Target | Value | Goal | Result |", "| --- | ---: | ---: | --- |"]
    for t in results["targets"]:
        op = "≤" if t["at_most"] else "≥"
        unit = "×" if t["unit"] == "x" else " MB"
        value = "–" if t["value"] is None else f"{t['value']:,.2f}{unit}"
        goal = f"{op} {t['goal']:g}{unit}" if t["goal"] is not None else "–"
        lines.append(f"| {t['name']} ({t['how']}) | {value} | {goal} | {t['result']} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def warm_cache(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass
    return time.perf_counter() - t0


def generate_if_needed(args: argparse.Namespace, customers: int | None = None) -> dict[str, Any]:
    """Run bench/generate.py in a child process (this one stays small: its RSS at fork is
    the floor of every child's peak RSS) and return the file's metadata."""
    cmd = [sys.executable, str(BENCH / "generate.py"), "--lines", str(args.lines)]
    cmd += ["--seed", str(args.seed), "--out", args.data, "--json"]
    if customers is not None:  # default: the generator's (4.5% of the lines)
        cmd += ["--customers", str(customers)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
    meta = parse_json_object(done.stdout)
    if meta is None:
        raise SystemExit(f"bench/generate.py printed no metadata: {done.stdout!r}")
    return meta


def ensure_csv(args: argparse.Namespace) -> Path:
    """The CSV a bench script works on: ``--file`` if given, else the generated one."""
    if getattr(args, "file", None):
        return Path(args.file).resolve()
    return Path(generate_if_needed(args)["path"]).resolve()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000, help="lines to generate")
    ap.add_argument("--customers", type=int, default=None, help="default: 4.5%% of --lines")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--data", default=str(BENCH / "data"), help="where generated CSVs live")
    ap.add_argument("--file", default=None, help="use this CSV (generic layout) instead")
    ap.add_argument("--repeat", type=int, default=3, help="runs of e2e and (a)")
    ap.add_argument("--repeat-notebook", type=int, default=1, help="runs of (b)")
    ap.add_argument(
        "--skip", action="append", default=[], choices=["e2e", "bare", "notebook", "store"]
    )
    ap.add_argument(
        "--e2e-cmd",
        default=None,
        help="replace the clustomer command (a stand-in for testing); placeholders "
        "{python} {file} {workspace} {out}",
    )
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per command")
    ap.add_argument("--tmpdir", default=None, help="where the fresh workspaces go")
    ap.add_argument("--results", default=str(BENCH / "results.json"))
    args = ap.parse_args(argv)

    if args.file:
        file = Path(args.file).resolve()
        meta: dict[str, Any] = {"size_bytes": file.stat().st_size, "generate_seconds": None}
        with open(file, "rb") as f:
            n_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(8 << 20), b"")) - 1
        dataset = {"lines": n_lines, "customers": None, "seed": None}
    else:
        meta = generate_if_needed(args, args.customers)
        file = Path(meta["path"]).resolve()
        p = meta["params"]
        dataset = {"lines": p["lines"], "customers": p["customers"], "seed": p["seed"]}
    dataset.update(
        path=str(file),
        size_bytes=meta["size_bytes"],
        generate_seconds=meta.get("generate_seconds"),
        generated_now=meta.get("generated_now"),
        stats=meta.get("stats"),
    )
    warm_s = warm_cache(file)
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(
            f"warning: load average {load_before[0]:.2f} before the runs: other work on this "
            "machine will slow the measurements",
            file=sys.stderr,
        )
    print(f"data: {file} (page cache warmed in {warm_s:.1f} s)", file=sys.stderr)

    kinds = [k for k in ("e2e", "bare", "store", "notebook") if k not in args.skip]
    plan = {k: (args.repeat_notebook if k == "notebook" else args.repeat) for k in kinds}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    for i in range(max(plan.values(), default=0)):
        for kind in kinds:
            if i >= plan[kind]:
                continue
            res = run_one(kind, file, args)
            runs[kind].append(res)
            note = "ok" if res["ok"] else f"FAILED (rc {res['rc']})"
            rss = res["peak_rss_mb"]
            print(
                f"[{kind} {i + 1}/{plan[kind]}] wall {res['wall_s']:.2f} s, "
                f"peak RSS {rss if rss is None else round(rss)} MB, {note}",
                file=sys.stderr,
            )
            if not res["ok"]:
                print(f"  command: {res['cmd']}\n  stderr:\n{res['stderr']}", file=sys.stderr)

    summary = {k: summarise(v) for k, v in runs.items()}
    for kind in ("bare", "notebook"):
        sums = {json.dumps(r.get("summary"), sort_keys=True) for r in runs.get(kind, []) if r["ok"]}
        if kind in summary and sums:
            summary[kind]["result_summary"] = json.loads(next(iter(sums)))
    a = summary.get("bare", {}).get("result_summary")
    b = summary.get("notebook", {}).get("result_summary")
    if a and b and (a["customers"], a["frequency_sum"]) != (b["customers"], b["frequency_sum"]):
        print(f"warning: (a) and (b) disagree: {a} vs {b}", file=sys.stderr)

    results: dict[str, Any] = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": dataset,
        "config": {
            "repeat": args.repeat,
            "repeat_notebook": args.repeat_notebook,
            "skip": args.skip,
            "e2e_cmd": args.e2e_cmd,
            "timeout_s": args.timeout,
            "page_cache_warm_s": warm_s,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "summary": summary,
        "targets": targets(summary),
        "runs": runs,
    }
    results["markdown"] = markdown(results)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")

    print_plain(results)
    print("\nMarkdown for docs/benchmarks.md:\n")
    print(results["markdown"])
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
