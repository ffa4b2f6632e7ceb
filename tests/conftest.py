"""Shared fixtures: workspaces (in memory and on disk), the bundled sample, tiny files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

import clustomer
from clustomer import Workspace

DATA = Path(__file__).parent / "data"

# Hypothesis profiles: ``ci`` by default (the import fuzzing, tests/test_ingest_fuzz.py,
# then runs 1,000 + 50 examples in about 50 s of one core), ``--hypothesis-profile=long``
# for a ten times longer search. A test that sets its own ``max_examples`` keeps it.
_PROFILE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=1000, **_PROFILE)
settings.register_profile("long", max_examples=8000, **_PROFILE)
settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def _pseudonym_key_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Imports with contact details make the per-install pseudonym key: keep the tests'
    key in a temporary folder, never in the user's ``~/.config`` (child processes
    inherit the variable)."""
    import os

    before = os.environ.get("CLUSTOMER_KEY_FILE")
    os.environ["CLUSTOMER_KEY_FILE"] = str(tmp_path_factory.mktemp("key") / "pseudonym.key")
    yield
    if before is None:
        os.environ.pop("CLUSTOMER_KEY_FILE", None)
    else:
        os.environ["CLUSTOMER_KEY_FILE"] = before


@pytest.fixture
def ws() -> Iterator[Workspace]:
    """A fresh in-memory workspace."""
    with Workspace(":memory:") as w:
        yield w


@pytest.fixture(scope="session")
def sample_ws() -> Iterator[Workspace]:
    """An in-memory workspace holding the bundled Online Retail sample (imported once)."""
    with Workspace(":memory:") as w:
        w.import_file(clustomer.sample_path())
        yield w


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write bytes or text to a file in a temporary folder and return its path."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write


@pytest.fixture
def digest() -> Callable[[Path], str]:
    """SHA-256 of a file, to check a workspace is byte-for-byte unchanged."""

    def sha(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    return sha


@pytest.fixture
def disk_ws(tmp_path: Path, data_dir: Path) -> Path:
    """A workspace file on disk that already holds one good import; closed."""
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as w:
        w.import_file(data_dir / "generic_orders.csv")
    return path


@pytest.fixture(scope="session")
def small_orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generic-layout CSV of 300 customers with varied habits (seeded, ~2,000 lines)."""
    import numpy as np

    rng = np.random.default_rng(7)
    lines = ["customer_id,order_id,order_date,product_id,quantity,unit_price,currency"]
    order = 0
    for c in range(300):
        kind = c % 3  # frequent big spenders, occasional, one-off lapsed
        n_orders = [int(rng.integers(8, 20)), int(rng.integers(2, 5)), 1][kind]
        last_day = [
            int(rng.integers(330, 365)),
            int(rng.integers(150, 300)),
            int(rng.integers(0, 90)),
        ][kind]
        for _ in range(n_orders):
            order += 1
            day = max(0, last_day - int(rng.integers(0, 300)))
            for _ in range(int(rng.integers(1, 4))):
                price = round(float(rng.lognormal([3.5, 2.5, 2.0][kind], 0.4)), 2)
                lines.append(
                    f"C{c:04d},O{order:06d},2024-{1 + day // 31:02d}-{1 + day % 28:02d} 12:00:00,"
                    f"P{int(rng.integers(0, 40)):03d},{int(rng.integers(1, 4))},{price},GBP"
                )
    path = tmp_path_factory.mktemp("orders") / "small_orders.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
