"""Repurchase: what a customer bought before, how often, how lately, and on what cycle.

For each (customer, product) the customer bought on or before the cutoff:

==========  ==========================================================================
feature     definition (days are calendar days; ``log`` is natural)
==========  ==========================================================================
``lcnt``    log(1 + purchase days of the product)
``llast``   log(1 + days since the last purchase of it): recency
``lfirst``  log(1 + days since the first purchase of it)
``share``   its purchase days ÷ the customer's purchase days (how regular a line it is)
``lgap``    log(1 + the customer's mean days between two purchases of it), 0 if bought
            on one day only: the per-customer inter-purchase cycle
``due``     |log((1 + days since the last purchase) ÷ (1 + that cycle))|: 0 when the
            next purchase is due today, larger the earlier or later; 0 without a cycle
``lq``      log(1 + units bought in all)
``lastb``   1 if it was in the customer's latest purchase day, else 0
``icyc``    log(1 + the product's cycle: mean days between purchases over all its
            repeat buyers; 365 for a product nobody bought twice)
==========  ==========================================================================

The blend (:mod:`clustomer.recommend.blend`) weighs them with the product's popularity.
:func:`repurchase_reason` says why in plain words: "you buy this about every 6 weeks".
"""

from __future__ import annotations

import numpy as np

from clustomer.recommend.data import History

__all__ = ["OWN_PAIR_FEATURES", "ago", "every", "own_features", "repurchase_reason"]

OWN_PAIR_FEATURES = ("lcnt", "llast", "lfirst", "share", "lgap", "due", "lq", "lastb", "icyc")


def own_features(h: History, pairs: np.ndarray) -> dict[str, np.ndarray]:
    """The repurchase features of the history's pairs at positions ``pairs``."""
    t = h.t
    cnt = h.cnt[pairs].astype(np.float64)
    age_last = (t - h.last[pairs]).astype(np.float64)
    age_first = (t - h.first[pairs]).astype(np.float64)
    gap = np.where(cnt >= 2, (age_first - age_last) / np.maximum(cnt - 1, 1), 0.0)
    days = np.maximum(h.user_days[h.pu[pairs]], 1).astype(np.float64)
    return {
        "lcnt": np.log1p(cnt),
        "llast": np.log1p(age_last),
        "lfirst": np.log1p(age_first),
        "share": cnt / days,
        "lgap": np.log1p(gap),
        "due": np.where(cnt >= 2, np.abs(np.log((1 + age_last) / (1 + gap))), 0.0),
        "lq": np.log1p(np.maximum(h.qty[pairs], 0.0)),
        "lastb": (h.last[pairs] == h.user_last[h.pu[pairs]]).astype(float),
        "icyc": h.item_cycle[h.pi[pairs]],
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def every(days: float) -> str:
    """A cycle in words.

    >>> every(3), every(10), every(42), every(95)
    ('about every 3 days', 'about every 10 days', 'about every 6 weeks', 'about every 3 months')
    """
    if days < 1.5:
        return "about every day"
    if days < 14:
        return f"about every {round(days)} days"
    if days < 60:
        return f"about every {round(days / 7)} weeks"
    months = max(2, round(days / 30.44))
    return f"about every {months} months"


def ago(days: int) -> str:
    """How long ago, in words.

    >>> ago(0), ago(1), ago(9), ago(20), ago(70), ago(400)
    ('today', 'yesterday', '9 days ago', '3 weeks ago', '2 months ago', '13 months ago')
    """
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 14:
        return f"{days} days ago"
    if days < 60:
        return f"{_plural(round(days / 7), 'week')} ago"
    return f"{_plural(max(2, round(days / 30.44)), 'month')} ago"


def repurchase_reason(cnt: np.ndarray, gap: np.ndarray, age_last: np.ndarray) -> np.ndarray:
    """Plain reasons for recommending again what a customer bought.

    Three or more purchase days: the cycle ("you buy this about every 6 weeks"); two:
    "you bought this twice, last 3 weeks ago"; one: "you bought this 2 months ago".
    Formatted once per distinct value, then looked up (no loop over customers).

    >>> repurchase_reason(np.array([4, 2, 1]), np.array([42.0, 10.0, 0.0]), np.array([5, 21, 61]))
    array(['you buy this about every 6 weeks',
           'you bought this twice, last 3 weeks ago',
           'you bought this 2 months ago'], dtype=object)
    """
    out = np.empty(len(cnt), dtype=object)
    cyc = cnt >= 3
    if cyc.any():
        g = np.round(gap[cyc]).astype(np.int64)
        vals, inv = np.unique(g, return_inverse=True)
        out[cyc] = np.array([f"you buy this {every(v)}" for v in vals], dtype=object)[inv]
    for n, text in ((2, "you bought this twice, last "), (1, "you bought this ")):
        m = cnt == n
        if m.any():
            vals, inv = np.unique(age_last[m].astype(np.int64), return_inverse=True)
            out[m] = np.array([text + ago(int(v)) for v in vals], dtype=object)[inv]
    return out
