"""Classic RFM scores (recency, frequency, monetary quintiles) and their named segments.

Each score runs from 1 (worst fifth of the customers) to 5 (best fifth). Scores come
from ranks, not from :func:`pandas.qcut` on the values, so heavily tied values (most
customers of a small shop have exactly one order) never break the binning: customers
with equal values always get equal scores. A customer's score is
``1 + floor(5 * (w + 0.5) / n)``, where ``w`` is the number of customers with a strictly
worse value and ``n`` the number of customers; a block of tied customers therefore
gets the score of its worst member's position, so single-order customers get F = 1.

The segment name comes from R and FM = round((F + M) / 2) (halves round up):

====  ===================  ======================  =================
R     FM 1                 FM 2-3                  FM 4-5
====  ===================  ======================  =================
5     New                  Potential loyalist      Champions
4     Promising            Potential loyalist      Loyal
3     Hibernating          Need attention          Loyal
====  ===================  ======================  =================

====  ===========  ===========  ==========
R     FM 1-2       FM 3-4       FM 5
====  ===========  ===========  ==========
2     Hibernating  At risk      Can't lose
1     Lost         At risk      Can't lose
====  ===========  ===========  ==========

Examples
--------
>>> import pandas as pd
>>> f = pd.DataFrame({"recency_days": [5.0, 300.0], "frequency": [9, 1],
...                   "monetary": [900.0, 15.0]})
>>> rfm_scores(f)["rfm_segment"].tolist()
['Loyal', 'Hibernating']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["RFM_SEGMENTS", "rfm_scores", "rfm_segment_name"]

#: The ten RFM segment names, from best to worst.
RFM_SEGMENTS: tuple[str, ...] = (
    "Champions",
    "Loyal",
    "Potential loyalist",
    "New",
    "Promising",
    "Need attention",
    "At risk",
    "Can't lose",
    "Hibernating",
    "Lost",
)


def rfm_segment_name(r: int, f: int, m: int) -> str:
    """Name of the RFM segment for scores ``r``, ``f``, ``m`` (each 1..5).

    Parameters
    ----------
    r, f, m : int
        Recency, frequency and monetary scores.

    Returns
    -------
    str
        One of :data:`RFM_SEGMENTS`.

    Examples
    --------
    >>> rfm_segment_name(5, 5, 4), rfm_segment_name(1, 1, 2), rfm_segment_name(2, 5, 5)
    ('Champions', 'Lost', "Can't lose")
    """
    for name, value in (("r", r), ("f", f), ("m", m)):
        if not 1 <= int(value) <= 5:
            raise ValueError(f"{name} score must be between 1 and 5, got {value}")
    fm = int(np.floor((int(f) + int(m)) / 2 + 0.5))
    r = int(r)
    if r == 5:
        return "New" if fm == 1 else "Potential loyalist" if fm <= 3 else "Champions"
    if r == 4:
        return "Promising" if fm == 1 else "Potential loyalist" if fm <= 3 else "Loyal"
    if r == 3:
        return "Hibernating" if fm == 1 else "Need attention" if fm <= 3 else "Loyal"
    if r == 2:
        return "Hibernating" if fm <= 2 else "At risk" if fm <= 4 else "Can't lose"
    return "Lost" if fm <= 2 else "At risk" if fm <= 4 else "Can't lose"


def _score(values: pd.Series, *, higher_is_better: bool) -> np.ndarray:
    """Quintile score 1..5 from ranks; ties share the score of the block's lowest rank."""
    n = len(values)
    # Rank 1 = worst. Missing values count as the worst.
    ranks = values.rank(method="min", ascending=higher_is_better, na_option="top")
    worse = ranks.to_numpy(dtype=np.float64) - 1.0
    scores = 1 + np.floor(5.0 * (worse + 0.5) / n)
    return np.clip(scores, 1, 5).astype(np.int64)


def rfm_scores(features: pd.DataFrame) -> pd.DataFrame:
    """RFM scores and segment name for each customer.

    Parameters
    ----------
    features : DataFrame
        With columns ``recency_days`` (lower is better), ``frequency`` and ``monetary``
        (higher is better); any index.

    Returns
    -------
    DataFrame
        Indexed like ``features``, with int columns ``r_score``, ``f_score``,
        ``m_score`` (1..5) and str column ``rfm_segment``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"recency_days": [1.0, 10, 50, 200, 400],
    ...                   "frequency": [12, 5, 3, 1, 1],
    ...                   "monetary": [2000.0, 600, 300, 40, 20]},
    ...                  index=["a", "b", "c", "d", "e"])
    >>> out = rfm_scores(f)
    >>> out["r_score"].tolist(), out["f_score"].tolist()
    ([5, 4, 3, 2, 1], [5, 4, 3, 1, 1])
    >>> out.loc["a", "rfm_segment"], out.loc["e", "rfm_segment"]
    ('Champions', 'Lost')
    """
    missing = [c for c in ("recency_days", "frequency", "monetary") if c not in features]
    if missing:
        raise KeyError(f"rfm_scores needs columns {missing}")
    out = pd.DataFrame(index=features.index)
    if len(features) == 0:
        for col in ("r_score", "f_score", "m_score"):
            out[col] = pd.Series(dtype="int64", index=features.index)
        out["rfm_segment"] = pd.Series(dtype="str", index=features.index)
        return out
    r = _score(features["recency_days"], higher_is_better=False)
    f = _score(features["frequency"], higher_is_better=True)
    m = _score(features["monetary"], higher_is_better=True)
    out["r_score"] = r
    out["f_score"] = f
    out["m_score"] = m
    names = _NAME_TABLE[r - 1, f - 1, m - 1]
    out["rfm_segment"] = pd.Series(names, index=features.index, dtype="str")
    return out


_NAME_TABLE = np.array(
    [[[rfm_segment_name(r, f, m) for m in range(1, 6)] for f in range(1, 6)] for r in range(1, 6)],
    dtype=object,
)
