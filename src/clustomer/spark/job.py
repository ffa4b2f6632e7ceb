"""``clustomer segment --engine spark``: the main job on Apache Spark, end to end.

Stages (timed, and reported through ``progress`` like the local job):

``read``
    the source → the views ``order_lines`` and ``customers`` (:mod:`.source`);
``features``
    ``FEATURE_SQL`` transpiled, on Spark; the per-customer table (small: 10M lines gave
    450,000 customers) is cached there and collected once, through Arrow; then the
    feature groups and pruning, as in the local job;
``k``
    *k* on a sample with the local criteria (:mod:`.kmeans`);
``fit``
    MLlib k-means on all customers with purchases, on Spark;
``profiles``
    profiles, names, RFM scores and the map, with the local code (:mod:`.result`);
``explain``
    the rules and the classifier, as in the local job;
``write``
    ``assignments.parquet``, ``profiles.parquet``, ``segments.csv`` and ``report.html``
    in ``out_dir`` (a folder on the driver).

Nothing is stored in a workspace: the run has id 0 and no customer-value columns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clustomer.errors import ClustomerError
from clustomer.progress import Progress, Timings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from clustomer.results import SegmentRun
    from clustomer.spark.source import SourceLines

__all__ = ["SPARK_GROUPS", "SparkOutcome", "run_segment_spark"]

#: Feature groups the Spark engine builds (products and demographics need the workspace).
SPARK_GROUPS = ("rfm", "behaviour")


@dataclass
class SparkOutcome:
    """What one ``clustomer segment --engine spark`` produced."""

    source: SourceLines
    run: SegmentRun
    outputs: dict[str, Path]
    master: str
    fit: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` output: the run summary, the source's account, outputs, timings."""
        out = self.run.summary()
        out["engine"] = {"name": "spark", "master": self.master, **self.fit}
        out["import"] = self.source.to_dict()
        out["outputs"] = {k: str(v) for k, v in self.outputs.items()}
        out["timings"] = dict(self.timings)
        return out


def _check_options(method: str, groups: Sequence[str], out: Path) -> None:
    if method != "kmeans":
        raise ClustomerError(
            f"--engine spark fits k-means only (Spark MLlib); --method {method} runs on "
            "the default engine"
        )
    other = [g for g in groups if g not in SPARK_GROUPS]
    if other:
        raise ClustomerError(
            f"--engine spark builds the feature groups {', '.join(SPARK_GROUPS)}; "
            f"{', '.join(other)} need a workspace: use the default engine"
        )
    if out.exists() and not out.is_dir():
        raise ClustomerError(f"--out {out} is a file; give a folder for the outputs")


def run_segment_spark(
    source: str | Path,
    *,
    out_dir: str | Path = "out",
    master: str | None = None,
    k: int | None = None,
    as_of: datetime | None = None,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    currency: str | None = None,
    date_format: str | None = None,
    sample_size: int = 10_000,
    random_state: int = 0,
    progress: Progress | None = None,
    method: str = "kmeans",
    features: str | Sequence[str] | None = None,
    playbook: str | Path | None = None,
    spark: SparkSession | None = None,
    conf: Mapping[str, str] | None = None,
    init: str = "sample",
) -> SparkOutcome:
    """Segment the customers of ``source`` on Spark; write the outputs into ``out_dir``.

    Parameters
    ----------
    source : str or Path
        A CSV or Parquet file or folder, any path Spark can read (``hdfs://``,
        ``s3a://`` as the user's Spark is configured).
    out_dir : str or Path
        A local folder for ``assignments.parquet``, ``profiles.parquet``,
        ``segments.csv`` and ``report.html``.
    master : str, optional
        Spark master (``local[2]``, ``spark://…``, ``yarn``); default: Spark's own.
    spark : SparkSession, optional
        Run in this session instead of starting one (tests, notebooks).
    conf : mapping, optional
        Spark settings for a session started here.
    init : {"sample", "k-means||"}
        Where MLlib's k-means starts: the sample fit's centres for the chosen *k* (as the
        local engine), or MLlib's own k-means|| (see :mod:`clustomer.spark.kmeans`).

    The other parameters are those of :func:`clustomer.pipeline.run_segment`.

    Raises
    ------
    ClustomerError
        Unsupported options (a method other than k-means, the products or demographics
        feature group), input errors as in the local import, or a Spark failure.
    """
    from clustomer.features.sets import parse_groups
    from clustomer.playbook import load_playbook
    from clustomer.spark.session import SparkEngineError, require_spark, spark_session

    chosen_playbook = load_playbook(playbook)
    groups = parse_groups(features)
    out = Path(out_dir)
    _check_options(method, groups, out)
    require_spark()
    from pyspark.errors import PySparkException

    timings = Timings(progress)
    session = spark or spark_session(master, conf=conf)
    try:
        return _run(
            session,
            str(source),
            out,
            timings,
            groups=groups,
            k=k,
            as_of=as_of,
            layout=layout,
            mapping=mapping,
            currency=currency,
            date_format=date_format,
            sample_size=sample_size,
            random_state=random_state,
            playbook=chosen_playbook,
            init=init,
        )
    except PySparkException as exc:
        raise SparkEngineError(f"Spark failed: {exc}") from None
    finally:  # dropping the views uncaches the lines and customers
        for view in ("order_lines", "customers", "raw"):
            session.catalog.dropTempView(view)


