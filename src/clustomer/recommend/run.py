"""``recommend``: every customer's top products, each with a reason in plain words.

The steps (no Python loop over customers; customers go through in chunks):

1. :func:`~clustomer.recommend.data.encode` the lines (non-products dropped by the
   :mod:`~clustomer.recommend.exclusions` rules);
2. fit the blend on the data's own earlier split(s) (:func:`~clustomer.recommend.blend.
   fit_blend`), or take the one given;
3. at ``as_of``: for each chunk of customers, the candidates (their own products, the
   item-kNN neighbours of those, the popular products of their segment) and the blend's
   probabilities; keep each customer's ``top``;
4. a reason per row: an own product gets the repurchase reason ("you buy this about every
   6 weeks"); a new product gets "bought together with X" when item-kNN pulls it up more
   than popularity does (X: the customer's product it is most similar to), else "popular
   in your segment" (with ``segments``) or "popular with customers right now";
5. customers without any purchase on or before ``as_of`` (cold start) get their
   segment's most popular products of the last eight weeks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import numpy as np
import pandas as pd

from clustomer.errors import ClustomerError
from clustomer.recommend.blend import (
    DEFAULT_BLEND,
    Blend,
    fit_blend,
    knn_pull,
    top_lists,
    user_chunks,
)
from clustomer.recommend.candidates import Candidates, Context, candidates, context
from clustomer.recommend.data import Encoded, _days, encode
from clustomer.recommend.popularity import segment_codes
from clustomer.recommend.repurchase import repurchase_reason

__all__ = ["RECOMMENDATION_COLUMNS", "recommend"]

#: The columns of :func:`recommend`'s frame.
RECOMMENDATION_COLUMNS = ("customer_key", "rank", "product_id", "product_name", "score", "reason")

POPULAR_SEGMENT = "popular in your segment"
POPULAR_NOW = "popular with customers right now"


def _new_reasons(
    enc: Encoded, blend: Blend, c: Candidates, idx: np.ndarray, in_segment: np.ndarray
) -> np.ndarray:
    anchor = c.new_anchor[idx]
    together = (anchor >= 0) & (knn_pull(blend.new, c.new_X[idx]) > 0)
    out = np.where(in_segment, POPULAR_SEGMENT, POPULAR_NOW).astype(object)
    if together.any():
        vals, inv = np.unique(anchor[together], return_inverse=True)
        text = np.array([f"bought together with {enc.names[v]}" for v in vals], dtype=object)
        out[together] = text[inv]
    return out


def _chunk_lists(
    ctx: Context, enc: Encoded, blend: Blend, users: np.ndarray, top: int, new_only: bool
) -> tuple[np.ndarray, ...]:
    """Customer, product, rank, score and reason of one chunk's lists."""
    h = ctx.h
    c = candidates(ctx, users)
    pn = blend.new.proba(c.new_X)
    if new_only:
        po = np.zeros(0)
        u, i, p = c.new_u, c.new_i, pn
        n_own = 0
    else:
        po = blend.own.proba(c.own_X)
        u, i, p = np.r_[c.own_u, c.new_u], np.r_[c.own_i, c.new_i], np.r_[po, pn]
        n_own = len(po)
    idx, rank = top_lists(u, i, p, None, top)
    reason = np.empty(len(idx), dtype=object)
    own = idx < n_own
    if own.any():
        pos = c.own_pos[idx[own]]
        cnt = h.cnt[pos]
        gap = (h.last[pos] - h.first[pos]) / np.maximum(cnt - 1, 1)
        reason[own] = repurchase_reason(cnt, gap, h.t - h.last[pos])
    if (~own).any():
        j = idx[~own] - n_own
        in_segment = ctx.segment[c.new_u[j]] > 0
        reason[~own] = _new_reasons(enc, blend, c, j, in_segment)
    return u[idx], i[idx], rank, p[idx], reason


