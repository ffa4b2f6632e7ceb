"""The Python API: one object over one workspace file.

:class:`Workspace` composes the stages — ``ingest`` writes order lines into the store,
``features`` reads them back per customer, ``segment`` clusters them, and the run is
stored. It holds no logic of its own beyond that wiring; the CLI and (later) the web app
call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.features import customer_features, default_as_of
from clustomer.ingest import import_file
from clustomer.progress import Progress, Timings
from clustomer.store import Store
from clustomer.store.imports import (
    ImportSummary,
    list_imports,
    load_summary,
    read_customers,
    read_order_lines,
)
from clustomer.store.runs import list_runs, load_assignments, load_run, save_run

if TYPE_CHECKING:
    from clustomer.features.sets import FeatureSet
    from clustomer.segment.result import SegmentationResult

# The modelling code (scikit-learn, about a second to import) is imported where it is
# used, so that ``clustomer.pipeline`` can import it while DuckDB reads a file.

DEFAULT_WORKSPACE = "clustomer.duckdb"


@dataclass
class SegmentRun:
    """One stored segmentation run with everything needed to write its outputs."""

    run_id: int
    as_of: datetime
    result: SegmentationResult
    features: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    feature_set: FeatureSet | None = None

    @property
    def k(self) -> int:
        return self.result.k_selection.chosen_k

    def table(self) -> pd.DataFrame:
        """One row per customer: key, segment id and name, RFM segment, then the features.

        This is what ``segments.csv`` holds.
        """
        from clustomer.segment.result import FEATURE_COLUMNS

        extra = [c for c in self.result.feature_columns if c not in FEATURE_COLUMNS]
        cols = ["customer_key", *FEATURE_COLUMNS, *extra, "country"]
        cols = [c for c in cols if c in self.features.columns]
        assigned = self.result.assignments.reset_index(drop=True)
        feats = self.features[cols].reset_index(drop=True)
        keys = assigned["customer_key"]
        if len(keys) == len(feats) and keys.equals(feats["customer_key"]):
            # the usual case: assignments follow the feature rows; no join needed
            table = pd.concat([assigned, feats.drop(columns="customer_key")], axis=1)
        else:
            table = assigned.merge(feats, on="customer_key", how="left", validate="one_to_one")
        if table["customer_key"].is_monotonic_increasing:  # features come sorted by key
            order = np.argsort(table["segment_id"].to_numpy(), kind="stable")
            return table.take(order).reset_index(drop=True)
        return table.sort_values(["segment_id", "customer_key"], kind="stable").reset_index(
            drop=True
        )

    def summary(self) -> dict[str, Any]:
        """Plain data for ``--json`` and logs: k, why, and each segment's size and shares."""
        prof = self.result.profiles
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.date().isoformat(),
            "customers": int(len(self.result.assignments)),
            "customers_segmented": int(prof["size"].sum()),
            "returns_only": int((self.result.assignments["segment_id"] == -1).sum()),
            "unassigned": int((self.result.assignments["segment_id"] == -2).sum()),
            "k": self.k,
            "k_reason": self.result.k_selection.reason,
            "method": self.result.method,
            "features": self.feature_set.to_dict() if self.feature_set else None,
            "segments": [
                {
                    "id": int(r["segment_id"]),
                    "name": str(r["name"]),
                    "description": str(r["description"]),
                    "size": int(r["size"]),
                    "share_customers": round(float(r["share_customers"]), 4),
                    "share_revenue": round(float(r["share_revenue"]), 4),
                }
                for r in prof.to_dict("records")
            ],
            "rfm_segments": {
                str(r["rfm_segment"]): int(r["customers"])
                for r in self.result.rfm_counts.to_dict("records")
            },
        }


