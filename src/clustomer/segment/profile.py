"""Describe and name the segments found by the clustering.

Each segment is placed on four plain axes, as a z-score of its median customer against
all the customers profiled (computed on the signed-log1p scale, which tames long tails):

* **recentness**: recency, negated (higher = bought more recently),
* **frequency**: number of purchases,
* **monetary**: net revenue,
* **tenure**: days since the first purchase.

Notes
-----
*Description.* An axis at or above +0.5 reads "recent", "frequent", "high spend",
"long-standing"; at or below -0.5 it reads "lapsed", "infrequent", "low spend", "new".
Neutral axes are left out; a segment neutral on every axis is "close to the average
customer".

*Name.* Each segment gets one archetype from :data:`PROTOTYPES`, by an optimal one-to-one
assignment (:func:`scipy.optimize.linear_sum_assignment`) minimising the total Euclidean
distance between segment and prototype vectors, so names are unique within a run. With
more segments than archetypes, the segments the assignment leaves without an archetype
(those furthest from every one) are called ``"Segment <id>"``.

The prototypes, as (recentness, frequency, monetary, tenure) z-scores. Because tenure
counts from the first purchase, a one-off buyer from long ago has both a long recency
and a long tenure, so lapsed archetypes carry positive tenure:

===================  ==========  =========  ========  ======
archetype            recentness  frequency  monetary  tenure
===================  ==========  =========  ========  ======
Champions            +1.00       +1.50      +1.50     +0.75
Loyal                +0.50       +1.00      +0.75     +0.75
Big spenders         0.00        0.00       +1.25     0.00
Potential loyalists  +0.75       +0.25      0.00      -0.50
New customers        +0.50       -1.00      -0.50     -1.50
Need attention       -0.25       0.00       0.00      +0.50
At risk              -1.00       +0.25      +0.25     +0.50
Can't lose           -0.75       +1.25      +1.25     +0.75
Hibernating          -0.50       -0.50      -0.75     0.00
Lost                 -1.25       -1.00      -1.00     +0.50
===================  ==========  =========  ========  ======

Examples
--------
>>> import numpy as np, pandas as pd
>>> f = pd.DataFrame({
...     "recency_days": [2.0, 5, 3, 300, 280, 320, 4, 6, 8],
...     "frequency": [12, 9, 15, 1, 1, 1, 1, 1, 1],
...     "monetary": [3000.0, 2500, 4000, 20, 15, 30, 40, 35, 50],
...     "tenure_days": [600.0, 500, 700, 300, 280, 320, 4, 6, 8]})
>>> p = profile_segments(f, np.repeat([0, 1, 2], 3), feature_columns=["recency_days"])
>>> p["name"].tolist()
['Champions', 'Lost', 'New customers']
>>> p.loc[2, "description"]
'recent, infrequent, low spend, new'
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import linear_sum_assignment

from clustomer.segment.result import FEATURE_COLUMNS
from clustomer.segment.segmenter import signed_log1p

__all__ = ["NAMING_AXES", "PROTOTYPES", "describe", "name_segments", "profile_segments"]

#: The naming axes: (feature column, sign). Recency is negated so higher = more recent.
NAMING_AXES: tuple[tuple[str, float], ...] = (
    ("recency_days", -1.0),
    ("frequency", 1.0),
    ("monetary", 1.0),
    ("tenure_days", 1.0),
)

#: Archetype name -> (recentness, frequency, monetary, tenure) z-scores.
PROTOTYPES: dict[str, tuple[float, float, float, float]] = {
    "Champions": (1.0, 1.5, 1.5, 0.75),
    "Loyal": (0.5, 1.0, 0.75, 0.75),
    "Big spenders": (0.0, 0.0, 1.25, 0.0),
    "Potential loyalists": (0.75, 0.25, 0.0, -0.5),
    "New customers": (0.5, -1.0, -0.5, -1.5),
    "Need attention": (-0.25, 0.0, 0.0, 0.5),
    "At risk": (-1.0, 0.25, 0.25, 0.5),
    "Can't lose": (-0.75, 1.25, 1.25, 0.75),
    "Hibernating": (-0.5, -0.5, -0.75, 0.0),
    "Lost": (-1.25, -1.0, -1.0, 0.5),
}

_THRESHOLD = 0.5
_WORDS: tuple[tuple[str, str], ...] = (
    ("recent", "lapsed"),
    ("frequent", "infrequent"),
    ("high spend", "low spend"),
    ("long-standing", "new"),
)


def describe(z: Sequence[float]) -> str:
    """Plain words for a (recentness, frequency, monetary, tenure) z-vector.

    Parameters
    ----------
    z : sequence of 4 floats

    Returns
    -------
    str

    Examples
    --------
    >>> describe([1.2, 0.1, -0.8, 0.0])
    'recent, low spend'
    >>> describe([0.0, 0.2, -0.1, 0.4])
    'close to the average customer'
    """
    words = []
    for value, (high, low) in zip(z, _WORDS, strict=True):
        if value >= _THRESHOLD:
            words.append(high)
        elif value <= -_THRESHOLD:
            words.append(low)
    return ", ".join(words) if words else "close to the average customer"


def name_segments(z: ArrayLike, segment_ids: Sequence[int]) -> list[str]:
    """Unique archetype names for segments, by optimal assignment to :data:`PROTOTYPES`.

    Parameters
    ----------
    z : array-like of shape (n_segments, 4)
        (recentness, frequency, monetary, tenure) z-scores of each segment.
    segment_ids : sequence of int
        Used to name the segments left over when there are more than 10.

    Returns
    -------
    list of str

    Examples
    --------
    >>> name_segments([[1.5, -0.5, -0.5, -1.5], [-1.5, -0.5, -1.0, 0.5]], [0, 1])
    ['New customers', 'Lost']
    """
    zs = np.asarray(z, dtype=np.float64).reshape(-1, len(NAMING_AXES))
    names = [f"Segment {sid}" for sid in segment_ids]
    if zs.shape[0] == 0:
        return names
    protos = np.array(list(PROTOTYPES.values()), dtype=np.float64)
    proto_names = list(PROTOTYPES)
    cost = np.sqrt(((zs[:, None, :] - protos[None, :, :]) ** 2).sum(axis=2))
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols, strict=True):
        names[int(r)] = proto_names[int(c)]
    return names


def _axis_z(
    data: pd.DataFrame, labels: NDArray[np.int64], segment_ids: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Z-score of each segment's median (signed-log1p scale) on each naming axis."""
    cols = [col for col, _ in NAMING_AXES]
    signs = np.array([sign for _, sign in NAMING_AXES])
    v = signed_log1p(data[cols].to_numpy(dtype=np.float64, na_value=np.nan))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column: z = 0
        mu = np.nanmean(v, axis=0)
        sd = np.nanstd(v, axis=0)
        med = pd.DataFrame(v).groupby(labels).median().reindex(segment_ids).to_numpy()
        z = signs * (med - mu) / sd
    # no spread (say, every customer bought once): the axis says nothing; rounding noise
    # in the standard deviation must not turn into a z-score
    z[:, ~(sd > 1e-9 * np.maximum(1.0, np.abs(mu)))] = 0.0
    return np.where(np.isfinite(z), z, 0.0)


