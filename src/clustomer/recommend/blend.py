"""The blend: two logistic regressions that weigh the recommenders' features.

The recommenders (repurchase, item-kNN, popularity) each describe a candidate product by
a few numbers (:mod:`~clustomer.recommend.candidates`). The blend turns them into the
probability that the customer buys the product in the next ``horizon`` days:

- the **own** model scores products the customer bought before (repurchase features and
  popularity);
- the **new** model scores products the customer never bought (item-kNN, popularity and
  how much the customer buys).

Both are logistic regressions (scikit-learn, standardised features, L2 with C = 1)
fitted on **earlier splits** of the same data, never on what they will be judged on:
features at ``as_of − horizon`` (the new model also at 28 and 56 days before that), the
label "bought it in the following ``horizon`` days", among the customers who bought in
those days (at most :data:`FIT_USERS` per split, a seeded sample; above
:data:`FIT_ROWS` rows the negatives are sampled and the intercept corrected). The
weights are stored on the original scale, so scoring is one matrix product; the
learned weights *are* the blend of the three recommenders. A customer's list is the top
of both kinds by probability (own and new products compete directly).

Where the data is too short or too thin to fit (under :data:`MIN_POSITIVES` positive
labels of either kind), :data:`DEFAULT_BLEND` is used: the same models fitted on the
bundled Online Retail sample with labels up to 2011-09-09.

The choices here (kNN size, candidate pools, splits, features) were made on the
sample's *validation* backtest (its lines up to 2011-09-09, so cutoff 2011-06-10 and the
blend fitted before that), not on the holdout after 2011-09-09.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from clustomer.recommend.candidates import (
    KNN_FEATURES,
    NEW_FEATURES,
    OWN_FEATURES,
    Context,
    candidates,
    context,
    in_sorted,
)
from clustomer.recommend.data import Encoded, bought_between

__all__ = [
    "DEFAULT_BLEND",
    "FIT_USERS",
    "MIN_POSITIVES",
    "Blend",
    "LogitModel",
    "fit_blend",
    "top_lists",
    "user_chunks",
]

#: At most this many customers (a seeded sample) train the blend.
FIT_USERS = 10_000
#: At most this many rows fit one model (negatives sampled above it).
FIT_ROWS = 500_000
#: Fewer positive labels than this (own or new) → :data:`DEFAULT_BLEND`.
MIN_POSITIVES = 30
#: Earlier splits the blend is fitted on, and the days between them.
FIT_SPLITS = 3
FIT_STEP = 28
#: About this many own pairs per chunk of customers.
CHUNK_PAIRS = 100_000


@dataclass(frozen=True)
class LogitModel:
    """A logistic regression on the original feature scale."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    means: tuple[float, ...] = ()

    def logit(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return np.asarray(X @ np.asarray(self.coef) + self.intercept, dtype=np.float64)

    def proba(self, X: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(X)))

    def contribution(self, X: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
        """Summed ``coef × (x − mean)`` of the named features (their pull on the logit)."""
        out = np.zeros(len(X))
        for j, f in enumerate(self.features):
            if f in names:
                out += self.coef[j] * (X[:, j] - (self.means[j] if self.means else 0.0))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "intercept": round(self.intercept, 4),
            "weights": {f: round(c, 4) for f, c in zip(self.features, self.coef, strict=True)},
        }


@dataclass(frozen=True)
class Blend:
    """The two fitted models and where they were fitted."""

    own: LogitModel
    new: LogitModel
    fitted_at: str | None = None
    users: int = 0
    source: str = "default"
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "fitted_at": self.fitted_at,
            "users": self.users,
            "own": self.own.to_dict(),
            "new": self.new.to_dict(),
            "notes": list(self.notes),
        }


