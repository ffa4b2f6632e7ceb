"""Read an order export with Spark into the views the feature SQL reads.

The same rules as the local import, from the same declarations: the layout and its column
headers come from :mod:`clustomer.ingest.layouts` (``detect_layout``, ``--map``), dates
are read with the format :func:`clustomer.ingest.sniff.detect_date_format` picks from a
sample, the normaliser is the ingest SQL transpiled (:func:`~clustomer.spark.dialect.
normalizer_sql`), and a line is kept under the drop rules of
``clustomer.ingest.normalize`` (first reason wins; exact duplicate lines dropped).

What the Spark engine does not do: Shopify exports (their refunds are extra lines built
from whole orders), Excel files, thousands separators and decimal commas in numbers
(such values are dropped as unparseable), non-UTF-8 CSV files, and the per-line
reject list. ``order_lines`` and ``customers`` are session temporary views.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import TYPE_CHECKING, Any

from clustomer.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SPARK_LAYOUTS", "SourceLines", "column_of", "load_order_lines", "source_format"]

#: Layouts the Spark engine reads (by normaliser).
SPARK_LAYOUTS = ("online_retail", "generic")
#: Columns of the normalised lines the engine keeps (features, drop rules, duplicates).
_KEEP = (
    "customer_key",
    "order_id",
    "ts",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "revenue",
    "currency",
    "is_return",
    "is_cancellation",
    "country",
    "status_drop",
    "_h",
    "_bad",
    "_sci",
)
#: The columns of two lines that are "the same line" (with the raw hash), as in ingest.
_SAME_LINE = (
    "_h",
    "customer_key",
    "order_id",
    "ts",
    "product_id",
    "product_name",
    "quantity",
    "unit_price",
    "revenue",
    "currency",
    "country",
)
#: How many values of the time column are sampled to detect its format.
DATE_SAMPLE = 2000


@dataclass
class SourceLines:
    """What reading one source gave: the layout, the row accounting, the currency."""

    source: str
    layout: str
    rows_read: int
    rows_kept: int
    rows_dropped: dict[str, int] = field(default_factory=dict)
    currency: str | None = None
    date_format: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """An import summary in the shape the report reads (no rejects list)."""
        return {
            "file": self.source,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": dict(self.rows_dropped),
            "revenue_dropped": {},
            "currency": self.currency,
            "rejects": [],
        }


def source_format(source: str) -> str:
    """``csv`` for a path ending in ``.csv``/``.tsv``/``.txt`` (optionally compressed),
    else ``parquet`` (a file or a folder of part files).

    >>> source_format("s3a://shop/orders/2024.csv.gz"), source_format("hdfs:///orders/")
    ('csv', 'parquet')
    """
    name = source.rstrip("/").lower()
    for ext in (".gz", ".bz2", ".zst", ".lz4", ".snappy", ".deflate"):
        name = name.removesuffix(ext)
    return "csv" if name.endswith((".csv", ".tsv", ".txt")) else "parquet"


def column_of(name: str) -> Column:
    """A column by its exact name, whatever characters it has (dots, spaces, backticks)."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


#: Delimiters tried when a CSV header read with commas gives one column.
_DELIMITERS = (";", "\t", "|")


def _read_raw(spark: SparkSession, source: str) -> DataFrame:
    """The source as Spark reads it; CSV: header row, every value a string, the delimiter
    a comma unless the header says otherwise (``;``, tab or ``|``)."""
    from pyspark.errors import PySparkException

    def csv(sep: str) -> DataFrame:
        return (
            spark.read.option("header", True)
            .option("sep", sep)
            .option("quote", '"')
            .option("escape", '"')
            .option("mode", "PERMISSIVE")
            .csv(source)
        )

    try:
        if source_format(source) == "parquet":
            return spark.read.parquet(source)
        raw = csv(",")
        if len(raw.columns) == 1:  # one column: perhaps another delimiter
            header = raw.columns[0]
            best = max(_DELIMITERS, key=header.count)
            if header.count(best):
                raw = csv(best)
        return raw
    except PySparkException as exc:
        hint = ""
        if "TIMESTAMP(NANOS" in str(exc):  # pandas writes nanoseconds unless told otherwise
            hint = (
                " (its timestamps are in nanoseconds, which Spark does not read: write the "
                "file again with microseconds, e.g. pandas' to_parquet(..., "
                "coerce_timestamps='us', allow_truncated_timestamps=True))"
            )
        raise InputError(f"Spark cannot read this source: {exc}{hint}", file=source) from None


