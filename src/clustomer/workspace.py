"""The Python API: one object over one workspace file.

:class:`Workspace` composes the stages — ``ingest`` writes order lines into the store,
``features`` reads them back per customer, ``segment`` clusters them, and the run is
stored. It holds no logic of its own beyond that wiring; the CLI and (later) the web app
call it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.features import customer_features, default_as_of
from clustomer.ingest import import_file
from clustomer.marketing import MarketingMixin
from clustomer.progress import Progress, Timings
from clustomer.results import AssignOutcome, SegmentRun, with_value_totals
from clustomer.segment.attributes import (
    attribute_frame,
    attributes_only,
    by_attributes,
    now_utc,
)
from clustomer.store import Store
from clustomer.store.imports import (
    ImportSummary,
    list_imports,
    load_summary,
    read_customers,
    read_order_lines,
    workspace_currencies,
)
from clustomer.store.runs import (
    list_runs,
    load_assignments,
    load_model,
    load_run,
    previous_run,
    save_assigned,
    save_run,
)
from clustomer.store.values import latest_backtest, save_backtest

if TYPE_CHECKING:
    pass

# The modelling code (scikit-learn, about a second to import) is imported where it is
# used, so that ``clustomer.pipeline`` can import it while DuckDB reads a file.

DEFAULT_WORKSPACE = "clustomer.duckdb"
#: The backtest runs on at most this many customers (a random sample of them).
BACKTEST_CUSTOMERS = 20_000


class Workspace(MarketingMixin):
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
        progress: Any = None,
        no_pii: bool = False,
        key_file: str | Path | None = None,
    ) -> ImportSummary:
        """Import an export (CSV, Parquet or .xlsx): atomic, idempotent, every row counted.

        Order exports add order lines; customer tables (``shopify_customers``, a plain
        ``customers`` table of attributes) add customers, consent and attributes. See
        :func:`clustomer.ingest.import_file` and ``docs/formats.md``.

        Parameters
        ----------
        path : str or Path
            The export file.
        layout : str, optional
            Force a layout (``clustomer layouts`` lists them); detected by default.
        mapping : mapping of str to str, optional
            ``{field: column}`` for columns named otherwise than the layout expects.
        currency : str, optional
            Keep only the rows in this currency (a file may mix several).
        as_of : datetime, optional
            Rows dated after this are dropped (default: now).
        date_format : str, optional
            strptime format of the dates (``"%d/%m/%Y"``). Without it the format is
            detected, and dates that could be day-first or month-first are settled by
            the whole column, or the import stops and asks for one.
        progress : Progress, optional
            Shows the read (with how far it has got) and the commit.
        no_pii : bool
            Store pseudonyms alone (no raw e-mail address, phone number or name); see
            ``docs/privacy.md``.
        key_file : str or Path, optional
            The pseudonym key file (default: ``~/.config/clustomer/pseudonym.key``).
        """
        return import_file(
            self.store,
            path,
            layout=layout,
            mapping=mapping,
            currency=currency,
            as_of=as_of,
            date_format=date_format,
            progress=progress,
            no_pii=no_pii,
            key_file=key_file,
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

    def customers(self, merged: bool = False) -> pd.DataFrame:
        """The customers table (key, country, marketing consent, attributes).

        With ``merged``, the customers linked from several source keys instead, as
        :meth:`identities` lists them.
        """
        if merged:
            return self.identities(merged_only=True)
        return read_customers(self.store)

    def identities(self, *, merged_only: bool = False) -> pd.DataFrame:
        """One row per unified customer: source keys, the rules that linked them, orders
        and revenue (see ``docs/identity.md``)."""
        from clustomer.store.identity import identities

        return identities(self.store, merged_only=merged_only)

    def unlink(self, source_key: str) -> dict[str, Any]:
        """Give a linked source key its own lines back; it is never linked again."""
        from clustomer.store.identity import unlink

        return unlink(self.store, source_key)

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
        from clustomer.segment.align import align_with_previous
        from clustomer.segment.explain import explain_run
        from clustomer.segment.run import run_segmentation

        groups = parse_groups(features)
        timings = Timings(progress)
        only_attributes = attributes_only(self.store, features)
        if only_attributes:
            groups = ["demographics"]
        cutoff = as_of or (now_utc() if only_attributes else default_as_of(self.store))
        with timings.stage("features"):
            feats = (
                attribute_frame(self.store)
                if only_attributes
                else customer_features(self.store, cutoff)
            )
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
            if only_attributes:
                result = by_attributes(result, fset.table, fset.columns)
                fset.table["frequency"] = np.nan  # no purchase history, not one purchase
        id_map = {i: i for i in range(int(getattr(result.model, "n_clusters_", 0)))}
        earlier = None
        candidate = previous_run(self.store, result.method, list(fset.columns))
        # product topics are learned afresh each run: their columns mean other things
        if (
            candidate is not None
            and result.method not in ("hdbscan", "dbscan", "rfm")
            and ("products" not in groups)
        ):
            try:
                earlier_model = pickle.loads(load_model(self.store, candidate)[0])
            except Exception:  # a model pickled by another version: no alignment, no crash
                earlier_model = {}
            if earlier_model.get("segmenter") is not None:
                result, id_map = align_with_previous(
                    result, earlier_model["segmenter"], earlier_model.get("id_map")
                )
                earlier = candidate
        with timings.stage("explain"):
            held = workspace_currencies(self.store)
            explained, classifier, _ = explain_run(
                fset.table,
                result,
                currency=held[0] if held else None,
                random_state=random_state,
            )
        with timings.stage("value"):
            values, value_info = self._values(cutoff, random_state)
        if values is not None:
            result = with_value_totals(result, values)
        details = {
            "value": value_info,
            "features": fset.to_dict(),
            "aligned_with_run": earlier,
            "confidence": result.confidence,
            **explained,
        }
        model = {
            "segmenter": result.model,
            "classifier": classifier,
            "method": result.method,
            "feature_columns": list(fset.columns),
            "feature_groups": groups,
            "product_weights": fset.product_weights,
            "id_map": id_map,
            "aligned_with": earlier,
            "segment_names": dict(
                zip(
                    result.profiles["segment_id"].tolist(),
                    result.profiles["name"].tolist(),
                    strict=True,
                )
            ),
        }
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
                details=details,
                model=pickle.dumps(model),
                feature_columns=list(fset.columns),
                values=values,
            )
        table = fset.table
        if values is not None:  # no clean purchase (returns only): no value, said plainly
            table = table.merge(values, on="customer_key", how="left")
            numbers = ["p_active_90d", "expected_orders_90d", "expected_revenue_90d", "clv_12m"]
            table[numbers] = table[numbers].fillna(0.0)
            table["value_confidence"] = table["value_confidence"].fillna("low")
        return SegmentRun(run_id, cutoff, result, table, dict(timings.seconds), fset, details)

    def backtest(self, horizon: int = 91, *, days: pd.DataFrame | None = None) -> Any:
        """Backtest the customer-value models on this shop's history; store and return it.

        Returns a :class:`clustomer.clv.backtest.BacktestResult` (see that module for the
        protocol, the models and the rule that picks the best).
        """
        from clustomer.clv.backtest import backtest
        from clustomer.clv.transactions import customer_days

        if days is None:
            days = customer_days(self.store.con)
        keys = days["customer_key"].unique()
        if len(keys) > BACKTEST_CUSTOMERS:  # the model choice needs no more; it costs minutes
            rng = np.random.default_rng(0)
            keep = rng.choice(keys, size=BACKTEST_CUSTOMERS, replace=False)
            days = days[days["customer_key"].isin(keep)]
        result = backtest(days, horizon=horizon)
        save_backtest(self.store, result.to_dict())
        return result

    def _values(
        self, as_of: datetime, random_state: int
    ) -> tuple[pd.DataFrame | None, dict[str, Any]]:
        """Value columns with the model the latest backtest chose (backtesting first if
        there is none yet); a shop too young to backtest gets the naive model, said so."""
        from clustomer.clv.transactions import customer_days
        from clustomer.clv.values import customer_values

        info: dict[str, Any] = {}
        days = customer_days(self.store.con)  # read once: the backtest gets it too
        if days.empty:
            info["note"] = "no clean purchase lines: no customer value"
            return None, info
        bt = latest_backtest(self.store)
        if bt is None:
            try:
                self.backtest(days=days)
            except ClustomerError as exc:
                info["note"] = f"no backtest ({exc}); the naive rate model is used"
            bt = latest_backtest(self.store)
        model = str(bt["best_model"]) if bt else "naive"
        degenerate = bool(bt and model in (bt.get("degenerate") or {}))
        info.update(model=model, backtest_id=bt.get("backtest_id") if bt else None)
        try:
            values = customer_values(
                days, as_of, model=model, random_state=random_state, degenerate=degenerate
            )
        except ClustomerError as exc:
            info["note"] = f"no customer value: {exc}"
            return None, info
        info["clv_12m_total"] = round(float(values["clv_12m"].sum()), 2)
        return values, info

    def assign(
        self,
        source: str | Path | None = None,
        *,
        run_id: int | None = None,
        as_of: datetime | None = None,
        record: bool = True,
    ) -> AssignOutcome:
        """Put customers into the segments of a stored run, without refitting it.

        Parameters
        ----------
        source : path, optional
            An export with new orders, imported first (like ``import_file``).
        run_id : int, optional
            The run whose segments to use (default: the latest).
        as_of : datetime, optional
            Features as of this date (default: the day after the last order).
        record : bool
            Store the assignments in the workspace (table ``assigned``).

        Returns
        -------
        AssignOutcome
            Every customer's segment now, and how many are new, moved or unchanged
            against the run.
        """
        import pickle

        from clustomer.features.sets import build_feature_set
        from clustomer.segment.assign import assign_customers, compare_with_run
        from clustomer.store.runs import latest_run_id

        imported = self.import_file(source) if source is not None else None
        rid = latest_run_id(self.store) if run_id is None else int(run_id)
        model = pickle.loads(load_model(self.store, rid)[0])
        if model.get("segmenter") is None:
            raise ClustomerError(
                f"run {rid} grouped its few customers by the RFM rules; it has no model to "
                "assign new customers with; segment again once there are more customers"
            )
        groups = list(model.get("feature_groups") or ["rfm", "behaviour"])
        cutoff = as_of or default_as_of(self.store)
        feats = customer_features(self.store, cutoff)
        fset = build_feature_set(
            self.store,
            feats,
            groups,
            as_of=cutoff,
            method=model["method"],
            prune=False,
            product_weights=model.get("product_weights"),  # the run's topics, not new ones
        )
        assigned = assign_customers(model, fset.table)
        counts = compare_with_run(assigned, load_assignments(self.store, rid))
        if record:
            save_assigned(
                self.store,
                rid,
                assigned,
                as_of=cutoff,
                source=Path(source).name if source is not None else "workspace",
            )
        return AssignOutcome(rid, cutoff, assigned, counts, imported)

    def compare(self, run_a: int, run_b: int | None = None) -> Any:
        """Who moved between the segments of two runs (run B: the latest by default).

        Returns a :class:`clustomer.segment.compare.RunComparison`.
        """
        from clustomer.segment.compare import compare_runs
        from clustomer.store.runs import latest_run_id

        rid_b = latest_run_id(self.store) if run_b is None else int(run_b)
        return compare_runs(
            load_assignments(self.store, int(run_a)),
            load_assignments(self.store, rid_b),
            before_name=f"run {run_a}",
            after_name=f"run {rid_b}",
        )

    def runs(self) -> pd.DataFrame:
        """Every segmentation run, newest first."""
        return list_runs(self.store)

    def run_details(self, run_id: int | None = None) -> dict[str, Any]:
        """Config, metrics, k-selection curves and details of a run (the latest by
        default), as plain data."""
        from clustomer.store.runs import latest_run_id

        return load_run(self.store, latest_run_id(self.store) if run_id is None else run_id)

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
        # a damaged block met by a query that went to DuckDB directly: name the file
        if exc is not None and (damaged := self.store.damage_error(exc)) is not None:
            raise damaged from None
