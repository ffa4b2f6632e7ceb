"""The in-memory real-time path (``web/realtime.py``) gives the scratch path's answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clustomer import Workspace
from clustomer.web import realtime
from clustomer.web.scoring import ModelCache, score_customer

RUNS = {  # name: Workspace.segment options
    "kmeans": {"k": 3},
    "products": {"k": 3, "features": "rfm,behaviour,products"},
    "gmm": {"k": 3, "method": "gmm"},
    "dbscan": {"method": "dbscan"},
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def segmented(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, small_orders: Path
) -> Iterator[tuple[str, Workspace]]:
    folder = tmp_path_factory.mktemp("realtime")
    source = small_orders
    if request.param == "products":  # topics need product names
        source = folder / "named.csv"
        rows = small_orders.read_text().splitlines()
        colours, things = (
            ["RED", "BLUE", "GREEN", "WHITE"],
            ["MUG", "CANDLE", "BAG", "CARD", "LAMP"],
        )
        named = [rows[0] + ",product_name"]
        for row in rows[1:]:
            n = int(row.split(",")[3][1:])
            named.append(f"{row},{colours[n % 4]} {things[n % 5]} NO {n // 20}")
        source.write_text("\n".join(named) + "\n")
    with Workspace(folder / "ws.duckdb") as w:
        w.import_file(source)
        w.segment(sample_size=300, **RUNS[request.param])
        yield request.param, w


def _orders(rng: np.random.Generator, stored_orders: list[str], base: datetime) -> list[dict]:
    """A few new lines: new orders, unknown and known products, and sometimes a return
    of a stored order (it nets against that order)."""
    out: list[dict[str, Any]] = []
    for i in range(int(rng.integers(1, 4))):
        line: dict[str, Any] = {
            "order_id": f"NEW{i % 2}",
            "ts": base + timedelta(days=int(rng.integers(-400, 30)), hours=int(rng.integers(24))),
            "product_id": [None, "P001", "P039", "UNSEEN"][int(rng.integers(4))],
        }
        if rng.random() < 0.5:
            line["amount"] = round(float(rng.normal(40, 60)), 2)
        else:
            line["quantity"] = int(rng.integers(-2, 5))
            line["unit_price"] = round(float(rng.uniform(0, 30)), 2)
        out.append(line)
    if stored_orders and rng.random() < 0.4:
        out.append(
            {
                "order_id": stored_orders[int(rng.integers(len(stored_orders)))],
                "ts": base,
                "amount": -round(float(rng.uniform(1, 80)), 2),
            }
        )
    return out


def _same(fast: dict, slow: dict) -> None:
    fp, sp = fast.pop("probabilities"), slow.pop("probabilities")
    ff, sf = fast.pop("features"), slow.pop("features")
    assert fast == slow
    assert (fp is None) == (sp is None)
    if fp is not None:
        assert list(fp) == list(sp) and list(fp.values()) == pytest.approx(
            list(sp.values()), abs=1e-9
        )
    assert list(ff) == list(sf)
    for name, value in ff.items():
        if isinstance(value, float):
            assert value == pytest.approx(sf[name], abs=2e-4), name  # rounded to 4 places
        else:
            assert value == sf[name], name


def test_scores_with_new_lines_equal_the_scratch_path(segmented: tuple[str, Workspace]) -> None:
    name, ws = segmented
    fast_models, slow_models = ModelCache(), ModelCache()
    fast_scores = fast_models.scores(ws.store)
    assert fast_scores.book is not None and len(fast_scores.book) == len(ws.order_lines())
    if name == "products":
        assert fast_scores.book.weights is not None
    if name == "kmeans":  # the plain-array twins stand in for both estimators
        assert fast_scores.book.centroids is not None and fast_scores.book.boosting is not None
    slow_models.scores(ws.store).book = None  # every score takes the scratch path
    lines = ws.order_lines()
    orders_of = lines.groupby("customer_key")["order_id"].unique()
    base = datetime.fromisoformat(str(ws.run_details()["as_of"])[:19])
    rng = np.random.default_rng(11)
    keys: list[str | None] = [None, "NOT-A-CUSTOMER", *sorted(orders_of.index)[::7]]
    for key in keys:
        stored = [str(o) for o in orders_of.get(key, [])] if key else []
        orders = _orders(rng, stored, base)
        fast = score_customer(ws.store, fast_models, key, orders, top=0)
        slow = score_customer(ws.store, slow_models, key, orders, top=0)
        _same(fast, slow)


@pytest.mark.parametrize("segmented", ["kmeans"], indirect=True)
def test_a_big_workspace_keeps_the_scratch_path(
    segmented: tuple[str, Workspace], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ws = segmented
    monkeypatch.setattr(realtime, "BOOK_MAX_LINES", 10)
    models = ModelCache()
    assert models.scores(ws.store).book is None
    key = str(ws.assignments()["customer_key"].iloc[0])
    orders = [{"order_id": "N", "ts": datetime(2025, 1, 2), "amount": 10.0}]
    d = score_customer(ws.store, models, key, orders, top=0)
    assert d["new_lines"] == 1 and d["value_basis"].startswith("real-time")