def _time_reader(
    raw: DataFrame, column: str, date_format: str | None, file: str
) -> tuple[Column, str | None]:
    """How the time column is read: a Spark pattern from ``--date-format`` or the sniffed
    format, else Spark's ISO 8601 cast (offsets converted to UTC)."""
    from pyspark.sql import functions as F

    from clustomer.ingest.sniff import detect_date_format
    from clustomer.spark.dialect import spark_datetime_pattern

    src = column_of(column)
    fmt = date_format
    if fmt is None and dict(raw.dtypes)[column] == "string":
        rows = raw.select(src).where(src.isNotNull()).limit(DATE_SAMPLE).collect()
        fmt = detect_date_format([str(r[0]) for r in rows], file=file).fmt
    if dict(raw.dtypes)[column] != "string":
        return src.try_cast("timestamp"), fmt
    if fmt is None:
        return F.trim(src).try_cast("timestamp"), None
    try:
        pattern = spark_datetime_pattern(fmt)
    except ValueError as exc:
        raise InputError(str(exc), file=file) from None
    return F.try_to_timestamp(F.trim(src), F.lit(pattern)), fmt


def _typed(
    raw: DataFrame,
    layout: str | None,
    mapping: Mapping[str, str] | None,
    date_format: str | None,
    file: str,
) -> tuple[DataFrame, Any, str | None]:
    """The layout's fields, typed by kind, plus ``_h`` (hash of the row) and ``_bad``."""
    from pyspark.sql import functions as F

    from clustomer.ingest.layouts import detect_layout
    from clustomer.ingest.numbers import SCIENTIFIC

    match = detect_layout(list(raw.columns), layout, mapping, file=file)
    if match.layout.normalizer not in SPARK_LAYOUTS:
        raise InputError(
            f"the Spark engine reads the generic and UCI Online Retail layouts; this file is "
            f"{match.layout.name}: import it with the default engine (--engine duckdb)",
            file=file,
        )
    time_field = match.layout.time_field
    columns: list[Column] = []
    bad: list[Column] = []
    sci: list[Column] = []  # an id in scientific notation (Excel's 7.21E+12) stops the import
    fmt: str | None = None
    for name, header in match.columns.items():
        src = column_of(header)
        kind = match.layout.field(name).kind
        if kind == "timestamp" and name != time_field:
            kind = "text"
        if kind == "text":
            value = src.cast("string")
        elif kind == "number":
            is_text = dict(raw.dtypes)[header] == "string"
            value = (F.trim(src) if is_text else src).try_cast("double")
        else:
            value, fmt = _time_reader(raw, header, date_format, file)
        if kind != "text":
            bad.append(src.isNotNull() & value.isNull())
        if match.layout.field(name).key:
            sci.append(
                F.coalesce(F.trim(src.cast("string")).rlike(f"^(?:{SCIENTIFIC})$"), F.lit(False))
            )
        columns.append(value.alias(name))
    everything = [column_of(c) for c in raw.columns]
    flags = reduce(operator.or_, bad, F.lit(False))
    sci_flag = reduce(operator.or_, sci, F.lit(False))
    typed = raw.select(
        *columns,
        F.xxhash64(*everything).alias("_h"),
        flags.alias("_bad"),
        sci_flag.alias("_sci"),
    )
    return typed, match, fmt


def _drop_reason(default_currency: str | None, chosen: str | None, now: datetime) -> Column:
    """The first drop reason of a line, or NULL: the rules of ``ingest/normalize.py``."""
    from pyspark.sql import functions as F

    c = F.col
    finite = ~F.isnan(c("revenue")) & (F.abs(c("revenue")) != float("inf"))
    currency = F.coalesce(c("currency"), F.lit(default_currency))
    reason = (
        F.when(c("_bad") | ~finite, "unparseable value")
        .when(c("customer_key").isNull(), "missing customer")
        .when(c("order_id").isNull(), "missing order id")
        .when(c("ts").isNull(), "missing date")
        .when(c("revenue").isNull(), "missing amount")
        .when(c("status_drop").isNotNull(), c("status_drop"))
        .when(
            (c("unit_price") <= 0) | (c("unit_price").isNull() & (c("revenue") == 0)),
            "non-positive price",
        )
        .when(c("quantity") == 0, "zero quantity")
    )
    if chosen is not None:
        reason = reason.when(currency.isNull() | (currency != chosen), "other currency")
    cutoff = F.lit(now.strftime("%Y-%m-%d %H:%M:%S.%f")).cast("timestamp")  # UTC session
    return reason.when(c("ts") > cutoff, "date after as-of date")


