"""The Spark engine: ``clustomer segment --engine spark`` (see docs/scale.md).

The same job as the local one, for sources too big for one machine: the order lines are
read and aggregated to per-customer features on Spark (the feature SQL of
:mod:`clustomer.features.customer`, transpiled by sqlglot), *k* is chosen on a sample
with the local criteria, the final k-means runs on Spark MLlib, and the outputs are
the local ones plus two Parquet files.

pyspark and sqlglot are optional (``pip install 'clustomer[spark]'``, Java 17): this
package imports them only inside its functions, and nothing outside it imports this
package except the CLI, for ``--engine spark``.

===============  =======================================================================
module           one job
===============  =======================================================================
``dialect``      DuckDB SQL → Spark SQL (sqlglot, plus three rewrites)
``session``      the SparkSession (UTC, Arrow) and the checks before it starts
``source``       a CSV/Parquet source → the views ``order_lines`` and ``customers``
``features``     the per-customer features on Spark, collected with local dtypes
``kmeans``       k with the local criteria on a sample; MLlib k-means|| for the fit
``result``       a ``SegmentationResult`` from the fitted segmenter (local code)
``outputs``      Parquet files, ``segments.csv`` and ``report.html``
``job``          ``run_segment_spark``: the stages above, timed
===============  =======================================================================
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["SparkOutcome", "run_segment_spark"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("clustomer.spark.job"), name)
    raise AttributeError(f"module 'clustomer.spark' has no attribute {name!r}")