def profile_segments(
    features: pd.DataFrame,
    labels: ArrayLike,
    *,
    feature_columns: Sequence[str],
    centers_z: ArrayLike | None = None,
) -> pd.DataFrame:
    """One row per segment: name, plain description, size, shares and median features.

    Parameters
    ----------
    features : DataFrame
        One row per customer with ``recency_days``, ``frequency``, ``monetary``,
        ``tenure_days`` and (ideally) every column of ``FEATURE_COLUMNS``.
    labels : array-like of int, shape (n_customers,)
        Segment of each row; rows with a negative label (not clustered) are left out.
    feature_columns : sequence of str
        The features the clustering used: the column order of ``centers_z``. Medians
        are reported for each of ``FEATURE_COLUMNS`` present in ``features`` and for any
        further ``feature_columns``.
    centers_z : array-like of shape (n_segment_ids, len(feature_columns)), optional
        Segment centres in the clustering's standardised space, row ``i`` for segment
        ``i``. When given, the naming axes found in ``feature_columns`` are read from the
        centres instead of from the segment medians (and are therefore on the
        clustering's scale, mean-based). ``run_segmentation`` does not pass it: medians
        are more robust to the few extreme customers of a small shop.

    Returns
    -------
    DataFrame
        Columns ``segment_id, name, description, size, share_customers,
        share_revenue, median_<feature>...``; rows ordered by ``segment_id``.
        ``share_revenue`` is the segment's share of the total net ``monetary`` of the
        profiled customers (0 when that total is 0).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"recency_days": [3.0, 9, 400, 350], "frequency": [8, 6, 1, 1],
    ...                   "monetary": [900.0, 700, 30, 20],
    ...                   "tenure_days": [500.0, 450, 400, 350]})
    >>> p = profile_segments(f, [0, 0, 1, 1], feature_columns=["recency_days"])
    >>> p[["segment_id", "size", "share_customers"]].to_dict("list")
    {'segment_id': [0, 1], 'size': [2, 2], 'share_customers': [0.5, 0.5]}
    >>> p.loc[0, "description"]
    'recent, frequent, high spend, long-standing'
    """
    lab_all = np.asarray(labels).ravel()
    if lab_all.shape[0] != len(features):
        raise ValueError(f"{lab_all.shape[0]} labels for {len(features)} customers")
    missing = [c for c, _ in NAMING_AXES if c not in features.columns]
    if missing:
        raise KeyError(f"profile_segments needs columns {missing}")
    keep = lab_all >= 0
    data = features.loc[keep].reset_index(drop=True)
    lab = lab_all[keep].astype(np.int64)
    segment_ids, sizes = np.unique(lab, return_counts=True)
    n = len(data)

    z = _axis_z(data, lab, segment_ids)
    if centers_z is not None:
        cz = np.asarray(centers_z, dtype=np.float64)
        cols = list(feature_columns)
        if cz.ndim != 2 or cz.shape[1] != len(cols):
            raise ValueError(f"centers_z must have shape (n_segments, {len(cols)}), got {cz.shape}")
        if segment_ids.size and int(segment_ids.max()) >= cz.shape[0]:
            raise ValueError(f"centers_z has {cz.shape[0]} rows, segment ids go further")
        for j, (col, sign) in enumerate(NAMING_AXES):
            if col in cols:
                z[:, j] = sign * cz[segment_ids, cols.index(col)]

    monetary = np.nan_to_num(data["monetary"].to_numpy(dtype=np.float64, na_value=np.nan))
    total = float(monetary.sum())
    position = np.searchsorted(segment_ids, lab)
    seg_rev = np.bincount(position, weights=monetary, minlength=len(segment_ids))
    share_rev = seg_rev / total if total != 0 else np.zeros(len(segment_ids))

    median_cols = [c for c in FEATURE_COLUMNS if c in data.columns]
    median_cols += [c for c in feature_columns if c in data.columns and c not in median_cols]
    medians = (
        data[median_cols].astype(np.float64).groupby(lab).median().reindex(segment_ids)
        if median_cols
        else pd.DataFrame(index=segment_ids)
    )

    out = pd.DataFrame(
        {
            "segment_id": segment_ids.astype(np.int64),
            "name": pd.Series(name_segments(z, segment_ids.tolist()), dtype="str"),
            "description": pd.Series([describe(row) for row in z], dtype="str"),
            "size": np.asarray(sizes, dtype=np.int64),
            "share_customers": np.asarray(sizes, dtype=np.float64) / max(n, 1),
            "share_revenue": np.asarray(share_rev, dtype=np.float64),
        }
    )
    for c in median_cols:
        out[f"median_{c}"] = medians[c].to_numpy(dtype=np.float64)
    return out


