"""Per-method fit times: ``CustomerSegmenter`` with each method on the benchmark's customers.

``make bench-methods`` runs this with the defaults: the 450,000 customers of the 10M-line
synthetic order log (``bench/generate.py``, seed 42). For a quick check::

    .venv/bin/python bench/methods.py --customers 20000
    .venv/bin/python bench/methods.py --methods kmeans,gmm --timeout 120

Steps:

1. the feature table: built once in a child process (import the CSV into a temporary
   workspace, ``Workspace.features()``) and cached as Parquet under ``bench/data/``, named
   after the CSV and a hash of ``FEATURE_SQL`` (``--rebuild`` builds it again);
2. for each method, one child process that loads the table, keeps the customers with
   ``frequency > 0`` (optionally a seeded random sample of ``--customers`` of them), and
   fits ``CustomerSegmenter(method=M, random_state=0)`` once with the default settings:
   automatic *k* (its choice on a sample is part of the fit), ``kprototypes`` with the
   country. The child reports the fit's own seconds, the part spent choosing *k*
   (``k_criteria``), the chosen *k*, the segment sizes and the noise share;
3. here: the child's wall time, and its peak RSS from ``os.wait4`` (the child alone);
   a child that runs past ``--timeout`` is killed and recorded as timed out.

Results go to ``bench/methods.json``; a Markdown table for ``docs/benchmarks.md`` is
printed. The parent uses the standard library only, so it stays small (a child's peak
RSS can never read lower than its parent's RSS at the fork).
"""

from __future__ import annotations

import argparse
import json
import os
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

#: Same order as ``clustomer.segment.methods.METHOD_NAMES`` (not imported here: the
#: parent stays free of numpy and friends).
ALL_METHODS = ("kmeans", "minibatch", "ward", "gmm", "hdbscan", "dbscan", "kprototypes")


# --------------------------------------------------------------------------- children


def child_features(csv: Path, data: Path, rebuild: bool) -> dict[str, Any]:
    """Build (or find) the cached feature table of ``csv``; return its path and facts."""
    import hashlib

    import clustomer
    from clustomer.features.customer import FEATURE_SQL

    sql_hash = hashlib.sha256(FEATURE_SQL.encode()).hexdigest()[:8]
    stem = csv.name.removesuffix(".csv")
    path = data / f"features_{stem}_{sql_hash}.parquet"
    info: dict[str, Any] = {"path": str(path), "feature_sql_hash": sql_hash, "built_now": False}
    if path.exists() and not rebuild:
        return info
    with tempfile.TemporaryDirectory(prefix="clustomer-bench-methods-") as tmp:
        t0 = time.perf_counter()
        with clustomer.Workspace(Path(tmp) / "features.duckdb") as ws:
            ws.import_file(csv)
            t1 = time.perf_counter()
            features = ws.features()
            t2 = time.perf_counter()
    part = path.with_suffix(".parquet.part")
    features.to_parquet(part, index=False)
    part.replace(path)
    info.update(
        built_now=True, import_s=round(t1 - t0, 3), features_s=round(t2 - t1, 3), rows=len(features)
    )
    return info


