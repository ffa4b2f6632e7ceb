"""Recommendation timings: ``clustomer.recommend.recommend`` on the benchmark's order log.

The default is the 10M-line synthetic log (450,000 customers; ``bench/generate.py``,
seed 42). On a shared machine, check a smaller one::

    .venv/bin/python bench/recommend.py --lines 1000000 --repeat 3
    .venv/bin/python bench/recommend.py --lines 1000000 --new-items-only --backtest

Steps:

1. the clean lines: built once in a child process (import the CSV into a temporary
   workspace, ``clustomer.store.lines.clean_lines``) and cached as Parquet under
   ``bench/data/`` (``--rebuild`` builds them again);
2. ``--repeat`` times, one child process that loads the Parquet and runs
   ``recommend(lines, top=10)`` (blend fitted on the earlier splits, as by default): its
   own seconds (load, recommend, and with ``--backtest`` the backtest), rows, customers;
   wall time and peak RSS measured here (``os.wait4``, the child alone);
3. the median of the runs, printed and written to ``bench/recommend.json``.

:func:`run` is the measured work, importable (``from recommend import run`` with
``bench/`` on the path).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] when this file runs as a script: reuse run.py's plumbing.
from run import ensure_csv, machine_info, measure, parse_json_object, tail

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def build_lines(csv: Path, data: Path, rebuild: bool = False) -> dict[str, Any]:
    """The cached clean lines of ``csv`` (built when missing): path and facts."""
    import clustomer
    from clustomer.store.lines import clean_lines

    stem = csv.name.removesuffix(".csv")
    path = data / f"lines_{stem}.parquet"
    info: dict[str, Any] = {"path": str(path), "built_now": False}
    if path.exists() and not rebuild:
        return info
    with tempfile.TemporaryDirectory(prefix="clustomer-bench-recommend-") as tmp:
        t0 = time.perf_counter()
        with clustomer.Workspace(Path(tmp) / "lines.duckdb") as ws:
            ws.import_file(csv)
            t1 = time.perf_counter()
            lines = clean_lines(ws.store)
            t2 = time.perf_counter()
    part = path.with_suffix(".parquet.part")
    lines.to_parquet(part, index=False)
    part.replace(path)
    info.update(built_now=True, import_s=round(t1 - t0, 3), lines_s=round(t2 - t1, 3))
    info["rows"] = len(lines)
    return info


def run(
    lines_path: str | Path,
    *,
    top: int = 10,
    new_items_only: bool = False,
    backtest: bool = False,
) -> dict[str, Any]:
    """Load the cached lines and recommend for every customer; seconds and counts."""
    import pandas as pd

    from clustomer.recommend import backtest_recommendations, recommend

    t0 = time.perf_counter()
    lines = pd.read_parquet(lines_path)
    t1 = time.perf_counter()
    recs = recommend(lines, top=top, new_items_only=new_items_only)
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "lines": len(lines),
        "load_s": round(t1 - t0, 3),
        "recommend_s": round(t2 - t1, 3),
        "rows": len(recs),
        "customers": int(recs["customer_key"].nunique()),
        "reasons": {
            kind: int(n)
            for kind, n in recs["reason"]
            .astype(str)
            .str.extract(r"^(you buy|you bought|bought together|popular)")[0]
            .value_counts()
            .items()
        },
    }
    if backtest:
        bt = backtest_recommendations(lines, top=top)
        out["backtest_s"] = round(time.perf_counter() - t2, 3)
        out["backtest"] = {k: bt[k] for k in ("cutoff", "users", "users_new", "recommenders")}
    return out


def median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000, help="lines of the generated CSV")
    ap.add_argument("--seed", type=int, default=42, help="seed of the generated CSV")
    ap.add_argument("--file", default=None, help="use this CSV (generic layout) instead")
    ap.add_argument("--data", default=str(BENCH / "data"), help="generated CSVs and the cache")
    ap.add_argument("--repeat", type=int, default=3, help="runs (the median is reported)")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--new-items-only", action="store_true")
    ap.add_argument("--backtest", action="store_true", help="also time the backtest")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached lines")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--results", default=str(BENCH / "recommend.json"))
    ap.add_argument("--child", choices=["lines", "run"], help=argparse.SUPPRESS)
    ap.add_argument("--lines-path", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child == "lines":
        print(json.dumps(build_lines(Path(args.file), Path(args.data), args.rebuild)))
        return 0
    if args.child == "run":
        out = run(
            args.lines_path,
            top=args.top,
            new_items_only=args.new_items_only,
            backtest=args.backtest,
        )
        print(json.dumps(out))
        return 0

    csv = ensure_csv(args)
    me = str(Path(__file__).resolve())
    cmd = [sys.executable, me, "--child", "lines", "--file", str(csv), "--data", args.data]
    res = measure(cmd + (["--rebuild"] if args.rebuild else []), 3600)
    info = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
    if info is None:
        print(f"building the clean lines failed:\n{tail(res['stderr'])}", file=sys.stderr)
        return 1
    print(f"lines: {info['path']} ({'built' if info['built_now'] else 'cached'})", file=sys.stderr)

    runs: list[dict[str, Any]] = []
    for k in range(args.repeat):
        cmd = [sys.executable, me, "--child", "run", "--lines-path", info["path"]]
        cmd += ["--top", str(args.top)]
        cmd += ["--new-items-only"] if args.new_items_only else []
        cmd += ["--backtest"] if args.backtest else []
        res = measure(cmd, args.timeout)
        out = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
        run_info = {
            "status": "ok" if out else ("timeout" if res.get("timed_out") else "failed"),
            "wall_s": round(res["wall_s"], 3),
            "peak_rss_mb": round(res["peak_rss_mb"], 1),
            "output": out,
        }
        if out is None:
            run_info["stderr"] = tail(res["stderr"])
        runs.append(run_info)
        note = f"recommend {out['recommend_s']:.2f} s" if out else run_info["status"].upper()
        print(
            f"[run {k + 1}] wall {res['wall_s']:.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB, "
            f"{note}",
            file=sys.stderr,
        )
    ok = [r["output"] for r in runs if r["output"]]
    summary = {
        "recommend_s": median([o["recommend_s"] for o in ok]),
        "load_s": median([o["load_s"] for o in ok]),
        "backtest_s": median([o["backtest_s"] for o in ok if "backtest_s" in o]),
        "wall_s": median([r["wall_s"] for r in runs if r["output"]]),
        "peak_rss_mb": median([r["peak_rss_mb"] for r in runs if r["output"]]),
        "lines": ok[0]["lines"] if ok else None,
        "customers": ok[0]["customers"] if ok else None,
        "rows": ok[0]["rows"] if ok else None,
    }
    results = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": {"csv": str(csv), "lines": info},
        "config": {
            "top": args.top,
            "new_items_only": args.new_items_only,
            "backtest": args.backtest,
            "repeat": args.repeat,
        },
        "median": summary,
        "runs": runs,
    }
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"written: {args.results}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