def _fit_logit(
    X: np.ndarray, y: np.ndarray, names: tuple[str, ...], *, max_rows: int = FIT_ROWS, seed: int = 0
) -> LogitModel:
    """Fit one model; above ``max_rows`` rows, negatives are sampled at a rate r and the
    intercept corrected by log(r), so the probabilities stay calibrated."""
    rate = 1.0
    n_neg = int((~y).sum())
    if len(y) > max_rows and n_neg > 0:
        rate = max(min(1.0, (max_rows - int(y.sum())) / n_neg), 0.01)
        keep = y | (np.random.default_rng(seed).random(len(y)) < rate)
        X, y = X[keep], y[keep]
    X = X.astype(np.float64)  # a copy, standardised in place
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    X -= mean
    X /= scale
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        lr = LogisticRegression(C=1.0, max_iter=2000)
        lr.fit(X, y)
    coef = lr.coef_[0] / scale
    intercept = float(lr.intercept_[0] - (lr.coef_[0] * mean / scale).sum() + np.log(rate))
    return LogitModel(
        features=names,
        coef=tuple(float(c) for c in coef),
        intercept=intercept,
        means=tuple(float(m) for m in mean),
    )


def user_chunks(h_ptr: np.ndarray, users: np.ndarray, pairs: int = CHUNK_PAIRS) -> list[np.ndarray]:
    """Split sorted customer codes into chunks of about ``pairs`` candidates each (their
    own pairs + 50).

    >>> [c.tolist() for c in user_chunks(np.array([0, 3, 4, 9]), np.array([0, 1, 2]), pairs=110)]
    [[0, 1], [2]]
    """
    if len(users) == 0:
        return []
    sizes = (h_ptr[users + 1] - h_ptr[users]) + 50  # + the new candidates
    bounds = np.searchsorted(np.cumsum(sizes), np.arange(pairs, int(sizes.sum()), pairs))
    return [c for c in np.split(users, np.unique(bounds)) if len(c)]


