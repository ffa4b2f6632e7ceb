"""DuckDB SQL → Spark SQL: the one feature definition, transpiled with sqlglot.

The per-customer features are written once, in DuckDB SQL
(:data:`clustomer.features.customer.FEATURE_SQL`), and the ingest normalisers once
(:data:`clustomer.ingest.norm_orders.ORDER_NORMALIZERS`). The Spark engine runs the same text:
sqlglot parses it as DuckDB and writes it as Spark SQL, after three rewrites that sqlglot
does not make by itself (each one a small function below, each covered by a test):

1. ``WITH x AS NOT MATERIALIZED (...)``: a DuckDB planner hint Spark does not parse; dropped.
2. ``$as_of``: bound as a ``TIMESTAMP`` literal (the Spark session runs in UTC, and the
   order lines hold naive UTC timestamps, as in the workspace).
3. ``epoch(a - b)`` of two timestamps: DuckDB gives the interval in seconds (a double);
   sqlglot writes ``UNIX_TIMESTAMP(a - b)``, which Spark rejects. It becomes
   ``TIMESTAMPDIFF(MICROSECOND, b, a) / 1e6``, the same number to the last few bits.

sqlglot is imported inside the functions: it is part of the ``spark`` extra, and the
local path never needs it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

__all__ = ["feature_sql", "normalizer_sql", "spark_datetime_pattern", "to_spark"]


def _drop_materialized(tree: Any) -> Any:
    from sqlglot import exp

    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)
    return tree


def _bind_as_of(tree: Any, as_of: datetime | None) -> Any:
    from sqlglot import exp

    for node in list(tree.find_all(exp.Placeholder)):
        if node.name != "as_of":
            raise ValueError(f"unknown parameter ${node.name} in the SQL to transpile")
        if as_of is None:
            raise ValueError("the SQL has a $as_of parameter; give as_of")
        literal = exp.cast(exp.Literal.string(as_of.strftime("%Y-%m-%d %H:%M:%S.%f")), "TIMESTAMP")
        node.replace(literal)
    return tree


def _interval_seconds(tree: Any) -> Any:
    """``epoch(a - b)`` (seconds of a timestamp difference) → microseconds / 1e6."""
    from sqlglot import exp

    for node in list(tree.find_all(exp.TimeToUnix)):
        diff = node.this
        if isinstance(diff, exp.Sub):
            later, earlier = diff.this.sql("spark"), diff.expression.sql("spark")
            seconds: Any = exp.maybe_parse(
                f"(TIMESTAMPDIFF(MICROSECOND, {earlier}, {later}) / 1e6)", dialect="spark"
            )
            node.replace(seconds)
    return tree


def to_spark(sql: str, *, as_of: datetime | None = None, pretty: bool = False) -> str:
    """Transpile one DuckDB statement to Spark SQL (with the rewrites of the module).

    Parameters
    ----------
    sql : str
        One DuckDB statement; ``$as_of`` is its only allowed parameter.
    as_of : datetime, optional
        The value of ``$as_of`` (naive, UTC).
    pretty : bool
        Indent the output (for reading it; Spark does not care).

    Returns
    -------
    str
        Spark SQL text.
    """
    import sqlglot

    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = _interval_seconds(_bind_as_of(_drop_materialized(tree), as_of))
    return str(tree.sql(dialect="spark", pretty=pretty))


def feature_sql(as_of: datetime) -> str:
    """The per-customer feature SQL (``FEATURE_SQL``) as Spark SQL, as of ``as_of``.

    It reads the views ``order_lines`` (``customer_key, order_id, ts, product_id,
    revenue, is_return``) and ``customers`` (``customer_key, country``).
    """
    from clustomer.features.customer import FEATURE_SQL

    return to_spark(FEATURE_SQL, as_of=as_of)


def normalizer_sql(normalizer: str, columns: Collection[str], keep: Collection[str]) -> str:
    """One ingest normaliser (``ORDER_NORMALIZERS[normalizer]``) as Spark SQL over ``raw``.

    Only the output columns named in ``keep`` are kept (the others, such as the e-mail
    check, are not needed by the features and use functions Spark lacks).

    Parameters
    ----------
    normalizer : str
        The layout's normaliser (``online_retail`` or ``generic``).
    columns : collection of str
        The fields the file has (``Match.columns``).
    keep : collection of str
        Output columns to keep.
    """
    import sqlglot

    from clustomer.ingest.norm_orders import ORDER_NORMALIZERS

    tree = sqlglot.parse_one(ORDER_NORMALIZERS[normalizer](set(columns)), read="duckdb")
    wanted = set(keep)
    tree.set("expressions", [e for e in tree.expressions if e.alias_or_name in wanted])
    missing = wanted - {e.alias_or_name for e in tree.expressions}
    if missing:
        raise ValueError(f"the {normalizer} normaliser has no column {', '.join(sorted(missing))}")
    return str(tree.sql(dialect="spark"))


#: strptime directives → Spark datetime pattern letters, as read (single letters read one
#: or two digits, like strptime); ``_PADDED`` where two numbers touch (``%Y%m%d``)
_DIRECTIVES = {
    "Y": "yyyy", "y": "yy", "m": "M", "d": "d", "H": "H", "I": "h", "M": "m", "S": "s",
    "f": "SSSSSS", "z": "Z", "p": "a", "b": "MMM", "B": "MMMM", "a": "EEE", "A": "EEEE",
}  # fmt: skip
_PADDED = {"m": "MM", "d": "dd", "H": "HH", "I": "hh", "M": "mm", "S": "ss"}


def spark_datetime_pattern(strptime_format: str) -> str:
    """A strptime format (``--date-format``, or the one sniffed) as a Spark pattern.

    Numeric fields become single letters, which Spark reads with or without a leading
    zero, as strptime does; literal letters are quoted.

    >>> spark_datetime_pattern("%m/%d/%Y %H:%M")
    'M/d/yyyy H:m'
    >>> spark_datetime_pattern("%Y-%m-%dT%H:%M:%S%z")
    "yyyy-M-d'T'H:m:sZ"
    >>> spark_datetime_pattern("%Y%m%d")
    'yyyyMMdd'
    """
    parts = re.findall(r"%-?.|[^%]+", strptime_format)
    out = []
    for i, part in enumerate(parts):
        if not part.startswith("%"):
            out.append(
                f"'{part.replace(chr(39), chr(39) * 2)}'" if re.search("[A-Za-z']", part) else part
            )
            continue
        key = part[-1]
        if key == "%":
            out.append("%")
            continue
        if key not in _DIRECTIVES:
            raise ValueError(f"the date format directive {part} has no Spark equivalent")
        near = [parts[j] for j in (i - 1, i + 1) if 0 <= j < len(parts)]
        touching = any(n.startswith("%") and n[-1] in "YymdHIMSf" for n in near)
        out.append(_PADDED.get(key, _DIRECTIVES[key]) if touching else _DIRECTIVES[key])
    return "".join(out)
