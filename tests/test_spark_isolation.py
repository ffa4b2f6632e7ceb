"""The local path never imports the Spark engine's optional dependencies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import json, sys
import clustomer, clustomer.cli, clustomer.pipeline
from clustomer.pipeline import run_segment
outcome = run_segment(sys.argv[1], workspace=sys.argv[2], out_dir=sys.argv[3])
print(json.dumps({
    "k": outcome.run.k,
    "loaded": sorted(m for m in sys.modules
                     if m.split(".")[0] in ("pyspark", "py4j", "sqlglot")
                     or m.startswith("clustomer.spark")),
}))
"""


def test_the_local_pipeline_imports_neither_pyspark_nor_sqlglot(
    tmp_path: Path, data_dir: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _SCRIPT,
            str(data_dir / "generic_orders.csv"),
            str(tmp_path / "w.duckdb"),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["k"] >= 1  # the pipeline really ran
    assert data["loaded"] == []