def name_by_attributes(
    profiles: pd.DataFrame, table: pd.DataFrame, columns: Sequence[str]
) -> pd.DataFrame:
    """Name and describe segments of customers known only by their attributes.

    Each segment is named after the attribute whose median sits furthest from the
    population's median, in interquartile ranges ("Higher income", "Lower age"); a name
    already taken gets the next attribute too ("Lower age, higher income"). The
    description gives every attribute's median. ``columns`` are ``attr_<name>`` columns
    of ``table`` (one row per customer); ``profiles`` has their ``median_<column>``.

    >>> t = pd.DataFrame({"attr_age": [20, 22, 60, 62], "attr_income": [30, 40, 31, 39]})
    >>> p = pd.DataFrame({"segment_id": [0, 1], "median_attr_age": [21, 61],
    ...                   "median_attr_income": [35, 35]})
    >>> p = name_by_attributes(p, t, ["attr_age", "attr_income"])
    >>> p["name"].tolist(), p["description"].iloc[0]
    (['Lower age', 'Higher age'], 'age about 21, income about 35')
    """
    out = profiles.copy()
    centre = {c: float(table[c].median()) for c in columns}
    spread = {}
    for c in columns:
        q1, q3 = table[c].quantile([0.25, 0.75])
        spread[c] = float(q3 - q1) or float(table[c].std() or 1.0) or 1.0
    label = {c: c.removeprefix("attr_").replace("_", " ") for c in columns}
    names: list[str] = []
    descriptions: list[str] = []
    for _, row in out.iterrows():
        z = {c: (float(row[f"median_{c}"]) - centre[c]) / spread[c] for c in columns}
        ranked = sorted(columns, key=lambda c: -abs(z[c]))
        parts: list[str] = []
        for c in ranked:
            parts.append(("higher " if z[c] > 0 else "lower ") + label[c])
            name = ", ".join(parts)
            if name[:1].upper() + name[1:] not in names:
                break
        name = ", ".join(parts)
        names.append(name[:1].upper() + name[1:])
        descriptions.append(
            ", ".join(f"{label[c]} about {float(row[f'median_{c}']):,.6g}" for c in columns)
        )
    out["name"] = names
    out["description"] = descriptions
    return out
