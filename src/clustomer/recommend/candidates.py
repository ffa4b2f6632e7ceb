"""Candidates and their features: what each recommender says about a (customer, product).

For a chunk of customers at one cutoff, the candidates are

- **own**: every product the customer bought (the repurchase recommender's list), with the
  repurchase features of :mod:`~clustomer.recommend.repurchase` and the product's
  popularity;
- **new**: products the customer never bought: the :data:`N_KNN` best by item-kNN and the
  :data:`N_POP` most popular in the customer's segment (recent eight weeks), with the
  kNN score (``knn``: relative to the customer's best, ``lknn``: log of the raw sum), the
  product's popularity and three facts about the customer (``lud``: log purchase days,
  ``ulast``: log days since the last purchase, ``nitems``: log products bought), which let
  the blend weigh new products against the customer's own.

Item features (both kinds): ``lpop14``, ``lpop28``, ``lpopall`` (log buyers in the last
2 and 4 weeks and ever, relative to the top product), ``lspop`` (log share of the
customer's segment buying it in the last 8 weeks), ``rr`` (share of its buyers who came
back for it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustomer.recommend.data import Encoded, History, history
from clustomer.recommend.itemknn import NEIGHBOURS, Neighbours, knn_scores, ranges, similarity
from clustomer.recommend.popularity import EPS, item_popularity, segment_share, top_items
from clustomer.recommend.repurchase import OWN_PAIR_FEATURES, own_features

__all__ = [
    "ITEM_FEATURES",
    "NEW_FEATURES",
    "N_KNN",
    "N_POP",
    "OWN_FEATURES",
    "Candidates",
    "Context",
    "candidates",
    "context",
    "in_sorted",
]

ITEM_FEATURES = ("lpop14", "lpop28", "lspop", "lpopall", "rr")
OWN_FEATURES = OWN_PAIR_FEATURES + ITEM_FEATURES
KNN_FEATURES = ("knn", "lknn")
USER_FEATURES = ("lud", "ulast", "nitems")
NEW_FEATURES = KNN_FEATURES + ITEM_FEATURES + USER_FEATURES
#: New products per customer from item-kNN and from segment popularity.
N_KNN = 50
N_POP = 50
#: Days since the last purchase are capped at ten years (a customer without any).
MAX_AGE = 3650


def in_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Membership of ``values`` in the sorted array ``sorted_keys``.

    >>> in_sorted(np.array([1, 4, 9]), np.array([1, 2, 9])).tolist()
    [True, False, True]
    """
    if len(sorted_keys) == 0:
        return np.zeros(len(values), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[pos] == values


@dataclass
class Context:
    """Everything the recommenders know at one cutoff day."""

    h: History
    nb: Neighbours
    item: dict[str, np.ndarray]
    share: np.ndarray
    segment: np.ndarray
    top_pop: np.ndarray


def context(
    enc: Encoded,
    t: int,
    segment: np.ndarray | None = None,
    n_segments: int = 0,
    *,
    k: int = NEIGHBOURS,
    n_pop: int = N_POP,
) -> Context:
    """Build the :class:`Context` at day number ``t`` (segments: per customer code, 0 = none)."""
    h = history(enc, t)
    share = segment_share(h, segment, n_segments)
    item = item_popularity(h)
    seg = np.zeros(enc.n_users, dtype=np.int64) if segment is None else segment
    return Context(
        h=h,
        nb=similarity(h, k),
        item=item,
        share=share,
        segment=seg,
        top_pop=top_items(share, n_pop, h.buyers[0]),
    )


@dataclass
class Candidates:
    """Own and new candidates of a chunk of customers, with their features."""

    own_u: np.ndarray
    own_i: np.ndarray
    own_pos: np.ndarray
    own_X: np.ndarray
    own_knn: np.ndarray
    new_u: np.ndarray
    new_i: np.ndarray
    new_X: np.ndarray
    new_anchor: np.ndarray

    def own_keys(self, n_items: int) -> np.ndarray:
        return self.own_u * n_items + self.own_i

    def new_keys(self, n_items: int) -> np.ndarray:
        return self.new_u * n_items + self.new_i


def _first_per_group(group: np.ndarray, n: int) -> np.ndarray:
    """Mask of the first ``n`` rows of each run of equal values in ``group``."""
    if len(group) == 0:
        return np.zeros(0, dtype=bool)
    start = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    lengths = np.diff(np.r_[start, len(group)])
    rank = np.arange(len(group)) - np.repeat(start, lengths)
    return rank < n


def candidates(ctx: Context, users: np.ndarray, *, n_knn: int = N_KNN) -> Candidates:
    """Own and new candidates of ``users`` (sorted, distinct customer codes)."""
    h = ctx.h
    n_items = h.n_items
    t = h.t
    pos = ranges(h.ptr[users], h.ptr[users + 1])
    own_u, own_i = h.pu[pos], h.pi[pos]
    own_key = own_u * n_items + own_i
    kkey, kscore, kanchor = knn_scores(h, ctx.nb, users)
    owned = in_sorted(kkey, own_key)
    own_knn = np.zeros(len(own_key))
    if owned.any():
        own_knn[np.searchsorted(own_key, kkey[owned])] = kscore[owned]
    kkey, kscore, kanchor = kkey[~owned], kscore[~owned], kanchor[~owned]
    ku = kkey // n_items
    # the customer's best kNN score over new products
    best = np.zeros(h.n_users)
    if len(ku):
        start = np.flatnonzero(np.r_[True, ku[1:] != ku[:-1]])
        best[ku[start]] = np.maximum.reduceat(kscore, start)
    order = np.lexsort((kkey % n_items, -kscore, ku))
    top_knn = kkey[order][_first_per_group(ku[order], n_knn)]
    # the most popular in the customer's segment
    pop_i = ctx.top_pop[ctx.segment[users]]
    pop_key = (users[:, None] * n_items + pop_i)[pop_i >= 0]
    pop_key = pop_key[~in_sorted(pop_key, own_key)]
    new_key = np.union1d(top_knn, pop_key)
    new_u, new_i = new_key // n_items, new_key % n_items
    at = np.minimum(np.searchsorted(kkey, new_key), max(len(kkey) - 1, 0))
    found = (kkey[at] == new_key) if len(kkey) else np.zeros(len(new_key), dtype=bool)
    raw = np.where(found, kscore[at] if len(kkey) else 0.0, 0.0)
    anchor = np.where(found, kanchor[at] if len(kkey) else -1, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(best[new_u] > 0, raw / best[new_u], 0.0)
    item = ctx.item
    lspop_all = np.log(ctx.share + EPS)

    def item_cols(u: np.ndarray, i: np.ndarray) -> list[np.ndarray]:
        cols = []
        for name in ITEM_FEATURES:
            cols.append(lspop_all[ctx.segment[u], i] if name == "lspop" else item[name][i])
        return cols

    pair_feats = own_features(h, pos)
    own_X = (
        np.column_stack([pair_feats[f] for f in OWN_PAIR_FEATURES] + item_cols(own_u, own_i))
        if len(pos)
        else np.zeros((0, len(OWN_FEATURES)))
    )
    age = np.minimum(t - h.user_last[new_u], MAX_AGE).astype(np.float64)
    new_X = (
        np.column_stack(
            [rel, np.log(raw + EPS)]
            + item_cols(new_u, new_i)
            + [np.log1p(h.user_days[new_u]), np.log1p(age), np.log1p(h.user_items[new_u])]
        )
        if len(new_key)
        else np.zeros((0, len(NEW_FEATURES)))
    )
    return Candidates(
        own_u=own_u,
        own_i=own_i,
        own_pos=pos,
        own_X=own_X,
        own_knn=own_knn,
        new_u=new_u,
        new_i=new_i,
        new_X=new_X,
        new_anchor=anchor.astype(np.int64),
    )