def _as_day(as_of: str | date | datetime | pd.Timestamp | None, enc: Encoded) -> int:
    if as_of is None:
        return int(enc.d.max())
    return int(_days(pd.Series([as_of]))[0])


def recommend(
    lines: pd.DataFrame,
    *,
    top: int = 10,
    new_items_only: bool = False,
    exclude: Iterable[str] | None = None,
    segments: pd.Series | None = None,
    as_of: str | date | datetime | pd.Timestamp | None = None,
    customers: Iterable[str] | None = None,
    blend: Blend | str = "fit",
    horizon: int = 91,
) -> pd.DataFrame:
    """The top products for every customer, with a score and a reason per product.

    Parameters
    ----------
    lines : DataFrame
        Clean order lines: ``customer_key``, ``product_id`` and/or ``product_name``,
        ``day`` (or ``ts``), optional ``quantity``
        (:func:`clustomer.store.lines.clean_lines` returns them).
    top : int
        Products per customer (fewer when there are not enough candidates).
    new_items_only : bool
        Only products the customer never bought (on or before ``as_of``).
    exclude : iterable of str, optional
        Non-product rules; :data:`~clustomer.recommend.exclusions.DEFAULT_EXCLUDE` if None.
    segments : Series, optional
        Customer key → segment name: popularity is then per segment ("popular in your
        segment"). Without it, popularity is over all customers.
    as_of : date-like, optional
        Recommend as of this day (its purchases count); default: the last day of the lines.
    customers : iterable of str, optional
        Recommend for these customers (a key without purchases gets its segment's
        popular products); default: every customer with a purchase on or before ``as_of``.
    blend : Blend or {"fit", "default"}
        ``"fit"``: fit the blend on these lines' earlier split(s) before ``as_of`` (falls
        back to :data:`~clustomer.recommend.blend.DEFAULT_BLEND` when there is too little
        history); ``"default"``: that fallback; or a :class:`~clustomer.recommend.blend.
        Blend`.
    horizon : int
        Days ahead the blend's probabilities are about (and the length of its split).

    Returns
    -------
    DataFrame
        :data:`RECOMMENDATION_COLUMNS`, one row per customer and rank (1 = best), sorted
        by customer and rank: ``score`` is the blend's probability that the customer buys
        the product within ``horizon`` days (for a customer without purchases: the share
        of the segment's recent customers who bought it); ``reason`` is plain words,
        never a customer key.

    Examples
    --------
    >>> days = pd.to_datetime(["2024-01-01", "2024-02-12", "2024-03-25", "2024-01-05",
    ...                        "2024-01-05", "2024-02-01", "2024-02-01"])
    >>> lines = pd.DataFrame({"customer_key": ["a", "a", "a", "b", "b", "c", "c"],
    ...     "product_id": ["TEA", "TEA", "TEA", "TEA", "CUP", "TEA", "POST"], "day": days})
    >>> recs = recommend(lines, top=2, blend="default")
    >>> recs.loc[recs["customer_key"] == "a", ["rank", "product_id", "reason"]].to_numpy().tolist()
    [[1, 'TEA', 'you buy this about every 6 weeks'], [2, 'CUP', 'bought together with TEA']]
    >>> "POST" in set(recs["product_id"])
    False
    """
    if top < 1:
        raise ClustomerError(f"top must be at least 1, not {top}")
    if horizon < 1:
        raise ClustomerError(f"the horizon must be at least 1 day, not {horizon}")
    enc = encode(lines, exclude)
    if enc.n_users == 0 or enc.n_items == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in RECOMMENDATION_COLUMNS})
    t = _as_day(as_of, enc)
    seg, n_seg = segment_codes(enc, segments)
    if isinstance(blend, Blend):
        used = blend
    elif blend == "default":
        used = DEFAULT_BLEND
    elif blend == "fit":
        used = fit_blend(enc, t, horizon, seg, n_seg) or DEFAULT_BLEND
    else:
        raise ClustomerError(f"blend must be 'fit', 'default' or a Blend, not {blend!r}")
    ctx = context(enc, t, seg, n_seg)
    h = ctx.h
    known = np.flatnonzero(h.user_days > 0)
    cold_keys = np.zeros(0, dtype=object)
    if customers is not None:
        wanted = pd.Index(pd.unique(pd.Series(list(customers), dtype=object).astype(str)))
        pos = pd.Index(enc.customers.astype(str)).get_indexer(wanted)
        in_enc = pos >= 0
        with_history = in_enc.copy()
        with_history[in_enc] = h.user_days[pos[in_enc]] > 0
        known = np.sort(pos[with_history])
        cold_keys = np.asarray(wanted[~with_history], dtype=object)
    parts = [
        _chunk_lists(ctx, enc, used, chunk, top, new_items_only)
        for chunk in user_chunks(h.ptr, known)
    ]
    u = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    i = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    rank = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    score = np.concatenate([p[3] for p in parts]) if parts else np.zeros(0)
    reason = np.concatenate([p[4] for p in parts]) if parts else np.zeros(0, dtype=object)
    cats = np.asarray(enc.customers, dtype=object)
    if len(cold_keys):
        cats = np.concatenate([cats, cold_keys[~np.isin(cold_keys, cats)]])
        codes = pd.Index(cats).get_indexer(cold_keys)
        cu, ci, cr, cs, creason = _cold_start(ctx, codes, cold_keys, segments, top)
        u, i = np.r_[u, cu], np.r_[i, ci]
        rank, score, reason = np.r_[rank, cr], np.r_[score, cs], np.r_[reason, creason]
    by_key = np.empty(len(cats), dtype=np.int64)
    by_key[np.argsort(cats.astype(str), kind="stable")] = np.arange(len(cats))
    order = np.lexsort((rank, by_key[u]))
    name_code, names = pd.factorize(pd.Series(enc.names, dtype=object), sort=True)
    return pd.DataFrame(
        {
            "customer_key": pd.Categorical.from_codes(u[order], categories=pd.Index(cats)),
            "rank": rank[order].astype(np.int64),
            "product_id": pd.Categorical.from_codes(i[order], categories=pd.Index(enc.items)),
            "product_name": pd.Categorical.from_codes(name_code[i[order]], categories=names),
            "score": np.round(score[order].astype(np.float64), 6),
            "reason": pd.Categorical(reason[order]),
        }
    )