def _without_duplicates(kept: DataFrame) -> DataFrame:
    """Drop every copy but one of a line seen twice, as the local import does.

    Candidates share the hash of the whole raw row; only they are compared on every
    column (:data:`_SAME_LINE`). Finding them shuffles the 8-byte hashes alone, not the
    lines: most files have no duplicate at all.
    """
    from pyspark.sql import functions as F

    twice = kept.groupBy("_h").count().where(F.col("count") > 1).select("_h")
    single = kept.join(F.broadcast(twice), "_h", "left_anti")
    copies = kept.join(F.broadcast(twice), "_h", "left_semi").dropDuplicates(list(_SAME_LINE))
    return single.unionByName(copies)


def _account(lines: DataFrame) -> tuple[dict[str | None, int], list[str], int]:
    """Rows per drop reason (None: kept), the kept lines' currencies (at most five), and
    how many rows have an id in scientific notation: one pass over the lines."""
    from pyspark.sql import functions as F

    account = lines.groupBy("drop_reason").agg(
        F.count("*").alias("n"),
        F.count_if("_sci").alias("sci"),
        F.slice(F.array_sort(F.collect_set("currency")), 1, 5).alias("currencies"),
    )
    counts: dict[str | None, int] = {}
    found: list[str] = []
    sci = 0
    for r in account.collect():
        counts[r["drop_reason"]] = int(r["n"])
        sci += int(r["sci"])
        if r["drop_reason"] is None:
            found = [str(c) for c in r["currencies"]]
    return counts, found, sci


def load_order_lines(
    spark: SparkSession,
    source: str,
    *,
    layout: str | None = None,
    mapping: Mapping[str, str] | None = None,
    currency: str | None = None,
    date_format: str | None = None,
    now: datetime | None = None,
) -> SourceLines:
    """Read ``source`` and register the views ``order_lines`` and ``customers``.

    ``order_lines`` is cached (the feature SQL reads it twice); the accounting counts
    every row read as kept or under one drop reason.

    Raises
    ------
    InputError
        Unreadable source, unknown or unsupported layout, several currencies without
        ``currency``, or no line kept.
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from clustomer.ingest.csv_reader import scientific_error
    from clustomer.spark.dialect import normalizer_sql

    cutoff = now or datetime.now(UTC).replace(tzinfo=None)
    raw = _read_raw(spark, source)
    typed, match, fmt = _typed(raw, layout, mapping, date_format, source)
    typed.createOrReplaceTempView("raw")
    norm = spark.sql(normalizer_sql(match.layout.normalizer, match.columns, _KEEP))
    chosen = currency.upper() if currency else None
    default_currency = chosen or match.layout.default_currency
    reason = _drop_reason(default_currency, chosen, cutoff)
    lines = norm.withColumn("currency", F.coalesce("currency", F.lit(default_currency)))
    lines = lines.withColumn("drop_reason", reason).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts, found, sci = _account(lines)
        if sci:
            raise scientific_error(source, None, None, "")
        kept = _without_duplicates(lines.where(F.col("drop_reason").isNull()))
        order_lines = kept.select(
            "customer_key", "order_id", "ts", "product_id", "revenue", "is_return", "currency"
        ).persist(StorageLevel.MEMORY_AND_DISK)
        customers = (
            lines.where(
                F.col("customer_key").isNotNull()
                & F.col("country").isNotNull()
                & F.col("ts").isNotNull()
            )
            .groupBy("customer_key")
            .agg(F.max_by("country", "ts").alias("country"))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
        try:
            n_kept = order_lines.count()
            customers.count()
        except BaseException:
            order_lines.unpersist()
            customers.unpersist()
            raise
    finally:
        lines.unpersist()
    order_lines.createOrReplaceTempView("order_lines")  # dropping a view uncaches it
    customers.createOrReplaceTempView("customers")
    dropped = {str(r): n for r, n in counts.items() if r is not None}
    duplicates = counts.get(None, 0) - n_kept
    if duplicates:
        dropped["duplicate line"] = duplicates
    rows_read = sum(counts.values())
    if rows_read == 0:
        raise InputError("the source has a header but no data rows", file=source)
    if len(found) > 1:
        raise InputError(
            f"this source mixes currencies ({', '.join(str(c or 'none') for c in found)}); "
            "revenue in different currencies cannot be added up: choose one with --currency",
            file=source,
        )
    if n_kept == 0:
        listed = "; ".join(f"{n:,}: {r}" for r, n in dropped.items())
        raise InputError(f"none of the {rows_read:,} rows can be kept ({listed})", file=source)
    return SourceLines(
        source=source,
        layout=match.layout.name,
        rows_read=rows_read,
        rows_kept=n_kept,
        rows_dropped=dropped,
        currency=found[0] if found else default_currency,
        date_format=fmt,
    )
