"""Deterministic synthetic order log for the clustomer benchmark.

Writes a CSV in clustomer's ``generic`` layout::

    customer_id,order_id,order_date,product_id,product_name,quantity,unit_price,currency,country

Shape (all drawn from one seeded ``numpy.random.Generator``, so the same parameters
always give the same bytes):

- every customer has at least one order; the rest are spread with lognormal weights,
  which gives a heavy-tailed (Poisson-lognormal) number of orders per customer;
- each customer is acquired at a uniform time in the window and stays active for an
  exponential lifetime; its orders fall uniformly inside that span, at shop hours;
- orders have 1 + negative-binomial lines (mean about 4.5), rows sorted by time;
- about 4,000 products with Zipf-like popularity (exponent 0.75) and lognormal prices (2 decimals),
  a few names with a comma (quoted in the CSV), bulk lines at a 15 % discount;
- a few countries (mostly United Kingdom), fixed per customer; currency always GBP;
- about 2 % of the lines are returns: a negative quantity under the original order id
  prefixed with ``C``, dated up to 30 days after the order.

The file is named after its parameters and is not regenerated when it already exists,
with a ``.json`` sidecar holding the parameters, the generation time and a few counts.

Usage::

    python bench/generate.py --lines 10000000 --out bench/data/
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

# Bump when the generator's output changes for the same parameters: it is part of the name.
GENERATOR_VERSION = 1

HEADER = (
    "customer_id",
    "order_id",
    "order_date",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "currency",
    "country",
)

COUNTRIES = (
    ("United Kingdom", 0.86),
    ("Germany", 0.03),
    ("France", 0.03),
    ("EIRE", 0.02),
    ("Spain", 0.015),
    ("Netherlands", 0.015),
    ("Belgium", 0.01),
    ("Switzerland", 0.005),
    ("Portugal", 0.005),
    ("Australia", 0.005),
)

_COLOURS = (
    "WHITE", "RED", "PINK", "BLUE", "GREEN", "IVORY", "BLACK", "CREAM", "SILVER", "GOLD",
    "VINTAGE", "RETRO", "PASTEL", "SCANDINAVIAN", "FRENCH", "ENGLISH", "JUMBO", "MINI",
)  # fmt: skip
_MOTIFS = (
    "HEART", "STAR", "SPOTTY", "FLORAL", "PAISLEY", "DOILY", "BIRD", "OWL", "CHRISTMAS",
    "RABBIT", "CAKE", "ROSE", "LACE", "POLKADOT", "REGENCY", "WOODLAND", "DOTCOM", "SKULL",
    "BUNTING", "GINGHAM", "TOADSTOOL", "STRAWBERRY", "ANTIQUE", "HANGING",
)  # fmt: skip
_ITEMS = (
    "T-LIGHT HOLDER", "LANTERN", "MUG", "TEACUP AND SAUCER", "LUNCH BOX", "SHOPPER BAG",
    "CAKE STAND", "NAPKINS", "PHOTO FRAME", "DOORSTOP", "CUSHION COVER", "HOT WATER BOTTLE",
    "PURSE", "ALARM CLOCK", "PARTY BUNTING", "WALL SIGN", "STORAGE TIN", "CANDLE",
    "GIFT WRAP", "CHOPSTICKS", "PLATE", "BOWL", "JAM JAR", "KEY RING", "NOTEBOOK",
    "PENCILS", "BAKING CASES", "APRON", "OVEN GLOVE", "TISSUES", "WATER BOTTLE",
    "DRAWER KNOB", "COAT RACK", "SPOON", "TRINKET BOX", "FAIRY LIGHTS",
)  # fmt: skip


@dataclass(frozen=True)
class Params:
    lines: int = 10_000_000
    customers: int | None = None  # default: 4.5 % of lines (450,000 for 10M lines)
    products: int = 4_000
    days: int = 730
    start: str = "2023-01-01"
    return_rate: float = 0.02
    lines_per_order: float = 4.5
    seed: int = 42

    def resolved(self) -> Params:
        if self.customers is not None:
            return self
        return Params(**{**asdict(self), "customers": max(1, round(self.lines * 0.045))})

    def file_name(self) -> str:
        p = self.resolved()
        tail = ""
        defaults = Params()
        if (p.products, p.days, p.start, p.return_rate, p.lines_per_order) != (
            defaults.products,
            defaults.days,
            defaults.start,
            defaults.return_rate,
            defaults.lines_per_order,
        ):
            tail = (
                f"_p{p.products}_d{p.days}_{p.start.replace('-', '')}"
                f"_r{p.return_rate:g}_m{p.lines_per_order:g}"
            )
        return f"orders_L{p.lines}_C{p.customers}_s{p.seed}{tail}_v{GENERATOR_VERSION}.csv"


def _product_catalogue(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Product ids, names and base prices in pence, in popularity-rank order."""
    combos = len(_COLOURS) * len(_MOTIFS) * len(_ITEMS)
    if n > combos * 4:
        raise ValueError(f"at most {combos * 4} products")
    picks = rng.choice(combos * 4, size=n, replace=False)
    variant, picks = np.divmod(picks, combos)
    colour, rest = np.divmod(picks, len(_MOTIFS) * len(_ITEMS))
    motif, item = np.divmod(rest, len(_ITEMS))
    suffixes = ("", " SET OF 3", " LARGE", " SMALL")
    comma = rng.random(n) < 0.03
    names = []
    for c, m, i, v, k in zip(colour, motif, item, variant, comma, strict=True):
        name = f"{_COLOURS[c]} {_MOTIFS[m]} {_ITEMS[i]}{suffixes[v]}"
        if k:
            name = f"{_ITEMS[i]}, {_COLOURS[c]} {_MOTIFS[m]} DESIGN"
        names.append(name)
    # Stock codes: distinct 5-digit numbers, some with a letter suffix (like "85123A").
    codes = rng.choice(np.arange(10_000, 100_000), size=n, replace=False)
    letter = rng.random(n) < 0.15
    ids = [
        f"{c}{'ABCDEF'[c % 6]}" if has_letter else str(c)
        for c, has_letter in zip(codes.tolist(), letter.tolist(), strict=True)
    ]
    pence = np.clip(np.round(rng.lognormal(np.log(250.0), 0.9, size=n)), 10, 50_000)
    return pa.array(ids, pa.string()), pa.array(names, pa.string()), pence.astype(np.int64)


