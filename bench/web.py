"""Scoring API load test: ``POST /api/v1/score`` latency and throughput (not a test).

Starts ``clustomer serve`` on a free port of 127.0.0.1 over a segmented workspace (by
default the demo's, ``out/demo.duckdb``: run ``make demo`` first), then sends requests
from a bounded asyncio client (httpx) at 1 and at 32 concurrent clients, against
127.0.0.1 only. Each request scores one known customer by key (no new orders), or with
``--orders`` one customer with two new order lines folded in. Reports p50 / p99 latency
and requests per second per concurrency, and writes ``bench/web.json``::

    .venv/bin/python bench/web.py [--workspace out/demo.duckdb] [--requests 2000] [--orders]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def customer_keys(workspace: Path, n: int) -> list[str]:
    con = duckdb.connect(str(workspace), read_only=True)
    try:
        rows = con.execute(
            "SELECT customer_key FROM assignments WHERE run_id = (SELECT max(run_id) FROM runs) "
            "ORDER BY hash(customer_key) LIMIT ?",
            [n],
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def load(
    url: str, token: str, keys: list[str], total: int, clients: int, orders: bool
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    body_orders = [
        {"order_id": "new-1", "ts": "2011-12-10T10:00:00", "quantity": 2, "unit_price": 3.5},
        {"order_id": "new-1", "ts": "2011-12-10T10:00:00", "product_id": "85123A", "amount": 9},
    ]

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body: dict[str, Any] = {"customer_key": keys[i % len(keys)]}
            if orders:
                body["orders"] = body_orders
            start = time.perf_counter()
            resp = await client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            if resp.status_code != 200:
                errors += 1

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        await client.post(url, json={"customer_key": keys[0]})  # warm the caches
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "requests": total,
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "requests_per_s": round(total / elapsed, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workspace", default=str(ROOT / "out" / "demo.duckdb"))
    ap.add_argument("--requests", type=int, default=2000, help="requests per concurrency")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--orders", action="store_true", help="fold two new order lines in")
    ap.add_argument("--results", default=str(BENCH / "web.json"))
    args = ap.parse_args()
    workspace = Path(args.workspace)
    if not workspace.exists():
        sys.exit(f"no workspace at {workspace}: run `make demo` first, or pass --workspace")
    keys = customer_keys(workspace, 500)
    with tempfile.TemporaryDirectory() as tmp:
        # serve a copy: the server holds the file's lock
        copy = Path(tmp) / "bench.duckdb"
        copy.write_bytes(workspace.read_bytes())
        token_file = Path(tmp) / "token"
        port = free_port()
        cmd = [
            str(Path(sys.executable).with_name("clustomer")),
            "serve",
            "-w",
            str(copy),
            "--port",
            str(port),
            "--token-file",
            str(token_file),
        ]
        server = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    if httpx.get(f"{base}/login", timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            token = token_file.read_text().strip()
            results = [
                asyncio.run(
                    load(f"{base}/api/v1/score", token, keys, args.requests, c, args.orders)
                )
                for c in args.clients
            ]
        finally:
            server.terminate()
            server.wait(timeout=30)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workspace": str(workspace),
        "orders": args.orders,
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "results": results,
    }
    for r in results:
        print(
            f"{r['clients']:>3} clients: p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
            f"{r['requests_per_s']} req/s, {r['errors']} errors of {r['requests']}"
        )
    Path(args.results).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.results}")


if __name__ == "__main__":
    main()