class Workspace:
    """A clustomer workspace: one DuckDB file with imports, order lines, customers, runs.

    Parameters
    ----------
    path : str or Path
        The workspace file (created if missing); ``":memory:"`` for a throw-away one.
    memory_limit : str, optional
        Cap DuckDB's memory, e.g. ``"1GB"``; bigger work spills to a temporary folder.
    threads : int, optional
        DuckDB worker threads (default: every core).
    create : bool
        Create the workspace file if it does not exist (default); otherwise that is a
        :class:`~clustomer.errors.WorkspaceError`.

    Examples
    --------
    >>> import clustomer
    >>> with clustomer.Workspace(":memory:") as ws:
    ...     summary = ws.import_file(clustomer.sample_path())
    ...     print(summary.rows_read, summary.customers)
    541909 4372
    """

    def __init__(
        self,
        path: str | Path = DEFAULT_WORKSPACE,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        create: bool = True,
    ) -> None:
        self.store = Store(path, memory_limit=memory_limit, threads=threads, create=create)

    @property
    def path(self) -> str:
        return self.store.path

    # -- collect and clean ------------------------------------------------------------
    def import_file(
        self,
        path: str | Path,
        layout: str | None = None,
        mapping: Mapping[str, str] | None = None,
        *,
        currency: str | None = None,
        as_of: datetime | None = None,
        date_format: str | None = None,
    ) -> ImportSummary:
        """Import an export (CSV, Parquet or .xlsx): atomic, idempotent, every row counted.

        See :func:`clustomer.ingest.import_file`.
        """
        return import_file(
            self.store,
            path,
            layout=layout,
            mapping=mapping,
            currency=currency,
            as_of=as_of,
            date_format=date_format,
        )

    def imports(self) -> list[ImportSummary]:
        """The account of every import, oldest first."""
        return [load_summary(self.store, i) for i in list_imports(self.store)]

    def quality(self, import_id: int | None = None) -> ImportSummary:
        """The account of one import (the latest by default)."""
        ids = list_imports(self.store)
        if not ids:
            raise ClustomerError("nothing has been imported into this workspace yet")
        return load_summary(self.store, ids[-1] if import_id is None else import_id)

    def order_lines(self) -> pd.DataFrame:
        """Every stored order line."""
        return read_order_lines(self.store)

    def customers(self) -> pd.DataFrame:
        """The customers table (key, country, marketing consent, attributes)."""
        return read_customers(self.store)

    # -- features and model ------------------------------------------------------------
    def features(self, as_of: datetime | None = None) -> pd.DataFrame:
        """Per-customer features as of a date (default: the day after the last order)."""
        return customer_features(self.store, as_of)

    def segment(
        self,
        *,
        k: int | None = None,
        as_of: datetime | None = None,
        sample_size: int = 10_000,
        random_state: int = 0,
        progress: Progress | None = None,
        method: str = "kmeans",
        features: str | Sequence[str] | None = None,
    ) -> SegmentRun:
        """Build features, segment the customers, explain the segments, store the run.

        Parameters
        ----------
        k : int, optional
            Force the number of segments; by default it is chosen over 2..10.
        as_of : datetime, optional
            Features as of this date (default: the day after the last order).
        sample_size : int
            Customers sampled to choose k (silhouette grows with n²).
        random_state : int
            Seed: the same seed on the same data gives the same segments.
        method : str
            ``kmeans`` (default), ``minibatch``, ``ward``, ``gmm``, ``hdbscan``,
            ``dbscan`` or ``kprototypes`` (see :mod:`clustomer.segment.methods`).
        features : str or sequence of str, optional
            Feature groups, e.g. ``"rfm,products"`` (default ``rfm,behaviour``; see
            :mod:`clustomer.features.sets`).
        """
        import pickle

        from clustomer.features.sets import build_feature_set, parse_groups
        from clustomer.segment.run import run_segmentation

        groups = parse_groups(features)
        timings = Timings(progress)
        cutoff = as_of or default_as_of(self.store)
        with timings.stage("features"):
            feats = customer_features(self.store, cutoff)
            fset = build_feature_set(
                self.store, feats, groups, as_of=cutoff, method=method, random_state=random_state
            )
        with timings.stage("segment"):
            result = run_segmentation(
                fset.table,
                n_clusters=k,
                sample_size=sample_size,
                random_state=random_state,
                feature_columns=fset.columns,
                method=method,
            )
        with timings.stage("store"):
            config = {
                "k": k,
                "sample_size": sample_size,
                "random_state": random_state,
                "method": method,
                "features": groups,
            }
            run_id = save_run(
                self.store,
                method=result.method,
                as_of=cutoff,
                k=result.k_selection.chosen_k,
                config=config,
                metrics={"explained_variance": result.explained_variance},
                curves=result.k_selection.to_dict(),
                reason=result.k_selection.reason,
                profiles=result.profiles,
                assignments=result.assignments,
                details={"features": fset.to_dict()},
                model=pickle.dumps(result.model),
                feature_columns=list(fset.columns),
            )
        return SegmentRun(run_id, cutoff, result, fset.table, dict(timings.seconds), fset)

    def runs(self) -> pd.DataFrame:
        """Every segmentation run, newest first."""
        return list_runs(self.store)

    def run_details(self, run_id: int) -> dict[str, Any]:
        """Config, metrics and k-selection curves of one run, as plain data."""
        return load_run(self.store, run_id)

    def assignments(self, run_id: int | None = None) -> pd.DataFrame:
        """Each customer's segment in a run (the latest by default)."""
        return load_assignments(self.store, run_id)

    # -- lifetime ----------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