def training_rows(
    ctx: Context, enc: Encoded, until: int, *, max_users: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Features and labels of the customers who bought in (cutoff, ``until``]."""
    h = ctx.h
    n_items = h.n_items
    bought = bought_between(enc, h.t, until)
    users = np.unique(bought // n_items) if len(bought) else np.zeros(0, dtype=np.int64)
    users = users[h.user_days[users] > 0]
    if len(users) > max_users:
        rng = np.random.default_rng(seed)
        users = np.sort(rng.choice(users, max_users, replace=False))
    Xo, yo = [np.zeros((0, len(OWN_FEATURES)))], [np.zeros(0, dtype=bool)]
    Xn, yn = [np.zeros((0, len(NEW_FEATURES)))], [np.zeros(0, dtype=bool)]
    for chunk in user_chunks(h.ptr, users):
        c = candidates(ctx, chunk)
        Xo.append(c.own_X.astype(np.float32))  # held for the fit: half the memory
        yo.append(in_sorted(c.own_keys(n_items), bought))
        Xn.append(c.new_X.astype(np.float32))
        yn.append(in_sorted(c.new_keys(n_items), bought))
    return (
        np.concatenate(Xo),
        np.concatenate(yo),
        np.concatenate(Xn),
        np.concatenate(yn),
        len(users),
    )


def fit_blend(
    enc: Encoded,
    t: int,
    horizon: int,
    segment: np.ndarray | None = None,
    n_segments: int = 0,
    *,
    splits: int = FIT_SPLITS,
    step: int = FIT_STEP,
    max_users: int = FIT_USERS,
    seed: int = 0,
) -> Blend | None:
    """Fit the blend on earlier splits of the data before day number ``t``.

    Split ``s`` (0, 1, …) has its features at ``t − horizon − s × step`` and its labels in
    the ``horizon`` days after, so every label falls on or before ``t``; each samples at
    most ``max_users`` customers. The own model is fitted on split 0 alone (repurchase
    habits drift, the latest split describes them best), the new model on all splits
    (new-product purchases are rarer: it needs more rows). Both choices were made on the
    bundled sample's validation split (cutoff − 182 days), not its holdout. Returns None
    when there are too few positive labels to fit either model.
    """
    parts = []
    users = 0
    first_day = int(enc.d.min()) if len(enc.d) else t
    for s in range(splits):
        tf = t - horizon - s * step
        if tf <= first_day:
            break
        ctx = context(enc, tf, segment, n_segments)
        rows = training_rows(ctx, enc, tf + horizon, max_users=max_users, seed=seed + s)
        del ctx  # one context at a time
        parts.append(rows[:4])
        users += rows[4]
    if not parts:
        return None
    # the own model learns from the latest split, the new model from all of them
    X_own, y_own = parts[0][0], parts[0][1]
    X_new = np.concatenate([p[2] for p in parts])
    y_new = np.concatenate([p[3] for p in parts])
    for y in (y_own, y_new):
        if y.sum() < MIN_POSITIVES or (~y).sum() < MIN_POSITIVES:
            return None
    day = np.datetime64(int(t - horizon), "D")
    return Blend(
        own=_fit_logit(X_own, y_own, OWN_FEATURES),
        new=_fit_logit(X_new, y_new, NEW_FEATURES),
        fitted_at=str(day),
        users=int(users),
        source="fitted",
        notes=(
            f"own model: the split at {day}; new model: {len(parts)} split(s), {step} days apart",
        ),
    )


def top_lists(
    u: np.ndarray,
    i: np.ndarray,
    primary: np.ndarray,
    secondary: np.ndarray | None,
    top: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's ``top`` rows by ``primary``, then ``secondary`` (both descending),
    then the lower product code: their positions in the input, and their rank (1…).

    >>> idx, rank = top_lists(np.array([0, 0, 0, 1]), np.array([5, 6, 7, 5]),
    ...                       np.array([0.2, 0.9, 0.2, 0.1]), None, 2)
    >>> idx.tolist(), rank.tolist()
    ([1, 0, 3], [1, 2, 1])
    """
    if secondary is None:
        order = np.lexsort((i, -primary, u))
    else:
        order = np.lexsort((i, -secondary, -primary, u))
    if len(order) == 0:
        return order, order
    su = u[order]
    start = np.flatnonzero(np.r_[True, su[1:] != su[:-1]])
    rank = np.arange(len(su)) - np.repeat(start, np.diff(np.r_[start, len(su)]))
    keep = rank < top
    return order[keep], rank[keep] + 1


def knn_pull(model: LogitModel, X: np.ndarray) -> np.ndarray:
    """How much more item-kNN than popularity pulls each new candidate up."""
    pop = tuple(f for f in model.features if f.startswith("lpop") or f == "lspop")
    return model.contribution(X, KNN_FEATURES) - model.contribution(X, pop)


# ``fit_blend`` on the bundled Online Retail sample with the backtest's cutoff as ``t``
# (2011-09-09): the own model's features at 2011-06-10, labels to 2011-09-09; the new
# model's splits at 2011-06-10, 05-13 and 04-15. The holdout after 2011-09-09 is unseen.
DEFAULT_BLEND = Blend(
    own=LogitModel(
        features=OWN_FEATURES,
        coef=(
            1.75933,
            -0.16544,
            0.02914,
            -0.28194,
            0.03778,
            -0.1736,
            0.10284,
            0.07799,
            -0.02934,
            0.22068,
            0.255,
            -0.07843,
            -0.0336,
            2.30453,
        ),
        intercept=-1.76998,
        means=(
            0.81181,
            4.03715,
            4.30659,
            0.391,
            0.79199,
            0.25264,
            2.14491,
            0.37902,
            4.03074,
            -2.97489,
            -2.75847,
            -4.09523,
            -2.06044,
            0.16467,
        ),
    ),
    new=LogitModel(
        features=NEW_FEATURES,
        coef=(
            1.47344,
            0.122,
            0.19699,
            0.10123,
            -0.00799,
            0.00475,
            -1.11704,
            -0.26337,
            0.08253,
            0.39263,
        ),
        intercept=-3.92446,
        means=(
            0.27184,
            -1.88709,
            -1.94344,
            -1.79137,
            -3.25257,
            -1.5359,
            0.19388,
            1.21914,
            3.27081,
            3.4878,
        ),
    ),
    fitted_at="2011-06-10",
    users=3912,
    source="default",
    notes=("fitted on the bundled Online Retail sample (features at 2011-06-10)",),
)
