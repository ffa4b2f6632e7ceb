"""The hybrid value model: stacked earlier windows, rank targets, rank-averaged with naive.

Every choice below was fixed on two earlier splits *inside* the calibration period of the
bundled sample (features at cutoff − 91 and cutoff − 119 days, targets in the 91 days
after each, all on or before the backtest's cutoff) and never on the holdout; the figures
that decided each one are in ``docs/benchmarks.md`` (Customer-value models).

*Training data.* Instead of one earlier split, :func:`stacked_windows` stacks up to
:data:`WINDOWS` of them: features at ``cutoff − horizon − 14 k`` (k = 0, 1, …; a window
needs :data:`MIN_HISTORY` days of data before its cutoff) and the targets in the
``horizon`` days after each, all on or before the cutoff. On the earlier splits twelve
windows beat one or four.

*Features* (:func:`hybrid_features`): those of
:func:`~clustomer.clv.baselines.features_at`, plus exponentially weighted purchase days
and revenue (weight exp(−age ÷ H), H = 14, 60 and 180 days), mean spend per purchase
day, days since the last purchase ÷ the mean gap, the median and spread of the gaps, and
purchase days 91–182 and 182–273 days back. Basket size (lines, quantity, products per
day) did not help on the earlier splits and is left out.

*Models* (scikit-learn's histogram gradient boosting, 8 leaves, ≥ 100 rows a leaf, 100
rounds at rate 0.05: small trees beat 15 and 31 leaves on the earlier splits):

* a classifier of "buys in the horizon";
* a regressor of each customer's *percentile rank* of horizon revenue within its window
  (ties, such as every non-buyer, share their mean rank): revenue Spearman is the
  correlation of ranks, so the expected rank is the prediction it rewards (+0.02 over a
  Poisson regressor of revenue on the earlier splits);
* Poisson regressors of orders and revenue (their means, for the value columns).

*Combination.* The revenue ranking is the mean of the percentile ranks of the rank
regressor and of the naive rate's revenue (equal weights: the best of 0.3/0.5/0.7/1 on
the earlier splits); the activity ranking the same for the classifier and the naive
activity. Ranks are no currency, so each ranking is mapped onto the distribution of the
``ensemble``'s values (the mean of the naive and Poisson-GBM predictions): the customer
ranked q-th gets the q-th largest ensemble value. The totals are the ensemble's; the
order is the hybrid's.

*Orders.* ``orders`` is the ensemble's expected purchase days (a mean, kept for the value
columns and the totals). ``orders_median`` is the point forecast for the absolute error:
the median of a Poisson distribution with the naive rate's mean. The mean minimises the
squared error, the median the absolute error; on the earlier splits it scored MAE 0.728
(mean of the two) against 0.811 for a gradient-boosted median (quantile loss), 0.770 for
the Poisson median of the GBM mean, 0.738 for that of the ensemble mean and 0.855 for the
naive mean itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustomer.clv.baselines import TRAIN_ROWS, features_at, naive_rate
from clustomer.clv.transactions import DateLike, as_day, check_days, holdout_summary
from clustomer.errors import ClustomerError

#: At most this many stacked training windows.
WINDOWS = 12
#: Days between the cutoffs of consecutive training windows.
STEP_DAYS = 14
#: A training window needs this many days of data on or before its cutoff.
MIN_HISTORY = 28
#: Decay times H (days) of the weighted purchase days and revenue: weight exp(−age ÷ H).
HALF_LIVES = (14, 60, 180)


def hybrid_features(days: pd.DataFrame, cutoff: DateLike) -> pd.DataFrame:
    """The hybrid's features per customer, from the days on or before the cutoff only.

    Adds to :func:`~clustomer.clv.baselines.features_at`: ``ew_days_H`` and ``ew_revenue_H``
    (purchase days and revenue weighted by ``exp(−age ÷ H)``, H in :data:`HALF_LIVES`),
    ``mean_spend``, ``gap_ratio`` (days since the last purchase ÷ ``mean_gap``),
    ``median_gap``, ``gap_std``, ``days_91_182`` and ``days_182_273``.

    >>> days = pd.DataFrame({"customer_key": ["a", "a", "b"], "revenue": [10.0, 30.0, 5.0],
    ...     "day": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-06"])})
    >>> f = hybrid_features(days, "2024-01-21")
    >>> f.loc["a", ["mean_spend", "gap_ratio", "median_gap"]].tolist()
    [20.0, 1.0, 10.0]
    >>> bool(np.isclose(f.loc["b", "ew_days_14"], np.exp(-15 / 14)))
    True
    """
    cut = as_day(cutoff)
    d = check_days(days)
    d = d[d["day"] <= cut]
    f = features_at(d, cut)
    key = d["customer_key"]
    age = (cut - d["day"]).dt.days.to_numpy(dtype=np.float64)
    for h in HALF_LIVES:
        weight = pd.Series(np.exp(-age / h), index=d.index)
        f[f"ew_days_{h}"] = weight.groupby(key).sum()
        f[f"ew_revenue_{h}"] = (d["revenue"] * weight).groupby(key).sum()
    f["mean_spend"] = f["total_revenue"] / (f["frequency"] + 1)
    f["gap_ratio"] = f["days_since_last"] / f["mean_gap"]
    gaps = d.groupby("customer_key", sort=False)["day"].diff().dt.days
    f["median_gap"] = gaps.groupby(key).median()
    f["gap_std"] = gaps.groupby(key).std()
    for lo, hi in ((91, 182), (182, 273)):
        back = d[(age >= lo) & (age < hi)].groupby("customer_key").size()
        f[f"days_{lo}_{hi}"] = back.reindex(f.index, fill_value=0).astype(float)
    return f.replace([np.inf, -np.inf], np.nan)


def stacked_windows(
    days: pd.DataFrame,
    cutoff: DateLike,
    horizon: int,
    *,
    windows: int = WINDOWS,
    train_rows: int | None = TRAIN_ROWS,
    random_state: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Features and targets of the earlier windows, stacked; only days ≤ cutoff are read.

    Window k has its features at ``cutoff − horizon − STEP_DAYS × k`` and its targets
    (``orders``, ``revenue``, ``active``) in the ``horizon`` days after; windows whose
    cutoff has fewer than :data:`MIN_HISTORY` days of data before it are skipped. With
    more than ``train_rows`` rows in all, a random sample of customers is kept (the same
    customers in every window).

    Returns
    -------
    (DataFrame, DataFrame, ndarray)
        Features, targets (same row order) and each row's window number.
    """
    cut = as_day(cutoff)
    d = check_days(days)
    d = d[d["day"] <= cut]
    if d.empty:
        raise ClustomerError(f"no purchase on or before {cut.date()}: nothing to learn from")
    first = d["day"].min()
    cuts = [cut - pd.Timedelta(days=horizon + STEP_DAYS * k) for k in range(windows)]
    cuts = [c for c in cuts if (c - first).days >= MIN_HISTORY]
    if not cuts:
        raise ClustomerError(
            f"too little history for the hybrid: it needs {horizon + MIN_HISTORY} days of "
            f"data before the cutoff {cut.date()}, the data starts on {first.date()}"
        )
    keys = d.loc[d["day"] <= cuts[0], "customer_key"].unique()
    if train_rows is not None and len(keys) * len(cuts) > train_rows:
        size = max(1, train_rows // len(cuts))
        keys = np.random.default_rng(random_state).choice(keys, size=size, replace=False)
        d = d[d["customer_key"].isin(keys)]
    xs, ys, ids = [], [], []
    for k, c in enumerate(cuts):
        x = hybrid_features(d, c)
        xs.append(x)
        ys.append(holdout_summary(d, c, horizon, customers=x.index))
        ids.append(np.full(len(x), k))
    x_all, y_all = pd.concat(xs), pd.concat(ys)
    if len(x_all) < 20:
        raise ClustomerError(
            f"too little history for the hybrid: {len(x_all)} training rows, 20 are needed"
        )
    return x_all, y_all, np.concatenate(ids)


def poisson_median(mean: np.ndarray) -> np.ndarray:
    """The median of a Poisson distribution of each mean: the absolute error's forecast.

    >>> poisson_median(np.array([0.0, 0.5, 0.7, 1.0, 2.5])).tolist()
    [0.0, 0.0, 1.0, 1.0, 2.0]
    """
    from scipy.stats import poisson

    mu = np.clip(np.asarray(mean, dtype=np.float64), 0.0, None)
    out = np.where(mu > 0, poisson.ppf(0.5, np.where(mu > 0, mu, 1.0)), 0.0)
    return np.asarray(np.clip(out, 0.0, None), dtype=np.float64)


def _pct(values: pd.Series) -> pd.Series:
    return values.rank(pct=True)


def rank_map(score: pd.Series, values: pd.Series) -> pd.Series:
    """Give the customer ranked q-th by ``score`` the q-th largest of ``values``.

    Ties in ``score`` share the mean of their values, so tied scores stay tied.

    >>> s = pd.Series([0.2, 0.9, 0.5], index=list("abc"))
    >>> rank_map(s, pd.Series([10.0, 1.0, 4.0], index=list("abc"))).tolist()
    [1.0, 10.0, 4.0]
    """
    order = np.argsort(score.to_numpy(), kind="stable")
    mapped = np.empty(len(score), dtype=np.float64)
    mapped[order] = np.sort(values.reindex(score.index).to_numpy(dtype=np.float64))
    return pd.Series(mapped, index=score.index).groupby(score.to_numpy()).transform("mean")


def hybrid_predict(
    days: pd.DataFrame,
    cutoff: DateLike,
    horizon: int,
    *,
    random_state: int = 0,
    train_rows: int | None = TRAIN_ROWS,
) -> pd.DataFrame:
    """The hybrid's predictions for the horizon after ``cutoff`` (see the module docstring).

    Returns
    -------
    DataFrame
        Indexed by ``customer_key``, every customer who bought on or before the cutoff:
        ``orders`` (expected purchase days), ``orders_median`` (the absolute-error
        forecast), ``revenue`` (expected revenue) and ``activity`` (P(buys)).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    cut = as_day(cutoff)
    d = check_days(days)
    d = d[d["day"] <= cut]  # nothing after the cutoff is ever read
    x_train, y_train, window = stacked_windows(
        d, cut, horizon, train_rows=train_rows, random_state=random_state
    )
    x_now = hybrid_features(d, cut)[x_train.columns]
    naive = naive_rate(d, cut, horizon).reindex(x_now.index)
    common = {
        "learning_rate": 0.05,
        "max_iter": 100,
        "max_leaf_nodes": 8,
        "min_samples_leaf": max(5, min(100, len(x_train) // 50)),
        "l2_regularization": 1.0,
        "early_stopping": False,
        "random_state": random_state,
    }
    rank_target = y_train["revenue"].groupby(window).rank(pct=True).to_numpy()
    gbm = pd.DataFrame(index=x_now.index)
    with threadpool_limits(limits=1, user_api="openmp"):  # see baselines.gbm_predict
        for target in ("orders", "revenue"):
            y = y_train[target].to_numpy()
            if y.sum() <= 0:
                gbm[target] = 0.0
                continue
            reg = HistGradientBoostingRegressor(loss="poisson", **common)
            gbm[target] = reg.fit(x_train, y).predict(x_now)
        ranker = HistGradientBoostingRegressor(loss="squared_error", **common)
        gbm["rank"] = ranker.fit(x_train, rank_target).predict(x_now)
        active = y_train["active"].to_numpy()
        if active.all() or not active.any():
            gbm["activity"] = float(active.mean())
        else:
            clf = HistGradientBoostingClassifier(**common)
            gbm["activity"] = clf.fit(x_train, active).predict_proba(x_now)[:, 1]
    ensemble = (naive + gbm[["orders", "revenue", "activity"]]) / 2
    revenue_score = (_pct(gbm["rank"]) + _pct(naive["revenue"])) / 2
    activity_score = (_pct(gbm["activity"]) + _pct(naive["activity"])) / 2
    return pd.DataFrame(
        {
            "orders": ensemble["orders"],
            "orders_median": poisson_median(naive["orders"].to_numpy()),
            "revenue": rank_map(revenue_score, ensemble["revenue"]),
            "activity": rank_map(activity_score, ensemble["activity"]),
        },
        index=x_now.index,
    )
