"""The real-time path's caches: each run's model, and every customer's key-only score.

:class:`ModelCache` keeps each run's unpickled model (a run's model never changes) and the
latest run's :class:`RunScores`: the features, segment, probabilities and stored values
of every customer whose lines end before the run's as-of date, computed in one pass. A
key-only ``POST /api/v1/score`` for such a customer is a dictionary lookup. The cache is
stamped with the latest run and the imports (:func:`clustomer.store.lines.workspace_stamp`)
and rebuilt when they change. With them it holds the run's :class:`~clustomer.web.
realtime.LineBook` (every stored line in memory), from which a score with new lines is
computed (:mod:`clustomer.web.realtime`). :mod:`clustomer.web.scoring` holds the
per-customer path on a scratch database.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.store.db import Store
from clustomer.store.lines import last_line_times, workspace_stamp
from clustomer.web.answer import plain
from clustomer.web.realtime import LineBook

__all__ = ["ModelCache", "RunScores", "one_thread"]


def _midnight_after(ts: Any) -> datetime:
    t = pd.Timestamp(ts)
    return datetime(t.year, t.month, t.day) + timedelta(days=1)


_controller: Any = None
_controller_lock = threading.Lock()


@contextmanager
def one_thread() -> Iterator[None]:
    """OpenMP at one thread in this block, in this thread only, for one-row predictions.

    A one-row prediction split over OpenMP's threads waits for each of them: measured on
    2 cores with the machine busy, a segment classifier's ``predict_proba`` of one row
    took 98 ms at the default threads and 1.3 ms at one (the limit itself costs ~11 µs).
    """
    global _controller
    with _controller_lock:
        if _controller is None:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()  # finds the libraries once (~ms)
    limits = _controller.limit(limits=1, user_api="openmp")
    try:
        yield
    finally:
        limits.restore_original_limits()


def _probabilities(
    model: dict[str, Any], X: pd.DataFrame | np.ndarray
) -> tuple[list[dict[str, float]] | None, str | None]:
    """Membership probabilities of each segment (by name) for each row of ``X``, and
    where they come from (``X`` a frame, or one row as an array)."""
    from clustomer.segment.assign import segment_name, segment_names

    names = segment_names(model)
    segmenter = model["segmenter"]
    if hasattr(segmenter, "predict_proba"):
        proba = np.asarray(segmenter.predict_proba(np.asarray(X, dtype=np.float64)))
        id_map = model.get("id_map") or {}
        labels = [segment_name(names, id_map.get(j, j)) for j in range(proba.shape[1])]
        return [dict(zip(labels, map(float, p), strict=True)) for p in proba], "segmenter"
    clf = model.get("classifier")
    if clf is None:
        return None, None
    inner = getattr(clf, "model_", None)
    if len(X) == 1 and inner is not None:  # one row: skip the per-call thread limits
        proba = np.asarray(inner.predict_proba(np.asarray(X, dtype=np.float64)), dtype=np.float64)
    else:
        proba = np.asarray(clf.predict_proba(X))  # fitted on a frame: given one
    labels = [segment_name(names, int(c)) for c in clf.classes_]
    return [dict(zip(labels, map(float, p), strict=True)) for p in proba], "classifier"


class ModelCache:
    """The unpickled model of each run, kept in memory (a run's model never changes), and
    the latest run's key-only scores of every customer (:class:`RunScores`), built on the
    first score of a run and rebuilt when a run or an import changes the workspace."""

    def __init__(self, *, track_writes: bool = False) -> None:
        self._models: dict[int, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self._scores: RunScores | None = None
        #: with ``track_writes``, the workspace is only looked at again after
        #: :meth:`changed` (the app calls it after every use that may write)
        self._track = track_writes
        self._checked = False

    def ready(self, key: str) -> RunScores | None:
        """The cached scores, when a key-only score of ``key`` is a lookup in them (no
        query, no build, no workspace lock); else None."""
        scores = self._scores
        if self._track and self._checked and scores is not None and key in scores.entries:
            return scores
        return None

    def ready_lines(self) -> tuple[RunScores, dict[str, Any]] | None:
        """The cached scores (with their line book) and the run's model, when a score with
        new lines can be computed from memory alone (no query, no workspace lock); else
        None."""
        scores = self._scores
        if self._track and self._checked and scores is not None and scores.book is not None:
            model = self._models.get(scores.run_id)
            if model is not None:
                return scores, model
        return None

    def changed(self) -> None:
        """The workspace may have been written: check the cached scores' stamp again."""
        self._checked = False

    def get(self, store: Store, run_id: int) -> dict[str, Any]:
        from clustomer.store.runs import load_model

        with self._lock:
            if run_id not in self._models:
                # the pickle comes only from the user's own workspace file
                self._models[run_id] = pickle.loads(load_model(store, run_id)[0])
            return self._models[run_id]

    def scores(self, store: Store) -> RunScores:
        """The latest run's cached scores (rebuilt when :func:`_stamp` changes).

        Raises
        ------
        ClustomerError
            No run yet.
        """
        with self._lock:
            if self._scores is not None and self._track and self._checked:
                return self._scores
            stamp = _stamp(store)
            if self._scores is None or self._scores.stamp != stamp:
                self._scores = RunScores.build(store, self.get(store, stamp[0]), stamp)
            self._checked = True
            return self._scores


def _stamp(store: Store) -> tuple[int, ...]:
    """What a cached score depends on: the latest run, and the imports and lines."""
    row = workspace_stamp(store)  # ~1 ms: read once per write with track_writes
    if row is None or row[0] is None:
        from clustomer.store.runs import latest_run_id

        latest_run_id(store)  # raises: no run yet
        raise ClustomerError("no segmentation has been run in this workspace yet")
    return tuple(-1 if v is None else int(v) for v in row)


class RunScores:
    """Everything a key-only score of the latest run needs, for every customer at once.

    ``entries`` holds the ready response fields of each customer whose newest line is
    before the run's as-of date (so the score's as-of date is the run's): the features,
    segment and probabilities computed on the whole workspace in one pass (the feature
    SQL and the model act on each customer alone, so they are the per-customer ones),
    and the stored values. (DuckDB sums a whole table's revenue in another order than
    one customer's, so a probability may differ from the per-customer path's in the last
    bits; the rounded features and the segment are the same.) ``entries`` is empty when
    the run has no model or clusters on demographics (a missing attribute is filled with
    the population's median, which one customer alone does not have): those take the
    per-customer path.
    """

    def __init__(self, stamp: tuple[int, ...], run: dict[str, Any], currency: str | None):
        self.stamp = stamp
        self.run_id = stamp[0]
        self.run = run
        self.as_of = pd.Timestamp(run["as_of"]).to_pydatetime().replace(tzinfo=None)
        self.currency = currency
        model_name = ((run.get("details") or {}).get("value") or {}).get("model")
        self.stored_basis = f"stored: run {self.run_id} ({model_name or 'no value model'})"
        self.run_segments: dict[str, tuple[int, str]] = {}
        self.entries: dict[str, dict[str, Any]] = {}
        self.known: set[str] = set()
        #: every stored line in memory, for scores with new lines (None: the scratch path)
        self.book: LineBook | None = None

    @classmethod
    def build(cls, store: Store, model: dict[str, Any], stamp: tuple[int, ...]) -> RunScores:
        from clustomer.store.imports import workspace_currencies
        from clustomer.store.runs import load_assignments, load_run

        currencies = workspace_currencies(store)
        out = cls(stamp, load_run(store, stamp[0]), currencies[0] if currencies else None)
        runs = load_assignments(store, out.run_id)
        out.run_segments = {
            str(k): (int(i), str(n))
            for k, i, n in zip(
                runs["customer_key"], runs["segment_id"], runs["segment_name"], strict=True
            )
        }
        last = last_line_times(store)
        out.known = {str(k) for k, _ in last}
        out.book = LineBook.build(store, model)
        groups = list(model.get("feature_groups") or ["rfm", "behaviour"])
        if model.get("segmenter") is None or "demographics" in groups:
            return out
        cached = {str(k) for k, ts in last if _midnight_after(ts) <= out.as_of}
        try:
            out.entries = _score_all(store, model, out.as_of, groups, cached)
        except ClustomerError:  # one customer's odd row: everyone takes the per-customer path
            return out
        values = _value_rows(store, out.run_id)
        for key, entry in out.entries.items():
            entry.update(values.get(key, _NO_VALUES))
        return out


_VALUE_FIELDS = ("p_active_90d", "expected_revenue_90d", "clv_12m")
_NO_VALUES = dict.fromkeys(_VALUE_FIELDS)


def _value_rows(store: Store, run_id: int) -> dict[str, dict[str, Any]]:
    from clustomer.store.values import load_values

    stored = load_values(store, run_id)
    cols = [
        stored[c].tolist() if c in stored.columns else [None] * len(stored) for c in _VALUE_FIELDS
    ]
    return {
        str(k): {f: plain(v[i]) for f, v in zip(_VALUE_FIELDS, cols, strict=True)}
        for i, k in enumerate(stored["customer_key"])
    }


def _score_all(
    store: Store, model: dict[str, Any], as_of: datetime, groups: list[str], keys: set[str]
) -> dict[str, dict[str, Any]]:
    """Features, segment and probabilities of every customer of ``keys`` at ``as_of``."""
    from clustomer.features.customer import customer_features
    from clustomer.features.sets import build_feature_set
    from clustomer.segment.assign import assign_customers

    if not keys:
        return {}
    feats = customer_features(store, as_of)
    feats = feats[feats["customer_key"].isin(keys)].reset_index(drop=True)
    if feats.empty:
        return {}
    fset = build_feature_set(
        store,
        feats,
        groups,
        as_of=as_of,
        method=model["method"],
        prune=False,
        product_weights=model.get("product_weights"),
    )
    table = fset.table
    assigned = assign_customers(model, table)
    seg_ids = assigned["segment_id"].to_numpy()
    seg_names = assigned["segment_name"].tolist()
    placed = np.flatnonzero(seg_ids >= 0)
    probs: list[dict[str, float] | None] = [None] * len(table)
    source = None
    if placed.size:
        rows, source = _probabilities(model, table.iloc[placed][list(model["feature_columns"])])
        if rows is not None:
            for j, row in zip(placed.tolist(), rows, strict=True):
                probs[j] = row
    out: dict[str, dict[str, Any]] = {}
    for i, rec in enumerate(table.to_dict("records")):
        key = str(rec.pop("customer_key"))
        out[key] = {
            "segment_id": int(seg_ids[i]),
            "segment_name": str(seg_names[i]),
            "probabilities": probs[i],
            "probability_source": source if probs[i] is not None else None,
            "features": {k: plain(v) for k, v in rec.items()},
        }
    return out
