"""Popularity: overall, recent (trending) and per segment: the cold-start recommender.

Every measure counts *buyers* (distinct customers), never units, so one wholesaler
buying a thousand mugs does not make mugs popular.

- :func:`item_popularity`: per product, the log of its buyers in a window relative to
  the most bought product of that window (``lpop14``, ``lpop28``, ``lpopall``). The short
  windows catch what is selling *now* (before Christmas, the Christmas range).
- :func:`segment_share`: per segment and product, the share of the segment's customers
  active in the last eight weeks who bought it in those weeks ("popular in your
  segment"); row 0 is every customer, the fallback for a customer without a segment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clustomer.recommend.data import Encoded, History

__all__ = [
    "EPS",
    "SEGMENT_WINDOW",
    "item_popularity",
    "segment_codes",
    "segment_share",
    "top_items",
]

#: Added before taking logs of shares (a product nobody bought scores log(EPS)).
EPS = 1e-3
#: The window of segment popularity, in days.
SEGMENT_WINDOW = 56


def _log_share(buyers: np.ndarray) -> np.ndarray:
    top = max(int(buyers.max()) if len(buyers) else 0, 1)
    return np.log(buyers / top + EPS)


def item_popularity(h: History) -> dict[str, np.ndarray]:
    """Per product: ``lpop14``, ``lpop28``, ``lpopall`` (log relative buyers) and ``rr``
    (the share of its buyers who bought it on two or more days).

    >>> import pandas as pd
    >>> from clustomer.recommend.data import encode, history
    >>> enc = encode(pd.DataFrame({"customer_key": ["a", "b", "b"], "product_id": ["X", "X", "Y"],
    ...     "day": pd.to_datetime(["2024-01-01", "2024-03-01", "2024-03-01"])}))
    >>> pop = item_popularity(history(enc, int(enc.d.max())))
    >>> share = {k: np.round(np.exp(pop[k]) - EPS, 3).tolist() for k in ("lpopall", "lpop14")}
    >>> share
    {'lpopall': [1.0, 0.5], 'lpop14': [1.0, 1.0]}
    """
    return {
        "lpop14": _log_share(h.buyers[14]),
        "lpop28": _log_share(h.buyers[28]),
        "lpopall": _log_share(h.buyers[0]),
        "rr": h.repeat_rate.astype(np.float64),
    }


def segment_share(
    h: History, segment: np.ndarray | None, n_segments: int, window: int = SEGMENT_WINDOW
) -> np.ndarray:
    """Share of each segment's recently active customers who bought each product.

    Parameters
    ----------
    h : History
        The cutoff's history.
    segment : ndarray of int, optional
        Per customer code, its segment 1..n_segments (0: none). None: no segments.
    n_segments : int
        Number of segments.
    window : int
        Days before the cutoff (included) that count as recent.

    Returns
    -------
    ndarray
        ``(n_segments + 1, n_items)``; row 0 is every customer together. A segment
        without recent customers gets the overall row.
    """
    n_items = h.n_items
    recent_pair = h.last > h.t - window
    active = h.user_last > h.t - window
    seg = np.zeros(h.n_users, dtype=np.int64) if segment is None else segment.astype(np.int64)
    out = np.zeros((n_segments + 1, n_items))
    overall = np.bincount(h.pi[recent_pair], minlength=n_items)
    out[0] = overall / max(int(active.sum()), 1)
    if n_segments:
        key = seg[h.pu[recent_pair]] * n_items + h.pi[recent_pair]
        counts = np.bincount(key, minlength=(n_segments + 1) * n_items)
        counts = counts.reshape(n_segments + 1, n_items)[1:]
        size = np.bincount(seg[active], minlength=n_segments + 1)[1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = counts / size[:, None]
        out[1:] = np.where(size[:, None] > 0, share, out[0][None, :])
    return out


def top_items(share: np.ndarray, n: int, popularity: np.ndarray) -> np.ndarray:
    """Per row of ``share``, the codes of its ``n`` most popular products (ties: the more
    popular overall by ``popularity``, then the lower code), best first. Only products
    with ``popularity > 0`` (bought before the cutoff) qualify; a shorter row is padded
    with −1.

    >>> top_items(np.array([[0.1, 0.5, 0.5, 0.0]]), 3, np.array([1, 1, 2, 0])).tolist()
    [[2, 1, 0]]
    >>> top_items(np.array([[0.1, 0.5]]), 3, np.array([1, 0])).tolist()
    [[0, -1, -1]]
    """
    known = np.flatnonzero(popularity > 0)
    out = np.full((len(share), n), -1, dtype=np.int64)
    m = min(n, len(known))
    for r, row in enumerate(share):  # one per segment: a handful
        out[r, :m] = known[np.lexsort((known, -popularity[known], -row[known]))[:m]]
    return out


def segment_codes(enc: Encoded, segments: pd.Series | None) -> tuple[np.ndarray | None, int]:
    """Per customer code, its segment 1..n (0: none), and n, from ``customer_key → name``.

    >>> from clustomer.recommend.data import encode
    >>> enc = encode(pd.DataFrame({"customer_key": ["a", "b", "c"], "product_id": "X",
    ...                            "day": pd.Timestamp("2024-01-01")}))
    >>> codes, n = segment_codes(enc, pd.Series({"a": "loyal", "c": "new"}))
    >>> codes.tolist(), n
    ([1, 0, 2], 2)
    """
    if segments is None or len(segments) == 0:
        return None, 0
    names = segments.dropna().astype(str)
    codes, uniques = pd.factorize(names, sort=True)
    keys = pd.Index(names.index.astype(str))
    pos = keys.get_indexer(pd.Index(enc.customers.astype(str)))
    out = np.where(pos >= 0, codes[np.maximum(pos, 0)] + 1, 0).astype(np.int64)
    return out, int(len(uniques))
