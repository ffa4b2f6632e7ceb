"""Property: whatever a generic CSV holds, every row is accounted for and money adds up."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clustomer import Workspace

row = st.fixed_dictionaries(
    {
        "customer_id": st.sampled_from(["", "c1", "c2", "c3", "17850.0"]),
        "order_id": st.sampled_from(["o1", "o2", "o3"]),
        "order_date": st.sampled_from(["2024-01-01 10:00:00", "2024-02-03 09:30:00", "2999-01-01"]),
        "product_name": st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8
        ),
        "quantity": st.integers(-3, 5),
        "unit_price": st.sampled_from(["0", "1.5", "2", "-1", "x"]),
    }
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=25))
def test_every_row_accounted_and_revenue_round_trips(rows: list[dict[str, object]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        path.write_text(buf.getvalue(), encoding="utf-8")
        with Workspace(":memory:") as ws:
            try:
                s = ws.import_file(path, layout="generic")
            except Exception as exc:  # only "nothing can be kept" may refuse this input
                assert "none of the" in str(exc), exc
                return
            assert s.rows_read == len(rows)
            assert s.rows_read == s.rows_kept + sum(s.rows_dropped.values())
            stored = ws.order_lines()
            assert len(stored) == s.rows_kept
            assert abs(stored["revenue"].sum() - s.revenue_kept) < 1e-6
            # what was stored is exactly the rows that deserved to be kept, once each
            expected = {
                (
                    str(r["customer_id"]).removesuffix(".0"),
                    r["order_id"],
                    r["quantity"],
                    r["unit_price"],
                )
                for r in rows
                if r["customer_id"]
                and r["unit_price"] not in ("0", "-1", "x")
                and r["quantity"] != 0
                and not str(r["order_date"]).startswith("2999")
            }
            got = {
                (k, o, int(q), p)
                for k, o, q, p in stored[["customer_key", "order_id", "quantity", "unit_price"]]
                .astype({"unit_price": float})
                .itertuples(index=False)
            }
            assert len(got) <= len(stored)
            assert {(k, o, q, float(p)) for k, o, q, p in expected} == got