def child_fit(features_path: Path, method: str, customers: int | None, seed: int) -> dict[str, Any]:
    """Fit one method on the cached table; return what the parent reports."""
    import numpy as np
    import pandas as pd

    import clustomer.segment.segmenter as seg
    from clustomer.segment.result import CLUSTER_FEATURES

    t_load = time.perf_counter()
    table = pd.read_parquet(features_path)
    buyers = table.loc[table["frequency"].to_numpy(dtype=np.float64, na_value=0.0) > 0]
    buyers = buyers.reset_index(drop=True)
    n_buyers = len(buyers)
    if customers is not None and customers < n_buyers:
        idx = np.sort(np.random.default_rng(seed).choice(n_buyers, customers, replace=False))
        buyers = buyers.iloc[idx].reset_index(drop=True)
    X = buyers[list(CLUSTER_FEATURES)].to_numpy(dtype=np.float64, na_value=np.nan)
    categories = None
    if method == "kprototypes":
        categories = buyers["country"].fillna("(unknown)").astype(str).to_numpy()
    load_s = time.perf_counter() - t_load

    # Time the choice of k inside the fit (the segmenter looks k_criteria up in its own
    # module at call time, so wrapping the name there sees every call).
    criteria_s: list[float] = []
    original = seg.k_criteria

    def timed_criteria(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            criteria_s.append(time.perf_counter() - t)

    seg.k_criteria = timed_criteria  # type: ignore[assignment]
    model = seg.CustomerSegmenter(n_clusters=None, method=method, random_state=0)
    t0 = time.perf_counter()
    model.fit(X, categories=categories)
    fit_s = time.perf_counter() - t0
    seg.k_criteria = original

    labels = np.asarray(model.labels_)
    sizes = np.bincount(labels[labels >= 0], minlength=model.n_clusters_).tolist()
    sel = model.k_selection_
    return {
        "method": method,
        "fitted_as": getattr(model, "method_", method),
        "customers": int(X.shape[0]),
        "customers_with_purchases": n_buyers,
        "feature_rows": len(table),
        "features": list(CLUSTER_FEATURES),
        "load_s": round(load_s, 3),
        "fit_s": round(fit_s, 3),
        "choose_k_s": round(sum(criteria_s), 3) if criteria_s else None,
        "k": int(model.n_clusters_),
        "chosen_k": int(sel.chosen_k),
        "k_reason": sel.reason,
        "k_sample_size": int(sel.sample_size),
        "segment_sizes": [int(s) for s in sizes],
        "noise": int((labels < 0).sum()),
        "noise_share": float((labels < 0).mean()),
    }


# --------------------------------------------------------------------------- parent


def fmt_s(v: float | None) -> str:
    return "–" if v is None else f"{v:,.2f}"


def fmt_sizes(sizes: list[int], total: int) -> str:
    """Percentages, one decimal; a segment under 0.1 % keeps two significant digits."""
    shares = [100 * s / total for s in sizes]
    return " / ".join(f"{p:.1f}" if p >= 0.1 or p == 0 else f"{p:.2g}" for p in shares)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    v = m["versions"]
    cfg = results["config"]
    if cfg["customers_fitted"] is None:
        who = "No method finished, so the customer counts are unknown."
    else:
        who = (
            f"Customers fitted: {cfg['customers_fitted']:,} (of {cfg['with_purchases']:,} with "
            f"purchases, {cfg['feature_rows']:,} in the feature table); features "
            f"{', '.join(cfg['features'])}."
        )
    lines = [
        f"{who} "
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, "
        f"{m['ram_gib']} GiB RAM; Python {m['python']}, scikit-learn {v['scikit-learn']}, "
        f"numpy {v['numpy']}, kmodes {cfg['kmodes']}. One fit per method, each in its own "
        f"process; timeout {cfg['timeout_s']:g} s.",
        "",
        "| Method | Wall s | Fit s | of which choosing k, s | k | Segment sizes, % of customers "
        "| Noise % | Peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in results["runs"]:
        name = r["method"]
        o = r.get("output") or {}
        if o.get("fitted_as") and o["fitted_as"] != name:
            name += f" (as {o['fitted_as']})"
        rss = "–" if r["peak_rss_mb"] is None else f"{r['peak_rss_mb']:,.0f}"
        if r["status"] != "ok":
            what = (
                f"**timed out** after {r['wall_s']:,.0f} s"
                if r["status"] == "timeout"
                else (f"**failed** (rc {r['rc']})")
            )
            lines.append(f"| {name} | {fmt_s(r['wall_s'])} | {what} | | | | | {rss} |")
            continue
        lines.append(
            f"| {name} | {fmt_s(r['wall_s'])} | {fmt_s(o['fit_s'])} | {fmt_s(o['choose_k_s'])} "
            f"| {o['k']} | {fmt_sizes(o['segment_sizes'], o['customers'])} "
            f"| {100 * o['noise_share']:.1f} | {rss} |"
        )
    return "\n".join(lines)


def kmodes_version() -> str | None:
    from importlib import metadata

    try:
        return metadata.version("kmodes")
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--methods",
        default=",".join(ALL_METHODS),
        help=f"comma-separated subset of {','.join(ALL_METHODS)} (default: all)",
    )
    ap.add_argument(
        "--customers",
        type=int,
        default=None,
        help="fit on a seeded random sample of this many customers (default: all)",
    )
    ap.add_argument("--timeout", type=float, default=600, help="seconds per method (default 600)")
    ap.add_argument("--lines", type=int, default=10_000_000, help="lines of the generated CSV")
    ap.add_argument("--seed", type=int, default=42, help="seed of the generated CSV")
    ap.add_argument("--data", default=str(BENCH / "data"), help="generated CSVs and the cache")
    ap.add_argument("--file", default=None, help="use this CSV (generic layout) instead")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached feature table")
    ap.add_argument("--results", default=str(BENCH / "methods.json"))
    # internal: the children
    ap.add_argument("--child", choices=["features", "fit"], help=argparse.SUPPRESS)
    ap.add_argument("--features-path", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--method", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child == "features":
        info = child_features(Path(args.file), Path(args.data), args.rebuild)
        print(json.dumps(info))
        return 0
    if args.child == "fit":
        out = child_fit(Path(args.features_path), args.method, args.customers, args.seed)
        print(json.dumps(out))
        return 0

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in ALL_METHODS]
    if unknown or not methods:
        ap.error(f"--methods: unknown {', '.join(unknown) or '(none given)'}")

    csv = ensure_csv(args)
    t0 = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "features"]
    cmd += ["--file", str(csv), "--data", args.data] + (["--rebuild"] if args.rebuild else [])
    res = measure(cmd, 3600)
    feat = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
    if feat is None:
        print(f"building the feature table failed:\n{tail(res['stderr'])}", file=sys.stderr)
        return 1
    feat["wall_s"] = round(time.perf_counter() - t0, 3)
    feat["peak_rss_mb"] = res["peak_rss_mb"]
    how = "built" if feat["built_now"] else "cached"
    print(f"features: {feat['path']} ({how}, {feat['wall_s']:.1f} s)", file=sys.stderr)

    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(
            f"warning: load average {load_before[0]:.2f} before the runs: other work on this "
            "machine will slow the measurements",
            file=sys.stderr,
        )
    runs: list[dict[str, Any]] = []
    for method in methods:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "fit"]
        cmd += ["--features-path", feat["path"], "--method", method, "--seed", "0"]
        if args.customers is not None:
            cmd += ["--customers", str(args.customers)]
        load = os.getloadavg()[0]
        res = measure(cmd, args.timeout)
        out = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
        status = "timeout" if res.get("timed_out") else ("ok" if out is not None else "failed")
        run = {
            "method": method,
            "status": status,
            "rc": res["rc"],
            "wall_s": res["wall_s"],
            "user_s": res.get("user_s"),
            "sys_s": res.get("sys_s"),
            "peak_rss_mb": res["peak_rss_mb"],
            "loadavg_1m_before": load,
            "output": out,
        }
        if status != "ok":
            run["stderr"] = tail(res["stderr"])
        runs.append(run)
        if out is not None:
            note = (
                f"k {out['k']}, fit {out['fit_s']:.2f} s "
                f"(choosing k {fmt_s(out['choose_k_s'])} s), noise {out['noise_share']:.1%}"
            )
        else:
            note = status.upper()
        print(
            f"[{method}] wall {res['wall_s']:.2f} s, peak RSS {res['peak_rss_mb']:.0f} MB, {note}",
            file=sys.stderr,
        )
        if status == "failed":
            print(f"  stderr:\n{run['stderr']}", file=sys.stderr)

    ok = [r["output"] for r in runs if r["output"]]
    results: dict[str, Any] = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": {"csv": str(csv), "features": feat},
        "config": {
            "methods": methods,
            "customers": args.customers,
            "customers_fitted": ok[0]["customers"] if ok else None,
            "with_purchases": ok[0]["customers_with_purchases"] if ok else None,
            "feature_rows": ok[0]["feature_rows"] if ok else None,
            "features": ok[0]["features"] if ok else [],
            "timeout_s": args.timeout,
            "kmodes": kmodes_version(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "runs": runs,
    }
    results["markdown"] = markdown(results)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print("\nMarkdown for docs/benchmarks.md:\n")
    print(results["markdown"])
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
