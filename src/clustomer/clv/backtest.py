"""Backtest the customer-value predictions on the shop's own history.

The protocol (one split in time, every model judged on the same customers):

1. Transactions are distinct customer-days of clean lines
   (:func:`~clustomer.clv.transactions.customer_days`).
2. ``cutoff`` = the last day in the data − ``horizon`` days. The calibration period is
   every day up to and including the cutoff; the holdout is (cutoff, cutoff + horizon].
3. The population is every customer with a purchase day in the calibration period;
   their holdout targets are purchase days (``orders``), revenue, and bought-or-not.
4. Each model predicts, per customer, expected orders and revenue over the horizon and an
   activity score, from the calibration period alone:

   ================  ===============================================================
   model             predictions
   ================  ===============================================================
   ``bgnbd``         BG/NBD ``expected_purchases(horizon)``; revenue = orders ×
                     Gamma-Gamma ``expected_spend``; activity = 1 − exp(−orders),
                     P(at least one order) under Poisson; ``probability_alive`` is
                     scored too (``auc_alive``)
   ``paretonbd``     the same with Pareto/NBD
   ``naive``         calibration purchase days (revenue) ÷ calibration length ×
                     horizon, the length from the first day of the data (the anchors)
   ``naive_pace``    the same, the length from each customer's first purchase (≥ 1 day)
   ``gbm``           gradient boosting trained on the earlier split (cutoff − horizon)
   ``gbm_seasonal``  ``gbm``'s orders and revenue × the year-earlier seasonal uplift
                     (only when the data covers the year before the cutoff)
   ``ensemble``      optional, labelled: the mean of the ``naive`` and ``gbm``
                     predictions
   ``hybrid``        :mod:`clustomer.clv.hybrid`: gradient boosting on stacked earlier
                     windows (a revenue-rank regressor, a classifier), rank-averaged
                     with ``naive`` and mapped onto the ``ensemble``'s values; its
                     ``orders_mae`` is scored on its absolute-error forecast
                     (``orders_median``, the Poisson median of the naive rate)
   ================  ===============================================================

   BTYD models are fitted with recency and T in weeks (``unit_days=7``), the unit of the
   literature; the horizon is converted to the same unit.
5. Metrics: :mod:`clustomer.clv.metrics`, plus ``auc_alive`` for the BTYD models and the
   oracle top-decile capture (ranking by the actual holdout revenue) for reference.
   ``orders_mae`` scores a model's ``orders_median`` where it has one (the median is the
   forecast that minimises the absolute error; the mean the squared error), its
   ``orders`` otherwise; ``orders_mae_mean`` always scores ``orders`` (the expected
   purchase days the value columns use), and so do every other metric and the totals.

**Best model rule.** Among models whose fit is not degenerate, rank each on revenue
Spearman, top-decile capture, activity AUC (``auc_active``; higher is better) and orders
MAE (lower is better); the lowest mean rank wins, ties going to the higher revenue
Spearman. Degenerate BTYD fits stay in the table, flagged, with the reason in ``notes``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clustomer.clv.aggregates import p_alive_histograms, weekly_tracking
from clustomer.clv.baselines import gbm_predict, naive_rate, seasonal_uplift
from clustomer.clv.metrics import METRICS, auc, score_predictions, top_decile_capture
from clustomer.clv.transactions import as_day, check_days, customer_days, holdout_summary
from clustomer.errors import ClustomerError

MODELS = (
    "bgnbd",
    "paretonbd",
    "naive",
    "naive_pace",
    "gbm",
    "gbm_seasonal",
    "ensemble",
    "hybrid",
)
#: What :func:`backtest` runs unless told otherwise: every model (the best of them must
#: be one :func:`clustomer.clv.values.customer_values` can predict with; all are).
DEFAULT_MODELS = MODELS
LABELS = {
    "bgnbd": "BG/NBD + Gamma-Gamma",
    "paretonbd": "Pareto/NBD + Gamma-Gamma",
    "naive": "naive rate (length from the data start)",
    "naive_pace": "naive rate (length from the first purchase)",
    "gbm": "gradient boosting, earlier split",
    "gbm_seasonal": "gbm × the year-earlier seasonal uplift",
    "ensemble": "ensemble: mean of naive and gbm (optional)",
    "hybrid": "hybrid: stacked-window gbm ranks averaged with naive",
}
RULE_METRICS = {  # metric -> higher is better
    "revenue_spearman": True,
    "top_decile_capture": True,
    "auc_active": True,
    "orders_mae": False,
}
BEST_RULE = (
    "lowest mean rank over revenue_spearman, top_decile_capture, auc_active (higher is "
    "better) and orders_mae (lower is better); degenerate BTYD fits excluded; ties to the "
    "higher revenue_spearman"
)


def _plain(value: Any) -> Any:
    """A JSON-ready value: floats rounded, NaN as None."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), 4)
    return value


