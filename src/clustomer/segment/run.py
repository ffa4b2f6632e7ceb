"""One segmentation run, end to end, on a per-customer feature table.

Examples
--------
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> n = 60
>>> freq = np.r_[rng.integers(5, 15, 20), np.ones(40, dtype=int)]
>>> f = pd.DataFrame({
...     "customer_key": [f"c{i}" for i in range(n)],
...     "recency_days": np.r_[rng.uniform(0, 20, 20), rng.uniform(150, 400, 40)],
...     "frequency": freq,
...     "monetary": freq * rng.uniform(20, 60, n),
...     "tenure_days": np.r_[rng.uniform(300, 700, 20), rng.uniform(150, 400, 40)],
...     "avg_order_value": rng.uniform(20, 60, n),
...     "mean_days_between_orders": np.nan,
...     "return_rate": 0.0,
...     "distinct_products": freq * 3,
...     "country": "UK"})
>>> res = run_segmentation(f, n_clusters=2)
>>> res.profiles["size"].tolist(), res.k_selection.chosen_k
([40, 20], 2)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.utils import check_random_state

from clustomer.errors import ClustomerError
from clustomer.segment.compare import match_segments
from clustomer.segment.criteria import LOW_STABILITY
from clustomer.segment.profile import NAMING_AXES, profile_segments
from clustomer.segment.result import CLUSTER_FEATURES, KSelection, SegmentationResult
from clustomer.segment.rfm import RFM_SEGMENTS, rfm_scores
from clustomer.segment.segmenter import CustomerSegmenter

__all__ = [
    "MIN_CLUSTER_CUSTOMERS",
    "MIN_CUSTOMERS",
    "NO_PURCHASES",
    "RETURNS_ONLY",
    "UNASSIGNED",
    "confidence",
    "run_segmentation",
]

#: Segment name of customers who never bought (frequency 0); their segment id is -1.
RETURNS_ONLY = "Returns only"
#: Segment name of customers a density method (hdbscan, dbscan) put in no segment; their
#: segment id is -2. They are reported, never dropped.
UNASSIGNED = "Unassigned"
#: RFM segment of those customers.
NO_PURCHASES = "No purchases"
#: Fewest customers with purchases that can be segmented at all.
MIN_CUSTOMERS = 3
#: Below this many customers with purchases there is no clustering: the customers are
#: grouped by the RFM rules instead. Measured on the bundled sample (docs/methods.md):
#: k-means on random subsets of 15–20 customers agrees poorly with the segments found on
#: all 4,338 (median adjusted Rand index 0.37–0.41, 10th percentile 0.14–0.17); from 30
#: on the median is above 0.5 and the 10th percentile near 0.4.
MIN_CLUSTER_CUSTOMERS = 30


def _check_columns(features: pd.DataFrame, cols: Sequence[str]) -> None:
    needed = ["customer_key", *(c for c, _ in NAMING_AXES), *cols]
    missing = sorted({c for c in needed if c not in features.columns})
    if missing:
        raise ClustomerError(f"the customer feature table lacks the columns {', '.join(missing)}")


def _projection(
    model: CustomerSegmenter,
    X: np.ndarray,
    keys: pd.Series,
    labels: np.ndarray,
    *,
    size: int,
    random_state: int | np.random.RandomState | None,
) -> tuple[pd.DataFrame, list[float]]:
    n = X.shape[0]
    m = min(max(int(size), 0), n)
    n_comp = min(2, X.shape[1], m)
    if n_comp < 1:
        empty = pd.DataFrame(
            {
                "customer_key": keys.iloc[:0].to_numpy(),
                "segment_id": np.empty(0, dtype=np.int64),
                "x": np.empty(0),
                "y": np.empty(0),
            }
        )
        return empty, []
    rng = check_random_state(random_state)
    idx = np.sort(rng.choice(n, size=m, replace=False)) if m < n else np.arange(n)
    Z = model.scale(X[idx])
    pca = PCA(n_components=n_comp, svd_solver="full")
    with np.errstate(divide="ignore", invalid="ignore"):
        xy = pca.fit_transform(Z)
        ratios = np.nan_to_num(np.asarray(pca.explained_variance_ratio_, dtype=np.float64))
    xy = np.nan_to_num(xy)
    proj = pd.DataFrame(
        {
            "customer_key": keys.iloc[idx].to_numpy(),
            "segment_id": labels[idx].astype(np.int64),
            "x": xy[:, 0],
            "y": xy[:, 1] if n_comp > 1 else np.zeros(m),
        }
    )
    return proj, [float(r) for r in ratios]


def _stability_by_segment(model: CustomerSegmenter, k: int) -> np.ndarray:
    """Each final segment's bootstrap stability (Hennig's Jaccard), NaN when unknown.

    The stabilities belong to the segments of the sample fit that chose k; each final
    segment takes the one of the sample segment it continues (Hungarian matching of the
    centres, :func:`clustomer.segment.compare.match_segments`).
    """
    out = np.full(k, np.nan)
    sel = model.k_selection_
    stab, centers = sel.segment_stability, sel.sample_centers
    if not stab or centers is None or len(centers) == 0:
        return out
    mapping = match_segments(np.asarray(centers), model.cluster_centers_[:k])
    for current, previous in mapping.items():
        if previous is not None and previous < len(stab) and stab[previous] is not None:
            out[current] = float(stab[previous])  # type: ignore[arg-type]
    return out


def _rfm_counts(assignments: pd.DataFrame, monetary: np.ndarray) -> pd.DataFrame:
    names = list(RFM_SEGMENTS)
    seg = assignments["rfm_segment"]
    if (seg == NO_PURCHASES).any():
        names.append(NO_PURCHASES)
    codes = pd.Categorical(seg, categories=names).codes
    known = codes >= 0
    money = np.nan_to_num(monetary.astype(np.float64))
    counts = np.bincount(codes[known], minlength=len(names))
    revenue = np.bincount(codes[known], weights=money[known], minlength=len(names))
    total_customers = max(len(assignments), 1)
    total_revenue = float(money.sum())
    return pd.DataFrame(
        {
            "rfm_segment": pd.Series(names, dtype="str"),
            "customers": counts.astype(np.int64),
            "share_customers": counts / total_customers,
            "share_revenue": (
                revenue / total_revenue if total_revenue != 0 else np.zeros(len(names))
            ),
        }
    )


def _actual_k(model: CustomerSegmenter) -> KSelection:
    """The k selection, told how many segments really came out.

    With fewer distinct customers than k, k-means leaves segments empty and they are
    dropped; the run then reports the segments it has, and says why.
    """
    sel = model.k_selection_
    formed = int(model.n_clusters_)
    if formed >= sel.chosen_k:
        return sel
    return replace(
        sel,
        chosen_k=formed,
        reason=f"{sel.reason}; only {formed} segments could be formed, because the "
        f"customers fall into only {formed} distinct groups",
    )


def run_segmentation(
    features: pd.DataFrame,
    *,
    n_clusters: int | None = None,
    sample_size: int = 10_000,
    random_state: int = 0,
    feature_columns: Sequence[str] = CLUSTER_FEATURES,
    projection_size: int = 3000,
    method: str = "kmeans",
) -> SegmentationResult:
    """Segment customers: k-means segments with names, RFM segments, and a 2-D map.

    Customers with ``frequency == 0`` (they only returned goods) are not clustered:
    they get ``segment_id == -1``, segment name ``"Returns only"`` and RFM segment
    ``"No purchases"``. Everyone else is clustered with :class:`CustomerSegmenter`
    (*k* chosen over 2..10, capped to what the number of customers supports, unless
    ``n_clusters`` is given), profiled and named with :func:`profile_segments`, and
    scored with :func:`rfm_scores` (quintiles among the customers with purchases).

    Parameters
    ----------
    features : DataFrame
        One row per customer: ``customer_key`` and the feature columns (see
        ``clustomer.features``).
    n_clusters : int, optional
        Force the number of segments (2 .. number of customers with purchases).
    sample_size : int, default=10_000
        Customers sampled to choose *k*.
    random_state : int, default=0
        Seed; the same seed on the same data gives the same result.
    feature_columns : sequence of str, default=CLUSTER_FEATURES
        Numeric features to cluster on; none may be missing for a customer with
        purchases.
    projection_size : int, default=3000
        At most this many customers (sampled) appear in the 2-D PCA projection.
    method : str, default="kmeans"
        One of :data:`clustomer.segment.methods.METHOD_NAMES`. ``kprototypes`` also
        uses the ``country`` column; ``gmm`` adds a ``probability`` column to the
        assignments (the membership probability of the chosen segment) and the full
        matrix as ``result.probabilities``. Customers that ``hdbscan`` or ``dbscan``
        put in no segment get ``segment_id == -2`` and the name ``"Unassigned"``.

    Returns
    -------
    SegmentationResult
        ``assignments`` follows the row order of ``features``; ``profiles`` covers the
        clustered customers only (shares among them); ``rfm_counts`` covers everyone
        (all ten RFM names, then ``"No purchases"`` when present; revenue shares of the
        total net revenue).

    Raises
    ------
    ClustomerError
        Fewer than 3 customers with purchases, missing columns, missing values in a
        clustering feature, or an impossible ``n_clusters``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"customer_key": ["a", "b"], "recency_days": [1.0, 2.0],
    ...                   "frequency": [1, 0], "monetary": [10.0, -5.0],
    ...                   "tenure_days": [1.0, 2.0]})
    >>> run_segmentation(f, feature_columns=["recency_days", "monetary"])
    Traceback (most recent call last):
    ...
    clustomer.errors.ClustomerError: need at least 3 customers with purchases to segment; found 1
    """
    cols = list(feature_columns)
    if not cols:
        raise ClustomerError("no feature columns to cluster on")
    _check_columns(features, cols)

    frequency = features["frequency"].to_numpy(dtype=np.float64, na_value=0.0)
    buyer = frequency > 0
    n_buyers = int(buyer.sum())
    if n_buyers < MIN_CUSTOMERS:
        raise ClustomerError(
            f"need at least {MIN_CUSTOMERS} customers with purchases to segment; found {n_buyers}"
        )
    if n_clusters is not None:
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, numbers.Integral):
            raise ClustomerError(f"the number of segments must be a whole number; got {n_clusters}")
        if not 2 <= int(n_clusters) <= n_buyers:
            raise ClustomerError(
                f"the number of segments must be between 2 and {n_buyers} "
                f"(the customers with purchases); got {n_clusters}"
            )
        n_clusters = int(n_clusters)

    buyers = features.loc[buyer].reset_index(drop=True)
    if n_buyers < MIN_CLUSTER_CUSTOMERS and n_clusters is None:
        return _rfm_only(features, buyer, buyers, cols)
    X = buyers[cols].to_numpy(dtype=np.float64, na_value=np.nan)
    bad = [c for c, ok in zip(cols, np.isfinite(X).all(axis=0), strict=True) if not ok]
    if bad:
        raise ClustomerError(
            f"some customers with purchases have no value for {', '.join(bad)}; "
            "leave these features out of the clustering"
        )

    categories = None
    if method == "kprototypes":
        if "country" not in buyers.columns:
            raise ClustomerError("--method kprototypes needs the customers' country")
        categories = buyers["country"].fillna("(unknown)").astype(str).to_numpy()
    try:
        model = CustomerSegmenter(
            n_clusters=n_clusters, sample_size=sample_size, random_state=random_state, method=method
        ).fit(X, categories=categories)
    except ValueError as exc:
        raise ClustomerError(str(exc)) from None
    labels = np.asarray(model.labels_, dtype=np.int64)
    labels[labels < 0] = -2  # noise of a density method: "Unassigned"

    profiles = profile_segments(buyers, labels, feature_columns=cols)
    profiles["stability"] = _stability_by_segment(model, len(profiles))
    profiles["unstable"] = profiles["stability"] < LOW_STABILITY
    if len(profiles) == 1:  # one segment: an archetype name would say nothing true
        profiles["name"] = "All customers"
        profiles["description"] = "the customers look alike on these features"
    names = dict(zip(profiles["segment_id"].tolist(), profiles["name"].tolist(), strict=True))
    rfm = rfm_scores(buyers)

    n = len(features)
    segment_id = np.full(n, -1, dtype=np.int64)
    segment_id[buyer] = labels
    segment_name = np.full(n, RETURNS_ONLY, dtype=object)
    name_of = np.array([names.get(i, "") for i in range(int(labels.max()) + 1)], dtype=object)
    segment_name[buyer] = np.where(labels >= 0, name_of[np.maximum(labels, 0)], UNASSIGNED)
    rfm_segment = np.full(n, NO_PURCHASES, dtype=object)
    rfm_segment[buyer] = rfm["rfm_segment"].to_numpy(dtype=object)
    assignments = pd.DataFrame(
        {
            "customer_key": features["customer_key"].to_numpy(),
            "segment_id": segment_id,
            "segment_name": pd.Series(segment_name, dtype="str"),
            "rfm_segment": pd.Series(rfm_segment, dtype="str"),
        }
    )
    probabilities = None
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        probability = np.full(n, np.nan)
        probability[buyer] = proba[np.arange(len(labels)), np.maximum(labels, 0)]
        assignments["probability"] = probability
        probabilities = pd.DataFrame(
            proba, columns=[f"p_{i}" for i in range(proba.shape[1])]
        ).assign(customer_key=buyers["customer_key"].to_numpy())

    projection, explained = _projection(
        model,
        X,
        buyers["customer_key"],
        labels,
        size=projection_size,
        random_state=random_state,
    )
    rfm_counts = _rfm_counts(
        assignments, features["monetary"].to_numpy(dtype=np.float64, na_value=np.nan)
    )
    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k_selection=_actual_k(model),
        projection=projection,
        feature_columns=cols,
        rfm_counts=rfm_counts,
        explained_variance=explained,
        method=model.method_,
        probabilities=probabilities,
        model=model,
        confidence=confidence(n_buyers, profiles),
    )


def confidence(n_buyers: int, profiles: pd.DataFrame) -> dict[str, str]:
    """How far to trust the segments: a label and the plain reason.

    ``high``: at least 1,000 customers with purchases and every segment stable (≥ 0.75);
    ``medium``: at least 200 and every segment at least 0.6; ``low`` otherwise. (On the
    bundled sample, subsets of 200 customers reproduce the all-customer segments with a
    median adjusted Rand index of 0.83; subsets of 100, 0.50: docs/methods.md.)

    >>> confidence(150, pd.DataFrame({"stability": [0.9, 0.8]}))["label"]
    'low'
    """
    stab = (
        pd.to_numeric(profiles["stability"], errors="coerce")
        if "stability" in profiles.columns
        else pd.Series(dtype="float64")
    )
    worst = float(stab.min()) if stab.notna().any() else float("nan")
    known = not np.isnan(worst)
    if n_buyers >= 1000 and known and worst >= 0.75:
        label = "high"
    elif n_buyers >= 200 and (not known or worst >= LOW_STABILITY):
        label = "medium"
    else:
        label = "low"
    parts = [f"{n_buyers:,} customers with purchases"]
    if known:
        parts.append(f"least stable segment {worst:.2f}")
    return {"label": label, "reason": f"{label} confidence: " + ", ".join(parts)}


def _rfm_only(
    features: pd.DataFrame, buyer: np.ndarray, buyers: pd.DataFrame, cols: list[str]
) -> SegmentationResult:
    """Too few customers to cluster: the RFM rule segments are the segments."""
    n_buyers = len(buyers)
    rfm = rfm_scores(buyers)
    names_by_size = rfm["rfm_segment"].value_counts(sort=True)
    order = {name: i for i, name in enumerate(names_by_size.index)}
    labels = rfm["rfm_segment"].map(order).to_numpy(dtype=np.int64)
    profiles = profile_segments(buyers, labels, feature_columns=cols)
    profiles["name"] = [str(names_by_size.index[i]) for i in profiles["segment_id"]]
    profiles["stability"] = np.nan
    profiles["unstable"] = False
    n = len(features)
    segment_id = np.full(n, -1, dtype=np.int64)
    segment_id[buyer] = labels
    seg_name = np.full(n, RETURNS_ONLY, dtype=object)
    seg_name[buyer] = rfm["rfm_segment"].to_numpy(dtype=object)
    rfm_segment = np.full(n, NO_PURCHASES, dtype=object)
    rfm_segment[buyer] = rfm["rfm_segment"].to_numpy(dtype=object)
    assignments = pd.DataFrame(
        {
            "customer_key": features["customer_key"].to_numpy(),
            "segment_id": segment_id,
            "segment_name": pd.Series(seg_name, dtype="str"),
            "rfm_segment": pd.Series(rfm_segment, dtype="str"),
        }
    )
    k = int(len(names_by_size))
    reason = (
        f"only {n_buyers} customers with purchases: fewer than {MIN_CLUSTER_CUSTOMERS} is too "
        "few to find segments reliably, so customers are grouped by the RFM rules instead"
    )
    selection = KSelection(
        ks=[k],
        inertia=[float("nan")],
        silhouette=[float("nan")],
        elbow_k=None,
        best_silhouette_k=None,
        chosen_k=k,
        reason=reason,
        sample_size=n_buyers,
    )
    empty = pd.DataFrame(
        {"customer_key": [], "segment_id": np.empty(0, dtype=np.int64), "x": [], "y": []}
    )
    return SegmentationResult(
        assignments=assignments,
        profiles=profiles,
        k_selection=selection,
        projection=empty,
        feature_columns=cols,
        rfm_counts=_rfm_counts(
            assignments, features["monetary"].to_numpy(dtype=np.float64, na_value=np.nan)
        ),
        method="rfm",
        confidence={"label": "rules only", "reason": reason},
    )
