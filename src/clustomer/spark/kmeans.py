"""k on a sample with the local criteria; the final k-means on all customers with Spark MLlib.

The result is a fitted :class:`~clustomer.segment.segmenter.CustomerSegmenter`, the
same object the local engine returns, so that profiles, names, the projection, the
report and ``clustomer assign`` work on it unchanged:

1. the scaling is the local one: signed ``log1p``, then the ``StandardScaler`` fitted on
   every customer with purchases (its means and scales are applied on Spark as column
   expressions);
2. *k* comes from :func:`clustomer.segment.criteria.k_criteria` on the rows in the local
   engine's canonical order, with the segmenter's own settings (sample size, restarts,
   bootstrap and gap references, seed): the same features give the same *k*;
3. one MLlib k-means on all customers with purchases, on the Spark side, at most
   :data:`MAX_ITER` iterations, started from the centres the sample fit found for *k*
   (the local engine's start, too). MLlib's own k-means|| initialisation is the other
   choice (``init="k-means||"``, :data:`INIT_STEPS` steps), not the default: with seed 0
   it ended 25 % above the best inertia on the bundled sample (k = 2: a segment of 87
   customers instead of an even split) and 27 % above on the 450,000 customers of
   bench/spark.py, where the sample's start matched the best;
4. the centres come back; labels are the nearest centre in float64, and segments are
   numbered by size, by the segmenter's own ``_finish``.

MLlib's defaults (20 iterations, 2 init steps) stopped 13.6 % above the best inertia on
1M × 8 (``../shared/PLATFORM.md``), hence the higher values here.

Examples
--------
>>> MAX_ITER, INIT_STEPS, TOL
(100, 5, 1e-06)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from clustomer.segment.segmenter import CustomerSegmenter

__all__ = ["INIT_STEPS", "MAX_ITER", "TOL", "choose_k", "fit_mllib", "spark_segmenter"]

#: MLlib k-means settings (defaults 20, 2 and 1e-4 stop early on large data).
MAX_ITER = 100
INIT_STEPS = 5
TOL = 1e-6


def choose_k(
    X: NDArray[np.float64],
    *,
    n_clusters: int | None = None,
    sample_size: int = 10_000,
    random_state: int = 0,
) -> tuple[CustomerSegmenter, NDArray[np.float64]]:
    """Scale ``X`` and choose *k* exactly as ``CustomerSegmenter.fit`` does (k-means).

    Returns the segmenter with ``scaler_``, ``k_selection_`` and the input checks done,
    not yet fitted, and the scaled rows (in the input order).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(m, 0.3, (30, 2)) for m in (1, 20, 400)])
    >>> seg, Z = choose_k(X, random_state=0)
    >>> seg.k_selection_.chosen_k, Z.shape
    (3, (90, 2))
    """
    from sklearn.preprocessing import StandardScaler
    from sklearn.utils import check_random_state
    from sklearn.utils.validation import validate_data

    from clustomer.segment.criteria import k_criteria, kmeans_fit_labels
    from clustomer.segment.result import KSelection
    from clustomer.segment.segmenter import BOOT_ROWS, CustomerSegmenter, signed_log1p

    seg = CustomerSegmenter(
        n_clusters=n_clusters, sample_size=sample_size, random_state=random_state
    )
    forced, k_min, k_max, sample, n_init = seg._validated_params()
    Xv = validate_data(seg, X, dtype=np.float64, ensure_min_samples=2)
    if forced is not None and forced > Xv.shape[0]:
        raise ValueError(f"n_clusters={forced} must be <= n_samples={Xv.shape[0]}")
    rng = check_random_state(seg.random_state)
    seg._category_codes(None, Xv.shape[0], fit=True)
    raw = signed_log1p(Xv)
    seg.scaler_ = StandardScaler().fit(raw)
    Z = np.asarray(seg.scaler_.transform(raw), dtype=np.float64)
    canon = np.lexsort(Z.T[::-1])  # the local engine's canonical row order
    candidates = list(range(k_min, k_max + 1))
    if forced is not None and forced not in candidates:
        candidates.append(forced)
    crit = k_criteria(
        Z[canon],
        sorted(candidates),
        kmeans_fit_labels(n_init=n_init),
        sample_size=sample,
        n_boot=seg.n_boot,
        n_refs=seg.n_refs,
        random_state=rng,
        boot_size=BOOT_ROWS,
        forced_k=forced,
    )
    seg.k_selection_ = KSelection.from_criteria(crit)
    seg.method_ = "kmeans"
    seg.method_model_ = None
    return seg, Z


def scaled_vectors(frame: DataFrame, columns: Sequence[str], seg: CustomerSegmenter) -> DataFrame:
    """``frame`` with a ``features`` vector: the segmenter's scaling, on Spark."""
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    from clustomer.spark.source import column_of

    scaled = []
    for i, name in enumerate(columns):
        x = column_of(name).cast("double")
        logged = F.signum(x) * F.log1p(F.abs(x))  # signed_log1p
        mean, scale = float(seg.scaler_.mean_[i]), float(seg.scaler_.scale_[i])
        scaled.append(((logged - F.lit(mean)) / F.lit(scale)).alias(f"_z{i}"))
    assembler = VectorAssembler(inputCols=[f"_z{i}" for i in range(len(columns))])
    vectors = assembler.setOutputCol("features").transform(frame.select(*scaled))
    # the per-customer table is small: one partition per core keeps each of the k-means
    # iterations (one Spark job each) from paying for many tiny tasks
    cores = frame.sparkSession.sparkContext.defaultParallelism
    return vectors.coalesce(max(1, cores))