def _decimal_2dp(pence: np.ndarray) -> pa.Array:
    """A decimal(12,2) Arrow array from integer pence, without float rounding."""
    buf = np.empty((len(pence), 2), dtype=np.int64)
    buf[:, 0] = pence
    buf[:, 1] = pence >> 63  # sign extension of the 128-bit little-endian value
    return pa.Array.from_buffers(pa.decimal128(12, 2), len(pence), [None, pa.py_buffer(buf)])


def build_table(params: Params) -> tuple[pa.Table, dict[str, int]]:
    """The whole order log as an Arrow table, rows in time order."""
    p = params.resolved()
    assert p.customers is not None
    rng = np.random.default_rng(p.seed)
    n_returns = round(p.lines * p.return_rate)
    n_sales = p.lines - n_returns
    n_cust = p.customers

    # Lines per order: 1 + negative binomial with the requested mean; cut at n_sales lines.
    extra_mean = p.lines_per_order - 1.0
    shape = 0.8
    est = int(n_sales / p.lines_per_order * 1.2) + 1_000
    sizes = 1 + rng.negative_binomial(shape, shape / (shape + extra_mean), size=est)
    np.minimum(sizes, 400, out=sizes)
    total = np.cumsum(sizes)
    while total[-1] < n_sales:  # rare: draw more orders
        more = 1 + rng.negative_binomial(shape, shape / (shape + extra_mean), size=est)
        sizes = np.concatenate([sizes, np.minimum(more, 400)])
        total = np.cumsum(sizes)
    n_orders = int(np.searchsorted(total, n_sales)) + 1
    sizes = sizes[:n_orders]
    sizes[-1] -= int(total[n_orders - 1]) - n_sales
    if n_orders < n_cust:
        raise ValueError(
            f"{n_sales} sale lines make only {n_orders} orders for {n_cust} customers: "
            "lower --customers"
        )

    # Orders per customer: one each, the rest spread with lognormal weights (heavy tail).
    weight = rng.lognormal(0.0, 1.3, size=n_cust)
    per_cust = 1 + rng.multinomial(n_orders - n_cust, weight / weight.sum())
    order_cust = np.repeat(np.arange(n_cust), per_cust)

    # Customer lifetime inside the window, then order times inside each lifetime.
    span = p.days * 86_400
    acquired = rng.random(n_cust) * span
    lifetime = np.minimum(rng.exponential(400 * 86_400, size=n_cust), span - acquired)
    t = acquired[order_cust] + rng.random(n_orders) * lifetime[order_cust]
    day = np.minimum((t // 86_400).astype(np.int64), p.days - 1)
    hour_p = np.array([1, 2, 4, 6, 7, 7, 7, 6, 5, 4, 3, 2, 1.5, 1], dtype=float)
    hour = 7 + rng.choice(len(hour_p), size=n_orders, p=hour_p / hour_p.sum())
    order_ts = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, size=n_orders)

    # Invoice numbers in time order.
    by_time = np.argsort(order_ts, kind="stable")
    order_no = np.empty(n_orders, dtype=np.int64)
    order_no[by_time] = 1_000_000 + np.arange(n_orders)

    # Sale lines, in time order.
    line_order = np.repeat(by_time, sizes[by_time])
    ids, names, base_pence = _product_catalogue(rng, p.products)
    zipf = 1.0 / np.arange(1, p.products + 1) ** 0.75
    line_prod = rng.choice(p.products, size=n_sales, p=zipf / zipf.sum())
    qty_values = np.array([1, 2, 3, 4, 5, 6, 8, 10, 12, 24, 36, 48, 96, 144], dtype=np.int32)
    qty_p = np.array([30, 14, 8, 6, 3, 7, 2, 3, 14, 7, 1.5, 2, 1, 0.5])
    line_qty = rng.choice(qty_values, size=n_sales, p=qty_p / qty_p.sum())
    line_pence = base_pence[line_prod]
    bulk = line_qty >= 12
    line_pence[bulk] = np.maximum(np.round(line_pence[bulk] * 0.85), 1).astype(np.int64)

    # Returns: random sale lines, one return invoice per original order, up to 30 days later.
    ret = np.sort(rng.choice(n_sales, size=n_returns, replace=False))
    ret_order = line_order[ret]
    room_days = np.minimum(30, p.days - 1 - day)
    ret_day = day + 1 + (rng.random(n_orders) * room_days).astype(np.int64)
    ret_hour = 7 + rng.choice(len(hour_p), size=n_orders, p=hour_p / hour_p.sum())
    order_ret_ts = ret_day * 86_400 + ret_hour * 3_600 + rng.integers(0, 3_600, size=n_orders)
    last_day = room_days == 0  # ordered on the last day: returned an hour later at most
    order_ret_ts[last_day] = np.minimum(order_ts[last_day] + 3_600, span - 1)
    ret_ts = order_ret_ts[ret_order]
    ret_qty = -rng.integers(1, line_qty[ret].astype(np.int64) + 1).astype(np.int32)
    ret_sorted = np.lexsort((ret, order_no[ret_order], ret_ts))

    # All lines: sales then returns, merged by time (stable: invoices stay contiguous).
    all_order = np.concatenate([line_order, ret_order[ret_sorted]])
    all_ts = np.concatenate([order_ts[line_order], ret_ts[ret_sorted]])
    all_prod = np.concatenate([line_prod, line_prod[ret][ret_sorted]])
    all_qty = np.concatenate([line_qty, ret_qty[ret_sorted]])
    all_pence = np.concatenate([line_pence, line_pence[ret][ret_sorted]])
    all_ret = np.zeros(p.lines, dtype=bool)
    all_ret[n_sales:] = True
    rows = np.argsort(all_ts, kind="stable")

    cust_code = 10 ** len(str(n_cust)) + rng.permutation(n_cust)
    country_names = [c for c, _ in COUNTRIES]
    country_p = np.array([w for _, w in COUNTRIES])
    cust_country = rng.choice(len(COUNTRIES), size=n_cust, p=country_p / country_p.sum())

    o = all_order[rows]
    prod = pa.array(all_prod[rows])
    epoch = np.datetime64(p.start, "s").astype(np.int64)
    table = pa.table(
        {
            "customer_id": pa.array(cust_code[order_cust[o]]),
            "order_no": pa.array(order_no[o]),
            "is_return": pa.array(all_ret[rows]),
            "order_date": pa.array((epoch + all_ts[rows]).astype("datetime64[s]")),
            "product_id": ids.take(prod),
            "product_name": names.take(prod),
            "quantity": pa.array(all_qty[rows]),
            "unit_price": _decimal_2dp(all_pence[rows]),
            "country": pa.DictionaryArray.from_arrays(
                pa.array(cust_country[order_cust[o]].astype(np.int8)),
                pa.array(country_names),
            ),
        }
    )
    stats = {
        "lines": p.lines,
        "sale_lines": n_sales,
        "return_lines": n_returns,
        "customers": n_cust,
        "orders": n_orders,
        "return_invoices": int(len(np.unique(ret_order))),
        "products": p.products,
        "max_orders_per_customer": int(per_cust.max()),
        "one_order_customers": int((per_cust == 1).sum()),
    }
    return table, stats


def write_csv(table: pa.Table, path: Path) -> None:
    """Write ``table`` in the generic layout with DuckDB (parallel, quotes only when needed)."""
    con = duckdb.connect()
    try:
        con.register("gen", table)
        tmp = path.with_name(path.name + ".tmp")
        tmp_sql = str(tmp).replace("'", "''")
        con.execute(
            f"""
            COPY (
                SELECT customer_id,
                       CASE WHEN is_return THEN 'C' ELSE '' END || order_no AS order_id,
                       order_date, product_id, product_name, quantity, unit_price,
                       'GBP' AS currency, country::VARCHAR AS country
                FROM gen
            ) TO '{tmp_sql}' (FORMAT csv, HEADER true, DELIMITER ',')
            """
        )
        os.replace(tmp, path)
    finally:
        con.close()


def generate(
    params: Params, out_dir: str | os.PathLike[str], *, force: bool = False, quiet: bool = False
) -> tuple[Path, dict[str, object]]:
    """Generate the CSV for ``params`` under ``out_dir`` unless it is already there.

    Returns the path and its metadata (the ``.json`` sidecar); ``metadata["generated_now"]``
    tells whether this call wrote the file.
    """
    p = params.resolved()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / p.file_name()
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists() and not force:
        meta = json.loads(meta_path.read_text())
        if meta.get("params") == asdict(p) and meta.get("size_bytes") == path.stat().st_size:
            meta["generated_now"] = False
            return path, meta
    t0 = time.perf_counter()
    table, stats = build_table(p)
    t1 = time.perf_counter()
    write_csv(table, path)
    t2 = time.perf_counter()
    meta = {
        "params": asdict(p),
        "generator_version": GENERATOR_VERSION,
        "header": ",".join(HEADER),
        "size_bytes": path.stat().st_size,
        "build_seconds": round(t1 - t0, 3),
        "write_seconds": round(t2 - t1, 3),
        "generate_seconds": round(t2 - t0, 3),
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "stats": stats,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    meta["generated_now"] = True
    if not quiet:
        print(
            f"generated {path} ({meta['size_bytes'] / 1e6:.0f} MB, {p.lines:,} lines, "
            f"{p.customers:,} customers) in {t2 - t0:.1f} s "
            f"(build {t1 - t0:.1f} s, write {t2 - t1:.1f} s)",
            file=sys.stderr,
        )
    return path, meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = Params()
    ap.add_argument("--lines", type=int, default=d.lines, help="lines, header excluded")
    ap.add_argument("--customers", type=int, default=None, help="default: 4.5%% of --lines")
    ap.add_argument("--products", type=int, default=d.products)
    ap.add_argument("--days", type=int, default=d.days)
    ap.add_argument("--start", default=d.start, help="first day, YYYY-MM-DD")
    ap.add_argument("--return-rate", type=float, default=d.return_rate)
    ap.add_argument("--lines-per-order", type=float, default=d.lines_per_order)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "data"))
    ap.add_argument("--force", action="store_true", help="regenerate even if the file exists")
    ap.add_argument(
        "--json", action="store_true", help="print the metadata (with its path) as JSON"
    )
    args = ap.parse_args(argv)
    if args.lines < 1:
        ap.error("--lines must be positive")
    params = Params(
        lines=args.lines,
        customers=args.customers,
        products=args.products,
        days=args.days,
        start=args.start,
        return_rate=args.return_rate,
        lines_per_order=args.lines_per_order,
        seed=args.seed,
    )
    path, meta = generate(params, args.out, force=args.force)
    if not meta["generated_now"]:
        print(f"exists, not regenerated: {path}", file=sys.stderr)
    print(json.dumps({"path": str(path), **meta}) if args.json else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
