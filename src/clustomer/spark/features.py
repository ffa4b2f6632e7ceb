"""The per-customer features on Spark: ``FEATURE_SQL``, transpiled, over ``order_lines``.

The result has the columns and dtypes of :func:`clustomer.features.customer_features`
(``frequency`` and ``distinct_products`` as int64), so everything downstream of the
features is the local code, unchanged.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from clustomer.errors import ClustomerError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["default_as_of", "feature_frame", "to_pandas"]


def default_as_of(spark: SparkSession) -> datetime:
    """The day after the last order line (as the local engine's ``default_as_of``).

    Raises
    ------
    ClustomerError
        If ``order_lines`` is empty.
    """
    last = spark.table("order_lines").agg({"ts": "max"}).collect()[0][0]
    if last is None:
        raise ClustomerError("the source has no order lines to segment")
    return datetime(last.year, last.month, last.day) + timedelta(days=1)


def feature_frame(spark: SparkSession, as_of: datetime) -> DataFrame:
    """The per-customer features as a (lazy) Spark DataFrame, sorted by customer key."""
    from clustomer.spark.dialect import feature_sql

    return spark.sql(feature_sql(as_of))


def to_pandas(frame: DataFrame) -> pd.DataFrame:
    """Collect a Spark DataFrame through Arrow (quietly: pyspark 4.3 warns about pandas 3
    and uses a keyword pandas 3 deprecates; the columns it gives are checked by tests)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"pyspark(\.|$)")
        return frame.toPandas()


def collect_features(frame: DataFrame, as_of: datetime) -> pd.DataFrame:
    """The feature frame on the driver, with the local engine's dtypes.

    Raises
    ------
    ClustomerError
        When no customer has an order before ``as_of``.
    """
    df = to_pandas(frame)
    if df.empty:
        raise ClustomerError(f"no customer has an order before the as-of date {as_of:%Y-%m-%d}")
    df["frequency"] = df["frequency"].astype("int64")
    df["distinct_products"] = df["distinct_products"].astype("int64")
    if df["country"].notna().any():  # as DuckDB gives it: str, or all None (object)
        df["country"] = df["country"].astype("str")
    return df