def _cold_start(
    ctx: Context, codes: np.ndarray, keys: np.ndarray, segments: pd.Series | None, top: int
) -> tuple[np.ndarray, ...]:
    """Segment popularity for customers without purchases (``codes``: their output codes)."""
    seg = np.zeros(len(keys), dtype=np.int64)
    if segments is not None and len(segments) and ctx.share.shape[0] > 1:
        names = segments.dropna().astype(str)
        uniques = np.sort(pd.unique(names.to_numpy(dtype=object)).astype(str))
        found = pd.Series(keys.astype(str)).map(names.set_axis(names.index.astype(str)))
        code = np.searchsorted(uniques, found.fillna("").to_numpy(dtype=str))
        ok = found.notna().to_numpy() & (code < len(uniques))
        seg[ok] = code[ok] + 1
    n = min(top, ctx.top_pop.shape[1])
    items = ctx.top_pop[seg][:, :n]
    share = np.take_along_axis(ctx.share[seg], np.maximum(items, 0), axis=1)
    reason = np.where(seg > 0, POPULAR_SEGMENT, POPULAR_NOW).astype(object)
    ok = (items >= 0).ravel()
    return (
        np.repeat(codes, n)[ok],
        items.ravel()[ok],
        np.tile(np.arange(1, n + 1), len(keys))[ok],
        share.ravel()[ok],
        np.repeat(reason, n)[ok],
    )
