"""The Spark job's outputs: two Parquet files, then the local job's CSV and report.

``assignments.parquet`` (one row per customer: key, segment id and name, RFM segment) and
``profiles.parquet`` (one row per segment) are written on the driver with pyarrow, as
single files: the tables are already there, and a path on the driver means the same
folder in local mode and on a cluster (Spark's own writer would run on the executors and,
for a local path, scatter the part files over their disks). ``segments.csv`` and
``report.html`` come from the local job's writers, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from clustomer.results import SegmentRun

__all__ = ["write_outputs", "write_parquet"]


def write_parquet(table: pd.DataFrame, path: Path) -> Path:
    """Write ``table`` as one Parquet file, atomically (a temporary name, then a rename).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> p = write_parquet(pd.DataFrame({"segment_id": [0, 1]}), folder / "t.parquet")
    >>> pd.read_parquet(p)["segment_id"].tolist()
    [0, 1]
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)
    tmp.replace(path)
    return path


def write_outputs(
    run: SegmentRun,
    out: Path,
    *,
    imports: list[dict[str, Any]],
    playbook: Any,
    timings: Mapping[str, float],
) -> dict[str, Path]:
    """Write the four outputs of a Spark run into ``out``; return their paths."""
    from clustomer.pipeline import write_segments_csv
    from clustomer.report import summarize_run, write_report

    result = run.result
    paths = {
        "assignments_parquet": write_parquet(result.assignments, out / "assignments.parquet"),
        "profiles_parquet": write_parquet(result.profiles, out / "profiles.parquet"),
        "segments_csv": write_segments_csv(run, out / "segments.csv"),
    }
    summary = summarize_run(
        result,
        imports=imports,
        run={
            "run_id": run.run_id,
            "as_of": run.as_of.date().isoformat(),
            "n_customers": int(len(result.assignments)),
            "method": result.method,
            "details": run.details,
            "migration": None,
            "currency": imports[-1].get("currency") if imports else None,
            "timings": dict(timings),
            "backtest": None,
            "values": run.features,
            "playbook": playbook,
        },
    )
    paths["report_html"] = write_report(summary, out / "report.html")
    return paths
