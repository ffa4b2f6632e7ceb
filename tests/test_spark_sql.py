"""The feature SQL, transpiled to Spark SQL: checked at the string level (no Spark)."""

from __future__ import annotations

import os
from datetime import datetime

import pytest

pytest.importorskip("sqlglot", reason="the spark extra is not installed (pip install .[spark])")

from clustomer.features.customer import FEATURE_SQL  # noqa: E402
from clustomer.ingest.sniff import DATE_FORMATS  # noqa: E402
from clustomer.spark.dialect import (  # noqa: E402
    feature_sql,
    normalizer_sql,
    spark_datetime_pattern,
    to_spark,
)

AS_OF = datetime(2024, 3, 1)


def test_feature_sql_is_the_one_definition_transpiled() -> None:
    text = feature_sql(AS_OF)
    upper = text.upper()
    # the DuckDB-only constructs are gone ...
    assert "MATERIALIZED" not in upper
    assert "$AS_OF" not in upper and ":AS_OF" not in upper
    assert "UNIX_TIMESTAMP" not in upper and "EPOCH" not in upper
    # ... replaced by their Spark forms
    assert upper.count("CAST('2024-03-01 00:00:00.000000' AS TIMESTAMP)") == 3
    assert "TIMESTAMPDIFF(MICROSECOND, P.FIRST_PURCHASE, P.LAST_PURCHASE) / 1E6" in upper
    # every output column of the DuckDB text is there, in the same order
    import sqlglot

    duck = [e.alias_or_name for e in sqlglot.parse_one(FEATURE_SQL, read="duckdb").expressions]
    spark = [e.alias_or_name for e in sqlglot.parse_one(text, read="spark").expressions]
    assert spark == duck
    assert "recency_days" in spark and "distinct_products" in spark


def test_to_spark_needs_the_as_of_value_and_knows_no_other_parameter() -> None:
    with pytest.raises(ValueError, match="give as_of"):
        to_spark("SELECT * FROM t WHERE ts < $as_of")
    with pytest.raises(ValueError, match=r"\$cutoff"):
        to_spark("SELECT * FROM t WHERE ts < $cutoff", as_of=AS_OF)
    assert to_spark("SELECT 1 AS one") == "SELECT 1 AS one"


def test_interval_seconds_rewrite_only_touches_timestamp_differences() -> None:
    out = to_spark("SELECT epoch(b - a) AS s, epoch(b) AS t FROM x")
    assert out == (
        "SELECT (TIMESTAMPDIFF(MICROSECOND, a, b) / 1e6) AS s, UNIX_TIMESTAMP(b) AS t FROM x"
    )


def test_normalizer_keeps_only_the_columns_asked_for() -> None:
    text = normalizer_sql("generic", {"customer_id", "order_id", "order_date", "amount"}, ["_h"])
    assert text == "SELECT _h FROM raw"
    text = normalizer_sql("online_retail", set(), ["customer_key", "is_return"])
    assert "REGEXP_REPLACE(TRIM(customer_id), '\\\\.0+$', '')" in text
    assert "STARTSWITH(UPPER(LTRIM(invoice)), 'C')" in text
    with pytest.raises(ValueError, match="no column nope"):
        normalizer_sql("online_retail", set(), ["customer_key", "nope"])


@pytest.mark.parametrize("fmt", DATE_FORMATS)
def test_every_sniffed_date_format_has_a_spark_pattern(fmt: str) -> None:
    pattern = spark_datetime_pattern(fmt)
    assert "%" not in pattern
    assert pattern.startswith(("yyyy", "M", "d"))


def test_date_format_directives_without_an_equivalent_are_refused() -> None:
    with pytest.raises(ValueError, match="%U"):
        spark_datetime_pattern("%Y week %U")
    assert spark_datetime_pattern("%d %b %Y, %I:%M %p") == "d MMM yyyy, h:m a"
    assert spark_datetime_pattern("at %H'h") == "'at 'H'''h'"


def test_a_local_session_gets_half_the_memory_unless_the_user_set_it(tmp_path) -> None:
    from clustomer.spark.session import local_driver_memory

    total_gib = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
    assert local_driver_memory("local[2]", {}, {}) == f"{max(1, int(total_gib / 2))}g"
    assert local_driver_memory(None, {}, {}) is not None  # local[*] when not submitted
    assert local_driver_memory("yarn", {}, {}) is None  # a cluster sizes its own
    assert local_driver_memory("local[2]", {"spark.driver.memory": "2g"}, {}) is None
    submit = {"PYSPARK_SUBMIT_ARGS": "--driver-memory 3g pyspark-shell"}
    assert local_driver_memory("local[2]", {}, submit) is None
    (tmp_path / "spark-defaults.conf").write_text("spark.driver.memory 6g\n")
    assert local_driver_memory("local[2]", {}, {"SPARK_CONF_DIR": str(tmp_path)}) is None
    (tmp_path / "spark-defaults.conf").write_text("spark.executor.cores 2\n")
    assert local_driver_memory("local[2]", {}, {"SPARK_CONF_DIR": str(tmp_path)}) is not None
