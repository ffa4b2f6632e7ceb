"""Backtest the recommendations on the shop's own history, like the customer-value backtest.

The protocol (:mod:`clustomer.clv.backtest`'s split):

1. ``cutoff`` = the last day of the lines − ``horizon`` days; the calibration period is
   every day up to and including the cutoff, the holdout (cutoff, cutoff + horizon].
2. **Users**: the customers with a clean line in the calibration period and one in the
   holdout (lines of any code, before the exclusion rules: on the bundled sample 1,921).
3. Each recommender lists ``top`` products per user from the calibration period alone.
   The blend's weights are fitted on the **earlier split** (features at cutoff − horizon,
   labels in the horizon up to the cutoff), never on the holdout.
4. **hit@N** = share of users with at least one listed product bought in the holdout;
   **recall@N** = mean over users of |listed ∩ bought| ÷ min(N, |bought|) (0 for a user
   who bought only excluded codes). *Any item*: every product counts. *New items*: the
   lists hold only products the user never bought in the calibration period, and are
   scored against the holdout's products the user had not bought before, over the users
   who bought at least one such product.

The recommenders compared:

==============  ===========================================================================
name            list
==============  ===========================================================================
``repurchase``  the user's products by purchase days (ties: the more popular), padded with
                the most popular products (all history); new items: popularity
``item_knn``    item-kNN scores (:mod:`~clustomer.recommend.itemknn`); any item: the
                user's own products score by their neighbours too
``popularity``  the most popular products of the last eight weeks (in the user's segment)
``blend``       the fitted blend (:mod:`~clustomer.recommend.blend`): what ``recommend``
                returns
==============  ===========================================================================
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.recommend.blend import (
    DEFAULT_BLEND,
    FIT_USERS,
    Blend,
    fit_blend,
    top_lists,
    user_chunks,
)
from clustomer.recommend.candidates import (
    NEW_FEATURES,
    OWN_FEATURES,
    Candidates,
    candidates,
    context,
    in_sorted,
)
from clustomer.recommend.data import Encoded, _codes, _days, bought_between, encode
from clustomer.recommend.popularity import EPS, segment_codes

__all__ = ["RECOMMENDERS", "backtest_recommendations", "hit_and_recall", "list_metrics"]

RECOMMENDERS = ("repurchase", "item_knn", "popularity", "blend")
_LCNT = OWN_FEATURES.index("lcnt")
_LSPOP_OWN = OWN_FEATURES.index("lspop")
_LSPOP_NEW, _LPOPALL_NEW = NEW_FEATURES.index("lspop"), NEW_FEATURES.index("lpopall")


def hit_and_recall(
    rec_keys: np.ndarray,
    truth_keys: np.ndarray,
    truth_users: np.ndarray,
    users: np.ndarray,
    n_items: int,
    top: int,
) -> dict[str, float | int]:
    """hit@top and recall@top from integer keys ``user * n_items + item``.

    ``rec_keys``: the listed products (at most ``top`` per user); ``truth_keys``: sorted
    distinct keys bought; ``users``: the users that count (a user without a list or
    without a bought product scores 0).
    """
    users = np.unique(users)
    if len(users) == 0:
        return {"users": 0, "hit": float("nan"), "recall": float("nan")}
    rec_keys = np.unique(rec_keys)
    hits = rec_keys[in_sorted(rec_keys, truth_keys)]
    n_hit = np.bincount(np.searchsorted(users, hits // n_items), minlength=len(users))
    n_true = np.bincount(np.searchsorted(users, truth_users), minlength=len(users))
    n_hit, n_true = n_hit[: len(users)], n_true[: len(users)]
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(n_true > 0, n_hit / np.minimum(top, np.maximum(n_true, 1)), 0.0)
    return {
        "users": int(len(users)),
        "hit": float((n_hit > 0).mean()),
        "recall": float(recall.mean()),
    }


def list_metrics(
    recommended: pd.DataFrame, bought: pd.DataFrame, *, top: int = 10
) -> dict[str, float | int]:
    """hit@top and recall@top of lists against what the users bought.

    Parameters
    ----------
    recommended : DataFrame
        ``customer_key``, ``product_id`` (and ``rank``: only ranks ≤ ``top`` count).
    bought : DataFrame
        ``customer_key``, ``product_id``: what each user bought in the holdout. The users
        are the customers in this frame.

    Examples
    --------
    >>> rec = pd.DataFrame({"customer_key": ["a", "a", "b"], "product_id": ["X", "Y", "X"]})
    >>> got = pd.DataFrame({"customer_key": ["a", "b", "b", "b"],
    ...                     "product_id": ["Y", "Z", "W", "V"]})
    >>> list_metrics(rec, got, top=2)  # a: 1 of min(2, 1); b: 0 of 2
    {'users': 2, 'hit': 0.5, 'recall': 0.5}
    """
    if "rank" in recommended.columns:
        recommended = recommended[recommended["rank"] <= top]
    keys = pd.concat([recommended["customer_key"], bought["customer_key"]]).astype(str)
    prods = pd.concat([recommended["product_id"], bought["product_id"]]).astype(str)
    uc, _ = pd.factorize(keys, sort=True)
    ic, items = pd.factorize(prods, sort=True)
    n = max(len(items), 1)
    k = uc.astype(np.int64) * n + ic
    rec_k, true_k = k[: len(recommended)], np.unique(k[len(recommended) :])
    users = np.unique(uc[len(recommended) :])
    return hit_and_recall(rec_k, true_k, true_k // n, users, n, top)


def _scores(name: str, blend: Blend, c: Candidates) -> tuple[np.ndarray, ...]:
    """Primary and secondary sort keys of the own and the new candidates."""
    new_pop = np.exp(c.new_X[:, _LSPOP_NEW]) - EPS
    new_all = c.new_X[:, _LPOPALL_NEW]
    if name == "blend":
        po, pn = blend.own.proba(c.own_X), blend.new.proba(c.new_X)
        return po, np.zeros(len(po)), pn, np.zeros(len(pn))
    if name == "repurchase":
        cnt = np.rint(np.expm1(c.own_X[:, _LCNT]))
        own_all = c.own_X[:, OWN_FEATURES.index("lpopall")]
        return cnt, own_all, new_all - 1e6, new_all
    if name == "item_knn":
        raw = np.exp(c.new_X[:, NEW_FEATURES.index("lknn")]) - EPS
        own_all = c.own_X[:, OWN_FEATURES.index("lpopall")]
        return c.own_knn, own_all, raw, new_all
    own_pop = np.exp(c.own_X[:, _LSPOP_OWN]) - EPS
    own_all = c.own_X[:, OWN_FEATURES.index("lpopall")]
    return own_pop, own_all, new_pop, new_all


def _eval_users(
    lines: pd.DataFrame, enc: Encoded, cut: int, horizon: int
) -> tuple[int, np.ndarray]:
    """Users by the protocol (any clean line, before exclusions): count, and their codes
    in ``enc`` (users who bought only excluded codes have none)."""
    codes, keys = _codes(lines["customer_key"])
    day_col = "day" if "day" in lines.columns else "ts"
    days = _days(lines[day_col])
    cal = np.unique(codes[(days <= cut) & (codes >= 0)])
    hold = np.unique(codes[(days > cut) & (days <= cut + horizon) & (codes >= 0)])
    both = np.intersect1d(cal, hold)
    names = keys[both].astype(str)
    pos = np.searchsorted(enc.customers.astype(str), names)
    pos = np.minimum(pos, max(enc.n_users - 1, 0))
    found = enc.customers.astype(str)[pos] == names if enc.n_users else np.zeros(0, bool)
    return int(len(both)), np.unique(pos[found])


def backtest_recommendations(
    lines: pd.DataFrame,
    *,
    horizon: int = 91,
    top: int = 10,
    segments: pd.Series | None = None,
    exclude: Iterable[str] | None = None,
    max_fit_users: int = FIT_USERS,
) -> dict[str, Any]:
    """Backtest the recommenders on one split in time (see the module docstring).

    Parameters
    ----------
    lines : DataFrame
        Clean order lines (:func:`clustomer.store.lines.clean_lines`).
    horizon : int
        Holdout length in days (and the earlier split's).
    top : int
        List length N of hit@N and recall@N.
    segments : Series, optional
        Customer key → segment name, for segment popularity.
    exclude : iterable of str, optional
        Exclusion rules (default :data:`~clustomer.recommend.exclusions.DEFAULT_EXCLUDE`).
    max_fit_users : int
        Customers sampled to fit the blend.

    Returns
    -------
    dict
        Plain JSON-ready data: ``cutoff``, ``horizon``, ``top``, ``users``,
        ``users_new``, ``fit`` (the blend's weights and where they were fitted),
        ``recommenders`` (per name: ``any`` and ``new``, each ``hit`` and ``recall``),
        ``seconds``. No customer keys.
    """
    if horizon < 1 or top < 1:
        raise ClustomerError("the horizon and the list length must be at least 1")
    t0 = time.perf_counter()
    enc = encode(lines, exclude)
    if enc.n_users == 0:
        raise ClustomerError("no order lines to backtest (after the exclusion rules)")
    day_col = "day" if "day" in lines.columns else "ts"
    last = int(_days(lines[day_col]).max())
    cut = last - horizon
    if cut <= int(enc.d.min()):
        raise ClustomerError(
            f"the lines cover {last - int(enc.d.min()) + 1} days: too short for a "
            f"{horizon}-day holdout"
        )
    n_users, users = _eval_users(lines, enc, cut, horizon)
    seg, n_seg = segment_codes(enc, segments)
    fitted = fit_blend(enc, cut, horizon, seg, n_seg, max_users=max_fit_users)
    blend = fitted or DEFAULT_BLEND
    ctx = context(enc, cut, seg, n_seg)
    h = ctx.h
    n_items = enc.n_items
    truth = bought_between(enc, cut, cut + horizon)
    truth = truth[in_sorted(truth // n_items, users)]
    old = in_sorted(truth, h.pu * n_items + h.pi)
    truth_new = truth[~old]
    lists: dict[str, dict[str, list[np.ndarray]]] = {
        r: {"any": [], "new": []} for r in RECOMMENDERS
    }
    for chunk in user_chunks(h.ptr, users):
        c = candidates(ctx, chunk)
        for name in RECOMMENDERS:
            po, so, pn, sn = _scores(name, blend, c)
            u = np.r_[c.own_u, c.new_u]
            i = np.r_[c.own_i, c.new_i]
            idx, _ = top_lists(u, i, np.r_[po, pn], np.r_[so, sn], top)
            lists[name]["any"].append(u[idx] * n_items + i[idx])
            idx, _ = top_lists(c.new_u, c.new_i, pn, sn, top)
            lists[name]["new"].append(c.new_u[idx] * n_items + c.new_i[idx])
    results: dict[str, Any] = {}
    users_new = np.unique(truth_new // n_items)
    for name in RECOMMENDERS:
        any_keys = np.concatenate(lists[name]["any"]) if lists[name]["any"] else np.zeros(0, int)
        new_keys = np.concatenate(lists[name]["new"]) if lists[name]["new"] else np.zeros(0, int)
        a = hit_and_recall(any_keys, truth, truth // n_items, users, n_items, top)
        # users who bought only excluded codes ever are not in enc: they count, as misses
        a_hit = a["hit"] * a["users"] / n_users
        a_recall = a["recall"] * a["users"] / n_users
        nw = hit_and_recall(new_keys, truth_new, truth_new // n_items, users_new, n_items, top)
        results[name] = {
            "any": {"hit": round(a_hit, 4), "recall": round(a_recall, 4)},
            "new": {"hit": round(float(nw["hit"]), 4), "recall": round(float(nw["recall"]), 4)},
        }
    day = np.datetime64(cut, "D")
    return {
        "cutoff": str(day),
        "horizon": int(horizon),
        "top": int(top),
        "users": n_users,
        "users_with_products": int(len(np.unique(truth // n_items))),
        "users_new": int(len(users_new)),
        "fit": blend.to_dict(),
        "recommenders": results,
        "seconds": round(time.perf_counter() - t0, 2),
    }
