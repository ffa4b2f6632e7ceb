"""Scoring API load test: ``POST /api/v1/score`` latency and throughput (not a test).

Starts ``clustomer serve`` on a free port of 127.0.0.1 over a copy of a segmented
workspace (by default the demo's, ``out/demo.duckdb``: run ``make demo`` first), waits
for it to warm its caches, then loads it at 1 and at 32 concurrent connections, against
127.0.0.1 only, with each of two requests: a known customer by key (``key``), and a known
customer with two new order lines folded in (``orders``). Keys cycle over 500 customers.

The load generator is ``wrk`` (Debian's package: ``apt-get install wrk``), a C program
that leaves the server the most of the 2 cores; without it a bounded asyncio client
(httpx) is used, which costs the server about half a core and says so in the results.
Reports p50 / p99 latency and requests per second, and writes ``bench/web.json``::

    .venv/bin/python bench/web.py [--workspace out/demo.duckdb] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

ORDERS = [
    {"order_id": "new-1", "ts": "2011-12-10T10:00:00", "quantity": 2, "unit_price": 3.5},
    {"order_id": "new-1", "ts": "2011-12-10T10:00:00", "product_id": "85123A", "amount": 9},
]

WRK_SCRIPT = """
local keys = {%(keys)s}
local orders = %(orders)s
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
request = function()
  i = i + 1
  local body = '{"customer_key": "' .. keys[(i %% #keys) + 1] .. '"'
  if orders ~= "" then body = body .. ', "orders": ' .. orders end
  return wrk.format(nil, nil, nil, body .. '}')
end
done = function(summary, latency, requests)
  io.write(string.format('RESULT {"requests": %%d, "seconds": %%f, "non_2xx": %%d, ' ..
    '"errors": %%d, "p50_ms": %%f, "p99_ms": %%f, "mean_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.mean / 1000))
end
"""


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


def with_wrk(
    url: str, token: str, keys: list[str], clients: int, seconds: int, orders: bool, tmp: Path
) -> dict[str, Any]:
    script = tmp / "score.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "keys": ", ".join(json.dumps(k) for k in keys),
            "orders": json.dumps(json.dumps(ORDERS)) if orders else '""',
            "token": token,
        }
    )
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line.removeprefix("RESULT "))
    return {
        "clients": clients,
        "requests": r["requests"],
        "errors": r["non_2xx"] + r["errors"],
        "p50_ms": round(r["p50_ms"], 2),
        "p99_ms": round(r["p99_ms"], 2),
        "mean_ms": round(r["mean_ms"], 2),
        "requests_per_s": round(r["requests"] / r["seconds"], 1),
    }


async def with_httpx(
    url: str, token: str, keys: list[str], clients: int, seconds: int, orders: bool
) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    count = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors, count
        while time.perf_counter() < stop:
            body: dict[str, Any] = {"customer_key": keys[count % len(keys)]}
            count += 1
            if orders:
                body["orders"] = ORDERS
            start = time.perf_counter()
            resp = await client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            if resp.status_code != 200:
                errors += 1

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }


def wait_until_warm(base: str, token: str, key: str) -> None:
    """The first score waits for the start-up warming (it holds the workspace)."""
    import urllib.request

    for body in ({"customer_key": key}, {"customer_key": key, "orders": ORDERS}):
        req = urllib.request.Request(
            f"{base}/api/v1/score",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=300) as resp:
            assert resp.status == 200


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--workspace", default=str(ROOT / "out" / "demo.duckdb"))
    ap.add_argument("--seconds", type=int, default=10, help="seconds per measurement")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--client", choices=["auto", "wrk", "httpx"], default="auto")
    ap.add_argument("--results", default=str(BENCH / "web.json"))
    ap.add_argument(
        "--no-access-log", action="store_true", help="serve without its access log on stderr"
    )
    args = ap.parse_args()
    workspace = Path(args.workspace)
    if not workspace.exists():
        sys.exit(f"no workspace at {workspace}: run `make demo` first, or pass --workspace")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "httpx"
    keys = customer_keys(workspace, 500)
    results = []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        copy = tmp / "bench.duckdb"  # serve a copy: the server holds the file's lock
        copy.write_bytes(workspace.read_bytes())
        token_file = tmp / "token"
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
        if args.no_access_log:
            cmd.append("--no-access-log")
        server = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.1)
            token = token_file.read_text().strip()
            began = time.perf_counter()
            wait_until_warm(base, token, keys[0])
            warm_s = time.perf_counter() - began
            url = f"{base}/api/v1/score"
            for orders in (False, True):
                for c in args.clients:
                    if client == "wrk":
                        r = with_wrk(url, token, keys, c, args.seconds, orders, tmp)
                    else:
                        r = asyncio.run(with_httpx(url, token, keys, c, args.seconds, orders))
                    r["request"] = "orders" if orders else "key"
                    results.append(r)
                    print(
                        f"{r['request']:>6} {c:>3} clients: p50 {r['p50_ms']} ms, "
                        f"p99 {r['p99_ms']} ms, {r['requests_per_s']} req/s, "
                        f"{r['errors']} errors of {r['requests']}",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "workspace": str(workspace),
        "client": client,
        "access_log": not args.no_access_log,
        "nproc": os.cpu_count(),
        "load_before": os.getloadavg()[0],
        "first_score_after_start_s": round(warm_s, 2),
        "results": results,
    }
    Path(args.results).write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.results}")


if __name__ == "__main__":
    main()