@dataclass
class BacktestResult:
    """The outcome of :func:`backtest`.

    Attributes
    ----------
    cutoff : Timestamp
        The last calibration day.
    horizon : int
        Holdout length in days.
    n_customers : int
        Customers with a purchase day in the calibration period.
    share_active : float
        Share of them who bought in the holdout.
    table : DataFrame
        One row per model: the metrics, ``auc_alive``, ``orders_total_ratio`` (predicted
        ÷ actual holdout purchase days, all customers), ``fit_seconds``, ``degenerate``.
    predictions : DataFrame
        Long form: ``customer_key``, ``model``, ``orders``, ``revenue``, ``activity``,
        ``p_alive`` (BTYD only), ``orders_median`` (models with an absolute-error forecast).
    actual : DataFrame
        The holdout outcome per customer: ``orders``, ``revenue``, ``active``.
    best_model : str
        The winner under :data:`BEST_RULE`.
    oracle_top_decile : float
        Top-decile capture when ranking by the actual holdout revenue (the ceiling).
    fit_seconds : dict
        Seconds to fit and predict, per model.
    degenerate : dict
        Degenerate BTYD fits and the reason.
    notes : list of str
        What the reader should know: degenerate fits, failures, seasonality.
    tracking : dict
        Aggregates for a calibration-vs-holdout plot
        (:func:`~clustomer.clv.aggregates.weekly_tracking`): ``weeks`` (ISO start dates,
        aligned so the holdout starts a week), ``actual`` (purchase days per week, all
        customers), ``actual_cohort`` (the same, the backtest's customers
        only), ``holdout_start``, ``holdout_weeks`` and ``predicted`` (per model, each
        holdout week's share of its expected holdout purchase days). No customer keys.
    p_alive : dict
        Per BTYD model, the histogram of its P(alive) at the cutoff
        (:func:`~clustomer.clv.aggregates.p_alive_histograms`): ``edges``, ``counts``,
        ``degenerate``. No customer keys.
    """

    cutoff: pd.Timestamp
    horizon: int
    n_customers: int
    share_active: float
    table: pd.DataFrame
    predictions: pd.DataFrame
    actual: pd.DataFrame
    best_model: str
    oracle_top_decile: float
    fit_seconds: dict[str, float] = field(default_factory=dict)
    degenerate: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tracking: dict[str, Any] = field(default_factory=dict)
    p_alive: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``: the table and the findings, never customer keys."""
        return {
            "cutoff": self.cutoff.date().isoformat(),
            "horizon": self.horizon,
            "n_customers": self.n_customers,
            "share_active": _plain(self.share_active),
            "oracle_top_decile_capture": _plain(self.oracle_top_decile),
            "best_model": self.best_model,
            "best_rule": BEST_RULE,
            "models": {
                str(name): {"label": LABELS.get(str(name), str(name))}
                | {k: _plain(v) for k, v in row.items()}
                for name, row in self.table.to_dict("index").items()
            },
            "fit_seconds": {k: _plain(v) for k, v in self.fit_seconds.items()},
            "degenerate": dict(self.degenerate),
            "notes": list(self.notes),
            "tracking": dict(self.tracking),
            "p_alive": dict(self.p_alive),
        }


def fit_btyd_model(kind: str, rfm: pd.DataFrame, random_state: int) -> Any:
    """A BG/NBD (``kind="bgnbd"``) or Pareto/NBD model fitted on an RFM summary."""
    model: Any
    if kind == "bgnbd":
        from clustomer.clv.bgnbd import BetaGeo

        model = BetaGeo(random_state=random_state)
    else:
        from clustomer.clv.paretonbd import ParetoNBD

        model = ParetoNBD(random_state=random_state)
    f, r, age = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    return model.fit(f, r, age)


def _fit_btyd(
    kind: str, rfm: pd.DataFrame, t: float, random_state: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str | None]:
    """Expected purchases in ``t`` units and P(alive) of a BTYD model; the degeneracy."""
    model = fit_btyd_model(kind, rfm, random_state)
    f, r, age = (rfm[c].to_numpy() for c in ("frequency", "recency", "T"))
    orders = np.asarray(model.expected_purchases(t, f, r, age), dtype=float)
    alive = np.asarray(model.probability_alive(f, r, age), dtype=float)
    reason = None
    if getattr(model, "degenerate_", False):
        reason = str(getattr(model, "degenerate_reason_", None) or "flagged degenerate")
    return orders, alive, reason


def repeat_spend(rfm: pd.DataFrame, notes: list[str]) -> np.ndarray[Any, Any]:
    """Gamma-Gamma expected spend per purchase day for every customer."""
    repeat = (rfm["frequency"] > 0) & (rfm["monetary"] > 0)
    fallback = float(rfm.loc[repeat, "monetary"].mean()) if repeat.any() else 0.0
    try:
        from clustomer.clv.gammagamma import GammaGamma

        gg = GammaGamma().fit(rfm.loc[repeat, "frequency"], rfm.loc[repeat, "monetary"])
        spend = np.asarray(gg.expected_spend(rfm["frequency"], rfm["monetary"]), dtype=float)
        if not np.isfinite(spend).all():
            raise ClustomerError("non-finite expected spend")
        if getattr(gg, "degenerate_", False):
            notes.append(f"the Gamma-Gamma fit is degenerate: {gg.degenerate_reason_}")
        return spend
    except (ClustomerError, ImportError) as exc:
        notes.append(
            f"Gamma-Gamma failed ({exc}); BTYD revenue uses each repeat buyer's mean spend "
            "(the mean over repeat buyers for one-time buyers)"
        )
        return np.where(repeat, rfm["monetary"], fallback)


def _read(con_or_days: Any) -> pd.DataFrame:
    if isinstance(con_or_days, pd.DataFrame):
        return check_days(con_or_days)
    con = getattr(getattr(con_or_days, "store", None), "con", con_or_days)  # a Workspace
    return customer_days(con)


def _best(table: pd.DataFrame) -> str:
    ok = table[~table["degenerate"]].dropna(subset=list(RULE_METRICS))
    if ok.empty:
        ok = table.dropna(subset=list(RULE_METRICS))
    if ok.empty:
        raise ClustomerError("no model could be scored: every model failed or has NaN metrics")
    ranks = pd.DataFrame(
        {m: ok[m].rank(ascending=not higher) for m, higher in RULE_METRICS.items()}
    )
    order = pd.DataFrame({"rank": ranks.mean(axis=1), "tie": -ok["revenue_spearman"]})
    return str(order.sort_values(["rank", "tie"], kind="stable").index[0])


def backtest(
    con_or_days: Any,
    *,
    horizon: int = 91,
    models: tuple[str, ...] = DEFAULT_MODELS,
    unit_days: float = 7,
    random_state: int = 0,
) -> BacktestResult:
    """Run the backtest protocol of this module on a workspace or a customer-day table.

    Parameters
    ----------
    con_or_days : duckdb connection, Workspace or DataFrame
        Where the transactions come from (a DataFrame: one row per customer-day with
        ``customer_key``, ``day``, ``revenue``).
    horizon : int
        Holdout length in days (91: a quarter).
    models : tuple of str
        Which of :data:`MODELS` to run (``ensemble`` needs ``naive`` and ``gbm``); by
        default :data:`DEFAULT_MODELS`.
    unit_days : float
        Time unit of the BTYD fits, in days.
    random_state : int
        Seed of the BTYD multi-starts and the gradient boosting.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> days = pd.DataFrame({"customer_key": [f"c{i % 60}" for i in range(600)],
    ...     "day": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, 600), "D"),
    ...     "revenue": rng.gamma(2.0, 20.0, 600)})
    >>> res = backtest(days, horizon=60, models=("naive", "naive_pace"))
    >>> res.n_customers, res.best_model
    (60, 'naive')
    """
    unknown = set(models) - set(MODELS)
    if unknown:
        raise ClustomerError(f"unknown model(s) {sorted(unknown)}; choose from {MODELS}")
    if horizon < 1:
        raise ClustomerError(f"the horizon must be at least 1 day, not {horizon}")
    days = _read(con_or_days)
    if days.empty:
        raise ClustomerError("no clean purchase lines: nothing to backtest")
    first, last = days["day"].min(), days["day"].max()
    cutoff = as_day(last - pd.Timedelta(days=horizon))
    if cutoff < first:
        raise ClustomerError(
            f"the data spans {(last - first).days} days ({first.date()} to {last.date()}), "
            f"less than the {horizon}-day horizon: shorten the horizon or add history"
        )
    calib = days[days["day"] <= cutoff]
    population = pd.Index(sorted(calib["customer_key"].unique()), name="customer_key")
    actual = holdout_summary(days, cutoff, horizon, customers=population)
    notes: list[str] = []
    preds: dict[str, pd.DataFrame] = {}
    seconds: dict[str, float] = {}
    degenerate: dict[str, str] = {}

    btyd: list[str] = [m for m in ("bgnbd", "paretonbd") if m in models]
    if btyd:
        from clustomer.clv.transactions import rfm_summary

        rfm = rfm_summary(calib, cutoff, unit_days=unit_days)
        start = time.perf_counter()
        spend = repeat_spend(rfm, notes)
        gg_seconds = time.perf_counter() - start
    for name in btyd:
        start = time.perf_counter()
        try:
            orders, alive, reason = _fit_btyd(name, rfm, horizon / unit_days, random_state)
        except (ClustomerError, ImportError) as exc:
            notes.append(f"{LABELS[name]} failed and is left out: {exc}")
            continue
        seconds[name] = time.perf_counter() - start + gg_seconds
        preds[name] = pd.DataFrame(
            {"orders": orders, "revenue": orders * spend, "activity": -np.expm1(-orders)},
            index=rfm.index,
        ).assign(p_alive=alive)
        if reason:
            degenerate[name] = reason
            notes.append(
                f"the {LABELS[name].split(' +')[0]} fit is degenerate ({reason}): its "
                "P(alive) says little (near 1 for everyone) and it is left out of the "
                "best-model choice"
            )
    for name, since in (("naive", "start"), ("naive_pace", "first")):
        if name in models:
            start = time.perf_counter()
            preds[name] = naive_rate(calib, cutoff, horizon, since=since)
            seconds[name] = time.perf_counter() - start
    if "gbm" in models:
        start = time.perf_counter()
        try:
            preds["gbm"] = gbm_predict(calib, cutoff, horizon, random_state=random_state)
            seconds["gbm"] = time.perf_counter() - start
        except ClustomerError as exc:
            notes.append(f"{LABELS['gbm']} is left out: {exc}")
    if "gbm_seasonal" in models and "gbm" in preds:
        uplift = seasonal_uplift(calib, cutoff, horizon)
        if uplift is None:
            need = cutoff - pd.Timedelta(days=364 + horizon - 1)
            notes.append(
                f"no seasonal uplift (gbm_seasonal left out): the data starts on "
                f"{first.date()}, the same windows a year earlier need data from {need.date()}"
            )
        else:
            preds["gbm_seasonal"] = preds["gbm"] * pd.Series(
                {"orders": uplift, "revenue": uplift, "activity": 1.0}
            )
            seconds["gbm_seasonal"] = seconds["gbm"]
            notes.append(f"seasonal uplift a year earlier: x{uplift:.2f} (gbm_seasonal)")
    if "hybrid" in models:
        from clustomer.clv.hybrid import hybrid_predict

        start = time.perf_counter()
        try:
            preds["hybrid"] = hybrid_predict(calib, cutoff, horizon, random_state=random_state)
            seconds["hybrid"] = time.perf_counter() - start
        except ClustomerError as exc:
            notes.append(f"{LABELS['hybrid']} is left out: {exc}")
    if "ensemble" in models and {"naive", "gbm"} <= set(preds):
        cols = ["orders", "revenue", "activity"]
        preds["ensemble"] = (preds["naive"][cols] + preds["gbm"][cols]) / 2
        seconds["ensemble"] = seconds["naive"] + seconds["gbm"]

    rows: dict[str, dict[str, Any]] = {}
    for name, p in preds.items():
        p = p.reindex(population)
        if p[["orders", "revenue", "activity"]].isna().any().any():
            raise ClustomerError(f"model {name} left customers without a prediction")
        preds[name] = p
        row: dict[str, Any] = score_predictions(
            p["orders"], p["revenue"], p["activity"], actual["orders"], actual["revenue"]
        )
        row["orders_mae_mean"] = row["orders_mae"]
        if "orders_median" in p:
            row["orders_mae"] = float(np.mean(np.abs(p["orders_median"] - actual["orders"])))
        row["auc_alive"] = auc(p["p_alive"], actual["active"]) if "p_alive" in p else math.nan
        total = float(actual["orders"].sum())
        row["orders_total_ratio"] = float(p["orders"].sum()) / total if total else math.nan
        row["fit_seconds"] = seconds[name]
        row["degenerate"] = name in degenerate
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    extra = ["orders_mae_mean", "auc_alive", "orders_total_ratio", "fit_seconds", "degenerate"]
    table = table[[*METRICS, *extra]]
    table.index.name = "model"
    low = table.index[table["orders_total_ratio"] < 0.9].tolist()
    if low:
        notes.append(
            f"{len(low)} of {len(table)} models predict under 90% of the "
            f"{actual['orders'].sum():.0f} holdout purchase days ({', '.join(low)}; see "
            "orders_total_ratio): when the holdout is a seasonal peak, models that learn "
            "an average pace under-predict it"
        )
    long = pd.concat(
        [p.assign(model=n).rename_axis("customer_key").reset_index() for n, p in preds.items()],
        ignore_index=True,
    )
    return BacktestResult(
        cutoff=cutoff,
        horizon=horizon,
        n_customers=len(population),
        share_active=float(actual["active"].mean()),
        table=table,
        predictions=long,
        actual=actual,
        best_model=_best(table),
        oracle_top_decile=top_decile_capture(actual["revenue"], actual["revenue"]),
        fit_seconds=seconds,
        degenerate=degenerate,
        notes=notes,
        tracking=weekly_tracking(days, population, cutoff, horizon, preds),
        p_alive=p_alive_histograms(preds, degenerate),
    )
