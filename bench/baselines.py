"""The two baselines clustomer is compared with, on the same CSV file.

(a) ``bare_duckdb``: one DuckDB statement that reads the CSV and computes RFM per customer
    (recency in days before the last date in the file, frequency = distinct order ids,
    monetary = sum of quantity * unit_price), fetched to an Arrow table. The floor: what
    the aggregation alone costs, with no validation, cleaning, clustering or report.

(b) ``notebook_recipe``: the usual notebook: ``pandas.read_csv``, a groupby for RFM,
    ``StandardScaler``, then ``KMeans`` for k = 2..10, each followed by
    ``silhouette_score(X, labels, sample_size=10000, random_state=0)``. Written the
    efficient way (named aggregations, no per-group lambda; scikit-learn's defaults,
    ``n_init="auto"``), so the comparison is not against a straw man.

(c) ``store_lines``: one DuckDB statement that reads the CSV and stores every line, as
    read, in a table of a fresh DuckDB file. Not a target: the floor under any import
    that keeps the order lines in a workspace file (clustomer's spine must), with no
    validation, accounting, features or clustering.

(a) and (b) follow the naive RFM definitions (returns count as orders and subtract from monetary);
they are baselines for speed, not for quality.

Run one in its own process (this is what bench/run.py does, to measure its peak RSS)::

    python bench/baselines.py bare bench/data/orders_....csv
    python bench/baselines.py notebook bench/data/orders_....csv
    python bench/baselines.py store bench/data/orders_....csv

It prints one JSON object: the timings in seconds and a summary of the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

K_RANGE = range(2, 11)
SILHOUETTE_SAMPLE = 10_000


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


BARE_SQL = """
SELECT customer_id,
       date_diff('day', max(order_date), max(max(order_date)) OVER ()) AS recency,
       count(DISTINCT order_id) AS frequency,
       sum(quantity * unit_price) AS monetary
FROM read_csv({path}, header = true)
WHERE customer_id IS NOT NULL
GROUP BY customer_id
"""


def bare_duckdb(path: str) -> tuple[Any, dict[str, float]]:
    """Baseline (a): read the CSV and aggregate RFM in one DuckDB statement.

    Returns the result (a ``pyarrow.Table``, one row per customer) and
    ``{"query": seconds}`` (connect, run, fetch; the import of duckdb is not counted).
    """
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect()
    try:
        table = con.sql(BARE_SQL.format(path=_sql_str(str(path)))).to_arrow_table()
    finally:
        con.close()
    return table, {"query": time.perf_counter() - t0}


def store_lines(path: str) -> tuple[int, dict[str, float]]:
    """Baseline (c): read the CSV and store every line in a new DuckDB file.

    Returns the number of lines stored and ``{"query": seconds}`` (connect, create the
    table, close; the import of duckdb is not counted).
    """
    import tempfile
    from pathlib import Path

    import duckdb

    with tempfile.TemporaryDirectory(prefix="clustomer-bench-") as tmp:
        t0 = time.perf_counter()
        con = duckdb.connect(str(Path(tmp) / "lines.duckdb"))
        try:
            con.execute(
                f"CREATE TABLE lines AS SELECT * FROM read_csv({_sql_str(str(path))}, "
                "header = true)"
            )
            rows = int(con.execute("SELECT count(*) FROM lines").fetchall()[0][0])
        finally:
            con.close()
        seconds = time.perf_counter() - t0
    return rows, {"query": seconds}


def notebook_recipe(path: str) -> tuple[Any, dict[str, Any]]:
    """Baseline (b): pandas + scikit-learn, k = 2..10 with a sampled silhouette each.

    Returns the RFM ``DataFrame`` (with the best k's labels) and the timings:
    ``read``, ``aggregate``, ``read_aggregate``, ``scale``, ``kmeans`` and ``silhouette``
    (summed over k), ``per_k`` (k -> [kmeans, silhouette]), ``total``, plus the
    silhouette per k and the best k (informative only).
    """
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    t0 = time.perf_counter()
    df = pd.read_csv(path, parse_dates=["order_date"])
    t1 = time.perf_counter()
    df["amount"] = df["quantity"] * df["unit_price"]
    snapshot = df["order_date"].max()
    rfm = df.groupby("customer_id").agg(
        last=("order_date", "max"),
        frequency=("order_id", "nunique"),
        monetary=("amount", "sum"),
    )
    rfm["recency"] = (snapshot - rfm["last"]).dt.days
    rfm = rfm[["recency", "frequency", "monetary"]]
    t2 = time.perf_counter()
    X = StandardScaler().fit_transform(rfm)
    t3 = time.perf_counter()
    per_k: dict[int, list[float]] = {}
    scores: dict[int, float] = {}
    best_k, best_labels = None, None
    for k in K_RANGE:
        a = time.perf_counter()
        labels = KMeans(n_clusters=k, random_state=0).fit_predict(X)
        b = time.perf_counter()
        score = silhouette_score(X, labels, sample_size=SILHOUETTE_SAMPLE, random_state=0)
        c = time.perf_counter()
        per_k[k] = [b - a, c - b]
        scores[k] = float(score)
        if best_k is None or score > scores[best_k]:
            best_k, best_labels = k, labels
    t4 = time.perf_counter()
    rfm = rfm.assign(segment=best_labels)
    timings: dict[str, Any] = {
        "read": t1 - t0,
        "aggregate": t2 - t1,
        "read_aggregate": t2 - t0,
        "scale": t3 - t2,
        "kmeans": sum(v[0] for v in per_k.values()),
        "silhouette": sum(v[1] for v in per_k.values()),
        "total": t4 - t0,
        "per_k": per_k,
        "silhouette_by_k": scores,
        "best_k": best_k,
    }
    return rfm, timings


def _summary(customers: int, frequency: float, monetary: float) -> dict[str, Any]:
    return {
        "customers": int(customers),
        "frequency_sum": int(frequency),
        "monetary_sum": round(float(monetary), 2),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run one baseline; print JSON timings.")
    ap.add_argument("which", choices=["bare", "notebook", "store"])
    ap.add_argument("path")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.which == "bare":
        table, timings = bare_duckdb(args.path)
        summary = _summary(
            table.num_rows,
            table.column("frequency").to_numpy().sum(),
            table.column("monetary").to_numpy().sum(),
        )
    elif args.which == "store":
        rows, timings = store_lines(args.path)
        summary = {"lines": rows}
    else:
        rfm, timings = notebook_recipe(args.path)
        summary = _summary(len(rfm), rfm["frequency"].sum(), rfm["monetary"].sum())
    out = {
        "baseline": args.which,
        "timings": timings,
        "in_process_seconds": time.perf_counter() - t0,
        "summary": summary,
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