def _run(
    spark: SparkSession,
    source: str,
    out: Path,
    timings: Timings,
    *,
    groups: list[str],
    k: int | None,
    as_of: datetime | None,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    currency: str | None,
    date_format: str | None,
    sample_size: int,
    random_state: int,
    playbook: Any,
    init: str,
) -> SparkOutcome:
    from pyspark import StorageLevel

    from clustomer.spark.features import default_as_of, feature_frame
    from clustomer.spark.source import load_order_lines

    with timings.stage("read"):
        lines = load_order_lines(
            spark,
            source,
            layout=layout,
            mapping=mapping,
            currency=currency,
            date_format=date_format,
        )
        cutoff = as_of or default_as_of(spark)
    frame = feature_frame(spark, cutoff).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        return _segment(
            spark,
            frame,
            lines,
            cutoff,
            out,
            timings,
            groups=groups,
            k=k,
            sample_size=sample_size,
            random_state=random_state,
            playbook=playbook,
            init=init,
        )
    finally:
        frame.unpersist()


def _segment(
    spark: SparkSession,
    frame: DataFrame,
    lines: SourceLines,
    cutoff: datetime,
    out: Path,
    timings: Timings,
    *,
    groups: list[str],
    k: int | None,
    sample_size: int,
    random_state: int,
    playbook: Any,
    init: str,
) -> SparkOutcome:
    """Features collected, k, the MLlib fit, explanations, outputs (``frame`` is cached)."""
    from clustomer.features.sets import build_feature_set
    from clustomer.results import SegmentRun
    from clustomer.segment.explain import explain_run
    from clustomer.spark.features import collect_features
    from clustomer.spark.kmeans import choose_k, spark_segmenter
    from clustomer.spark.outputs import write_outputs
    from clustomer.spark.result import segment_features
    from clustomer.store.db import Store

    with timings.stage("features"):
        table = collect_features(frame, cutoff)
        fset = build_feature_set(Store(), table, groups, random_state=random_state)
    fit_info: dict[str, Any] = {}

    def fit(X: Any, n_clusters: int | None) -> Any:
        with timings.stage("k"):
            seg, Z = choose_k(
                X, n_clusters=n_clusters, sample_size=sample_size, random_state=random_state
            )
        with timings.stage("fit"):
            buyers = frame.where(frame["frequency"] > 0)
            model, info = spark_segmenter(
                seg, Z, buyers, fset.columns, random_state=random_state, init=init
            )
        fit_info.update(info)
        return model

    start = time.perf_counter()
    result = segment_features(
        fset.table, fit, n_clusters=k, feature_columns=fset.columns, random_state=random_state
    )
    inner = sum(timings.seconds.get(s, 0.0) for s in ("k", "fit"))
    timings.seconds["profiles"] = round(time.perf_counter() - start - inner, 4)
    with timings.stage("explain"):
        explained, _, _ = explain_run(
            fset.table, result, currency=lines.currency, random_state=random_state
        )
    details = {"features": fset.to_dict(), "confidence": result.confidence, **explained}
    run = SegmentRun(0, cutoff, result, fset.table, dict(timings.seconds), fset, details)
    with timings.stage("write"):
        outputs = write_outputs(
            run, out, imports=[lines.to_dict()], playbook=playbook, timings=timings.seconds
        )
    return SparkOutcome(
        lines, run, outputs, str(spark.sparkContext.master), fit_info, dict(timings.seconds)
    )
