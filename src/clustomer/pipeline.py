"""The main job end to end: import (optional) → features → segments → CSV and report.

``clustomer segment`` and ``clustomer demo`` are thin shells around :func:`run_segment`.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from clustomer.errors import ClustomerError
from clustomer.export.safety import atomic_file
from clustomer.progress import Progress, Timings
from clustomer.results import SegmentRun
from clustomer.store.imports import ImportSummary
from clustomer.workspace import Workspace


@dataclass
class SegmentOutcome:
    """What one ``clustomer segment`` produced."""

    imported: ImportSummary | None
    run: SegmentRun
    csv_path: Path
    report_path: Path
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output: the run summary, the import account, outputs, timings."""
        out = self.run.summary()
        out["import"] = self.imported.to_dict() if self.imported else None
        if out["import"] is not None:
            out["import"]["rejects"] = out["import"]["rejects"][:20]
        out["outputs"] = {"segments_csv": str(self.csv_path), "report_html": str(self.report_path)}
        out["timings"] = self.timings
        return out


#: Modules the segment and report stages need; slow to import (scikit-learn, plotly).
_MODEL_MODULES = ("clustomer.segment.run", "clustomer.report")


def preload_models() -> threading.Thread:
    """Import the modelling and report code in a background thread, and return it.

    Importing scikit-learn takes about a second. DuckDB lets go of Python's lock while
    it reads a file, so an import started before a big file is read costs nothing. Join
    the thread before the main thread imports any of these modules itself.
    """

    def load() -> None:
        for name in _MODEL_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # the main thread imports it again and reports the error
                return

    thread = threading.Thread(target=load, name="clustomer-preload", daemon=True)
    thread.start()
    return thread


def _migration(ws: Workspace, run: SegmentRun) -> dict[str, Any] | None:
    """Who moved since the run this one continues (same method and features), if any."""
    earlier = run.details.get("aligned_with_run")
    if earlier is None:
        return None
    data: dict[str, Any] = ws.compare(int(earlier), run.run_id).to_dict()
    return data


def write_segments_csv(run: SegmentRun, path: Path) -> Path:
    """Write ``segments.csv``: one row per customer, segment columns then features."""
    table = run.table()
    numeric = table.select_dtypes("float").columns
    table[numeric] = table[numeric].round(4)
    with atomic_file(path, binary=True, what="segments.csv") as fh:
        pacsv.write_csv(pa.Table.from_pandas(table, preserve_index=False), fh)
    return path


def run_segment(
    source: str | Path | None,
    *,
    workspace: str | Path,
    out_dir: str | Path = "out",
    k: int | None = None,
    as_of: datetime | None = None,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    currency: str | None = None,
    date_format: str | None = None,
    sample_size: int = 10_000,
    random_state: int = 0,
    memory_limit: str | None = None,
    progress: Progress | None = None,
    method: str = "kmeans",
    features: str | Sequence[str] | None = None,
    playbook: str | Path | None = None,
    no_pii: bool = False,
) -> SegmentOutcome:
    """Import ``source`` if given, segment every customer in the workspace, write outputs.

    Writes ``segments.csv`` and ``report.html`` into ``out_dir``; the report's strategy
    section uses ``playbook`` (a TOML file over the default one), read first so that a
    bad file fails before any work.
    """
    from clustomer.playbook import load_playbook

    chosen_playbook = load_playbook(playbook)
    timings = Timings(progress)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ClustomerError(
            f"--out {out} is a file; give a folder for segments.csv and report.html"
        )
    # without a file to import, the workspace must exist already (a typo is an error)
    with Workspace(workspace, memory_limit=memory_limit, create=source is not None) as ws:
        imported = None
        if source is not None:
            loader = preload_models()
            try:
                with timings.stage("import"):
                    imported = ws.import_file(
                        source,
                        layout,
                        mapping,
                        currency=currency,
                        date_format=date_format,
                        progress=timings,
                        no_pii=no_pii,
                    )
            finally:
                # two threads importing one package can see it half initialised (a
                # KeyError from sklearn was seen once): the main thread waits for it
                loader.join()
        run = ws.segment(
            k=k,
            as_of=as_of,
            sample_size=sample_size,
            random_state=random_state,
            progress=timings,
            method=method,
            features=features,
        )
        with timings.stage("segments.csv"):
            csv_path = write_segments_csv(run, out / "segments.csv")
        with timings.stage("report"):
            from clustomer.report import summarize_run, write_report
            from clustomer.store.values import latest_backtest

            imports = [i.to_dict() for i in ws.imports()]
            summary = summarize_run(
                run.result,
                imports=imports,
                run={
                    "run_id": run.run_id,
                    "as_of": run.as_of.date().isoformat(),
                    "n_customers": int(len(run.result.assignments)),
                    "method": run.result.method,
                    "details": run.details,
                    "migration": _migration(ws, run),
                    "currency": imports[-1]["currency"] if imports else None,
                    "timings": dict(timings.seconds),
                    "backtest": latest_backtest(ws.store),
                    "values": run.features,
                    "playbook": chosen_playbook,
                },
            )
            report_path = write_report(summary, out / "report.html")
    return SegmentOutcome(imported, run, csv_path, report_path, dict(timings.seconds))
