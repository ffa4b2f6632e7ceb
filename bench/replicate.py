"""Make a bigger order log from a generated one: N copies, each with its own customers.

``bench/generate.py`` builds its whole table in memory, which at 100 million lines needs
more RAM than a 24 GiB machine has. This script streams instead: it writes ``--copies``
copies of an existing generic-layout CSV, suffixing ``customer_id`` and ``order_id`` with
``x<copy>`` so that each copy is a separate set of customers and orders (a return
``C1000000`` becomes ``C1000000x3``, so returns still point at their order). Products,
dates, quantities and prices are unchanged, so every copy has the same shape as the
source; a segmentation of the result finds the same segments, each ``--copies`` times as
large. Used for the 100-million-line run in docs/scale.md::

    .venv/bin/python bench/replicate.py bench/data/orders_L10000000_C450000_s42_v1.csv \\
        --copies 10 --out bench/data/orders_L100000000_x10.csv
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb


def replicate(source: Path, copies: int, out: Path, *, memory_limit: str = "2GB") -> int:
    """Write ``copies`` key-suffixed copies of ``source`` to ``out``; the lines written."""
    if copies < 1:
        raise ValueError("--copies must be at least 1")
    tmp = out.with_name(out.name + ".part")
    part = out.with_name(out.name + ".copy")
    src = str(source).replace("'", "''")
    dest = str(part).replace("'", "''")
    con = duckdb.connect(config={"memory_limit": memory_limit, "preserve_insertion_order": True})
    try:
        (per_copy,) = con.execute(
            f"SELECT count(*) FROM read_csv('{src}', all_varchar = true)"
        ).fetchone() or (0,)
        with tmp.open("wb") as sink:
            for c in range(copies):
                # One copy at a time, in the source's order; appended to the output.
                con.execute(
                    f"""
                    COPY (
                        SELECT customer_id || 'x{c}' AS customer_id,
                               order_id || 'x{c}' AS order_id,
                               * EXCLUDE (customer_id, order_id)
                        FROM read_csv('{src}', all_varchar = true, header = true)
                    ) TO '{dest}' (HEADER {str(c == 0).upper()}, DELIMITER ',')
                    """
                )
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, sink, 1 << 24)
    finally:
        con.close()
        part.unlink(missing_ok=True)
    tmp.replace(out)
    return int(per_copy) * copies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("source", help="a generic-layout CSV (bench/generate.py writes them)")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    t = time.perf_counter()
    n = replicate(Path(args.source), args.copies, Path(args.out))
    size = Path(args.out).stat().st_size
    print(f"{n:,} lines, {size:,} bytes in {time.perf_counter() - t:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
