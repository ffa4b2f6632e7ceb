"""The main job on DuckDB and on Spark (local mode), stage by stage, on the same CSV.

``make bench-spark`` runs this with the defaults: the 10M-line synthetic order log of
``bench/run.py`` (``run.ensure_csv``: generated once by bench/generate.py), Spark in
``local[2]``. For a quick check::

    .venv/bin/python bench/spark.py --lines 200000

Each engine runs once, in its own child process (wall time and peak RSS of that child
alone, as in bench/run.py), through the same stages:

==========  ===========================================================================
stage       DuckDB child                          Spark child
==========  ===========================================================================
start       –                                     the SparkSession (JVM) starts
read        import into a fresh workspace file    CSV → normalised, cached order lines
features    ``FEATURE_SQL`` + feature groups      the same SQL transpiled, collected
k           ``choose_k`` on the 10,000-customer sample (the same code on both)
fit         scikit-learn k-means on all           MLlib k-means|| on all
profiles    profiles, names, RFM scores, map (the same code on both)
explain     rules and classifier (the same code on both)
write       ``assignments.parquet``, ``profiles.parquet``, ``segments.csv``, ``report.html``
==========  ===========================================================================

Both children also report the chosen k, the inertia of the final fit and the profiles;
the parent prints how far the two engines' profiles are apart. Results go to
``bench/spark.json``; a Markdown table for docs/scale.md is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

# bench/ is sys.path[0] when this file runs as a script: reuse run.py's plumbing.
from run import ensure_csv, machine_info, measure, parse_json_object, tail

BENCH = Path(__file__).resolve().parent
STAGES = ("start", "read", "features", "k", "fit", "profiles", "explain", "write")


# --------------------------------------------------------------------------- children


def _local_fit(seg: Any, Z: Any) -> Any:
    """The final k-means of ``CustomerSegmenter.fit`` (k-means, from the sample's centres)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    from clustomer.segment.methods import nearest_center_d2

    k = max(int(seg.k_selection_.chosen_k), 1)
    start = seg.k_selection_.sample_centers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if start is None:
            km = KMeans(n_clusters=k, n_init=seg.n_init, random_state=seg.random_state)
            km.fit(Z)
        else:
            km = KMeans(n_clusters=k, init=start.astype(np.float32), n_init=1, random_state=0)
            km.fit(Z.astype(np.float32))
    centers = np.asarray(km.cluster_centers_, dtype=np.float64)
    labels, _ = nearest_center_d2(Z, centers)
    seg._finish(Z, labels, centers)
    return seg


def _kmeans_parallel(frame: Any, columns: list[str], model: Any) -> dict[str, Any]:
    """Time MLlib k-means from its own k-means|| start on the same vectors; its inertia."""
    import numpy as np

    from clustomer.segment.methods import nearest_center_d2
    from clustomer.spark.kmeans import fit_mllib, scaled_vectors

    buyers = frame.where("frequency > 0")
    vectors = scaled_vectors(buyers, columns, model)
    X = buyers.select(*columns).toPandas().to_numpy(dtype=np.float64)
    Z = model.scale(X)
    t0 = time.perf_counter()
    centers, info = fit_mllib(vectors, int(model.n_clusters_), random_state=0)
    info["seconds"] = round(time.perf_counter() - t0, 4)
    info["inertia"] = float(nearest_center_d2(Z, centers)[1].sum())
    return info


def _jvm_peak_rss_mb(spark: Any) -> float | None:
    """The JVM's peak resident memory so far (VmHWM; Linux), in MB = MiB."""
    try:
        pid = int(spark._jvm.java.lang.ProcessHandle.current().pid())
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except Exception:
        return None
    return None


def _profiles(result: Any) -> list[dict[str, Any]]:
    cols = ["segment_id", "name", "size", "share_revenue"]
    cols += [c for c in result.profiles.columns if c.startswith("median_")]
    return json.loads(result.profiles[cols].to_json(orient="records"))


def child(
    engine: str, csv: Path, tmp: Path, master: str, driver_memory: str | None
) -> dict[str, Any]:
    """One engine, every stage timed; returns plain data."""
    from clustomer.features.sets import build_feature_set
    from clustomer.progress import Timings
    from clustomer.results import SegmentRun
    from clustomer.segment.explain import explain_run
    from clustomer.spark.kmeans import choose_k
    from clustomer.spark.outputs import write_outputs
    from clustomer.spark.result import segment_features
    from clustomer.store.db import Store

    t = Timings()
    info: dict[str, Any] = {"engine": engine}
    if engine == "spark":
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        from pyspark import StorageLevel

        from clustomer.spark.features import collect_features, default_as_of, feature_frame
        from clustomer.spark.kmeans import spark_segmenter
        from clustomer.spark.session import spark_session
        from clustomer.spark.source import load_order_lines

        with t.stage("start"):
            spark = spark_session(
                master,
                conf={"spark.ui.enabled": "false"}
                | ({"spark.driver.memory": driver_memory} if driver_memory else {}),
            )
        with t.stage("read"):
            lines = load_order_lines(spark, str(csv))
        with t.stage("features"):
            as_of = default_as_of(spark)
            frame = feature_frame(spark, as_of).persist(StorageLevel.MEMORY_AND_DISK)
            table = collect_features(frame, as_of)
            fset = build_feature_set(Store(), table, ["rfm", "behaviour"])
        currency = lines.currency
        info["rows_kept"] = lines.rows_kept
    else:
        from clustomer.features.customer import customer_features, default_as_of
        from clustomer.workspace import Workspace

        ws = Workspace(tmp / "bench.duckdb")
        with t.stage("read"):
            imported = ws.import_file(csv)
        with t.stage("features"):
            as_of = default_as_of(ws.store)
            table = customer_features(ws.store, as_of)
            fset = build_feature_set(ws.store, table, ["rfm", "behaviour"])
        currency = imported.currency
        info["rows_kept"] = imported.rows_kept

    def fit(X: Any, n_clusters: int | None) -> Any:
        with t.stage("k"):
            seg, Z = choose_k(X, n_clusters=n_clusters)
        with t.stage("fit"):
            if engine == "spark":
                model, fit_info = spark_segmenter(
                    seg, Z, frame.where("frequency > 0"), fset.columns
                )
                info["mllib"] = fit_info
            else:
                model = _local_fit(seg, Z)
        return model

    t0 = time.perf_counter()
    result = segment_features(fset.table, fit, feature_columns=fset.columns)
    t.seconds["profiles"] = round(time.perf_counter() - t0 - t.seconds["k"] - t.seconds["fit"], 4)
    if engine == "spark":  # for reference: MLlib's own k-means|| start (not the default)
        info["kmeans_parallel"] = _kmeans_parallel(frame, fset.columns, result.model)
        info["jvm_peak_rss_mb"] = _jvm_peak_rss_mb(spark)
    with t.stage("explain"):
        explained, _, _ = explain_run(fset.table, result, currency=currency)
    details = {"features": fset.to_dict(), **explained}
    run = SegmentRun(0, as_of, result, fset.table, dict(t.seconds), fset, details)
    with t.stage("write"):
        write_outputs(run, tmp / "out", imports=[], playbook=None, timings=t.seconds)
    info.update(
        timings=t.seconds,
        customers=int(len(fset.table)),
        with_purchases=int((fset.table["frequency"] > 0).sum()),
        columns=list(fset.columns),
        k=int(result.k_selection.chosen_k),
        inertia=float(result.model.inertia_),
        profiles=_profiles(result),
    )
    return info


# --------------------------------------------------------------------------- parent


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """How far the Spark run's profiles are from the DuckDB run's."""
    pa, pb = a["profiles"], b["profiles"]
    out: dict[str, Any] = {
        "same_k": a["k"] == b["k"],
        "same_names": [p["name"] for p in pa] == [p["name"] for p in pb],
        "inertia_ratio": b["inertia"] / a["inertia"] if a["inertia"] else None,
    }
    ref = b.get("kmeans_parallel")
    if ref and a["inertia"]:
        out["kmeans_parallel_inertia_ratio"] = ref["inertia"] / a["inertia"]
    if len(pa) == len(pb):
        n = a["with_purchases"]
        out["max_size_diff_share"] = max(
            abs(x["size"] - y["size"]) / n for x, y in zip(pa, pb, strict=True)
        )
        out["max_revenue_share_diff"] = max(
            abs(x["share_revenue"] - y["share_revenue"]) for x, y in zip(pa, pb, strict=True)
        )
        rel = [
            abs(x[c] - y[c]) / max(abs(x[c]), 0.01)
            for x, y in zip(pa, pb, strict=True)
            for c in x
            if c.startswith("median_") and x[c] is not None and y[c] is not None
        ]
        out["max_median_rel_diff"] = max(rel) if rel else None
    return out


def markdown(results: dict[str, Any]) -> str:
    m, runs = results["machine"], results["runs"]
    d, s = runs.get("duckdb", {}), runs.get("spark", {})
    lines = [
        f"Data: {results['dataset']['lines']:,} lines ({results['dataset']['csv']}). "
        f"Machine: {m['nproc']} CPUs, {m['cpu_model']}, {m['ram_gib']} GiB RAM. "
        f"Spark {results['config']['pyspark']} `{results['config']['master']}`, driver memory "
        f"{results['config']['driver_memory']}; one run each.",
        "",
        "| Stage | DuckDB s | Spark s |",
        "| --- | ---: | ---: |",
    ]
    for stage in STAGES:
        dv = (d.get("output") or {}).get("timings", {}).get(stage)
        sv = (s.get("output") or {}).get("timings", {}).get(stage)
        lines.append(f"| {stage} | {_fmt(dv)} | {_fmt(sv)} |")
    ref = (s.get("output") or {}).get("kmeans_parallel")
    if ref:
        lines.append(
            f"| fit from MLlib's own k-means\\|\\| start (reference, unused) | – | "
            f"{_fmt(ref['seconds'])} |"
        )
    lines.append(
        f"| child wall (incl. imports) | {_fmt(d.get('wall_s'))} | {_fmt(s.get('wall_s'))} |"
    )
    lines.append(
        f"| peak RSS MB, Python child | {_fmt(d.get('peak_rss_mb'), 0)} | "
        f"{_fmt(s.get('peak_rss_mb'), 0)} |"
    )
    jvm = (s.get("output") or {}).get("jvm_peak_rss_mb")
    lines.append(f"| peak RSS MB, Spark's JVM | – | {_fmt(jvm, 0)} |")
    return "\n".join(lines)


def _fmt(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:,.{digits}f}"


def _default_memory(master: str) -> str:
    from clustomer.spark.session import local_driver_memory

    return local_driver_memory(master, {}) or "Spark's default"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000, help="lines of the generated CSV")
    ap.add_argument("--seed", type=int, default=42, help="seed of the generated CSV")
    ap.add_argument("--data", default=str(BENCH / "data"), help="where generated CSVs live")
    ap.add_argument("--file", default=None, help="use this CSV (generic layout) instead")
    ap.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    ap.add_argument(
        "--driver-memory",
        default=None,
        help="spark.driver.memory (default: clustomer's, half the machine's memory)",
    )
    ap.add_argument("--skip", action="append", default=[], choices=["duckdb", "spark"])
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per engine")
    ap.add_argument("--tmpdir", default=None, help="where the workspace and outputs go")
    ap.add_argument("--results", default=str(BENCH / "spark.json"))
    ap.add_argument("--child", choices=["duckdb", "spark"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        with tempfile.TemporaryDirectory(prefix="clustomer-spark-", dir=args.tmpdir) as tmp:
            out = child(args.child, Path(args.file), Path(tmp), args.master, args.driver_memory)
        print(json.dumps(out))
        return 0

    csv = ensure_csv(args)
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.2f} before the runs", file=sys.stderr)
    runs: dict[str, dict[str, Any]] = {}
    for engine in ("duckdb", "spark"):
        if engine in args.skip:
            continue
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", engine, "--file", str(csv)]
        cmd += ["--master", args.master]
        if args.driver_memory:
            cmd += ["--driver-memory", args.driver_memory]
        if args.tmpdir:
            cmd += ["--tmpdir", args.tmpdir]
        res = measure(cmd, args.timeout)
        output = parse_json_object(res["stdout"]) if res["rc"] == 0 else None
        runs[engine] = {
            "ok": output is not None,
            "wall_s": res["wall_s"],
            "peak_rss_mb": res["peak_rss_mb"],
            "output": output,
        }
        if output is None:
            runs[engine]["stderr"] = tail(res["stderr"])
            print(f"[{engine}] FAILED (rc {res['rc']}):\n{tail(res['stderr'])}", file=sys.stderr)
        else:
            print(f"[{engine}] wall {res['wall_s']:.1f} s: {output['timings']}", file=sys.stderr)
    try:
        from importlib import metadata

        pyspark = metadata.version("pyspark")
    except Exception:
        pyspark = None
    with open(csv, "rb") as f:
        n_lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(8 << 20), b"")) - 1
    results: dict[str, Any] = {
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine_info(),
        "dataset": {"csv": csv.name, "lines": n_lines},
        "config": {
            "master": args.master,
            "driver_memory": args.driver_memory or _default_memory(args.master),
            "pyspark": pyspark,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "runs": runs,
    }
    d, s = runs.get("duckdb", {}).get("output"), runs.get("spark", {}).get("output")
    if d and s:
        results["agreement"] = compare(d, s)
    results["markdown"] = markdown(results)
    Path(args.results).write_text(json.dumps(results, indent=2) + "\n")
    print(results["markdown"])
    if "agreement" in results:
        print("\nagreement:", json.dumps(results["agreement"]))
    print(f"\nwritten: {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