def fit_mllib(
    vectors: DataFrame,
    k: int,
    *,
    start: NDArray[np.float64] | None = None,
    random_state: int = 0,
    max_iter: int = MAX_ITER,
    init_steps: int = INIT_STEPS,
    tol: float = TOL,
) -> tuple[NDArray[np.float64], dict[str, Any]]:
    """MLlib k-means on the ``features`` column: the centres, and how the fit went.

    With ``start`` (k × d centres), Lloyd's iterations start from them (MLlib's
    ``initialModel``, which only its RDD-based API takes); without, from MLlib's own
    k-means|| initialisation (``init_steps`` steps, seeded by ``random_state``).
    """
    info: dict[str, Any] = {"engine": "spark-mllib", "max_iter": max_iter, "tol": tol}
    if start is None:
        from pyspark.ml.clustering import KMeans

        km = KMeans(
            k=k,
            initMode="k-means||",
            initSteps=init_steps,
            maxIter=max_iter,
            tol=tol,
            seed=random_state,
            featuresCol="features",
        )
        model = km.fit(vectors)
        centers = np.asarray([np.asarray(c, dtype=np.float64) for c in model.clusterCenters()])
        info.update(init="k-means||", init_steps=init_steps)
        info.update(iterations=int(model.summary.numIter))
        return centers, info
    from pyspark.mllib.clustering import KMeans as RDDKMeans
    from pyspark.mllib.clustering import KMeansModel

    rows = vectors.select("features").rdd.map(lambda row: row[0].toArray())
    fitted = RDDKMeans.train(  # the data is persisted by MLlib for the iterations
        rows,
        k,
        maxIterations=max_iter,
        initialModel=KMeansModel([np.asarray(c, dtype=np.float64) for c in start]),
        epsilon=tol,
        seed=random_state,
    )
    centers = np.asarray([np.asarray(c, dtype=np.float64) for c in fitted.clusterCenters])
    info["init"] = "the sample fit's centres"
    return centers, info


def spark_segmenter(
    seg: CustomerSegmenter,
    Z: NDArray[np.float64],
    buyers: DataFrame,
    columns: Sequence[str],
    *,
    random_state: int = 0,
    init: str = "sample",
) -> tuple[CustomerSegmenter, dict[str, Any]]:
    """Fit the chosen *k* with MLlib on ``buyers`` (Spark) and finish ``seg`` with it.

    ``Z`` holds the same customers, scaled, on the driver, in the order of the result's
    rows; labels are their nearest centres. ``init="sample"`` starts from the centres
    the sample fit found for *k* (as the local engine does); ``"k-means||"`` uses MLlib's
    own initialisation.
    """
    from clustomer.segment.methods import nearest_center_d2

    if init not in ("sample", "k-means||"):
        raise ValueError(f"init must be 'sample' or 'k-means||'; got {init!r}")
    k = max(int(seg.k_selection_.chosen_k), 1)
    start = seg.k_selection_.sample_centers if init == "sample" else None
    if start is not None and len(start) != k:
        start = None
    vectors = scaled_vectors(buyers, columns, seg)
    centers, info = fit_mllib(vectors, k, start=start, random_state=random_state)
    labels, _ = nearest_center_d2(Z, centers)
    seg._finish(Z, labels, centers)
    info["inertia"] = float(seg.inertia_)
    return seg, info
