"""How numbers are written in shops' exports, and reading them exactly.

Three conventions are told apart from a sample: a decimal point (``1234.50``), a decimal
comma (``1234,50``, in files delimited by ``;``), and thousands separators
(``1,234.50`` / ``1.234,50``). Currency symbols (``$1,299.00``, ``1.299,00 €``,
``-$5.00``) are allowed around a number. Such values are read as text and parsed by
:func:`strict_number`: each is the decimal number it states, rounded once to the
nearest double (never ``1.299`` for ``1,299``, never ``15`` for ``1.5``).

Identifiers are text, never numbers: an id in scientific notation (``7.21E+12``) is
what Excel writes for a long number it has already rounded, so it cannot be read back
(:data:`SCIENTIFIC`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from clustomer.errors import InputError, mask_emails

#: currency symbols (and ``US$``-style prefixes) allowed before or after a number
SYMBOLS = r"(?:[A-Z]{0,3}\$|€|£|¥|₹|CHF)"
_SYMBOL_RE = re.compile(rf"^([-+]?)[\s\u00a0\u202f]*{SYMBOLS}[\s\u00a0\u202f]*(?=[-+]?[\d.,])")
_SYMBOL_AFTER_RE = re.compile(rf"(?<=[\d.,])[\s\u00a0\u202f]*{SYMBOLS}$")
# the same in RE2 (DuckDB): no look-arounds, \s is ASCII only
_SP = r"[\s\x{00A0}\x{202F}]*"
_SQL_BEFORE = rf"^([-+]?){_SP}{SYMBOLS}{_SP}([-+]?[0-9.,])"
_SQL_AFTER = rf"([0-9.,]){_SP}{SYMBOLS}$"

#: an id written in scientific notation (Excel's rounding of a long number)
SCIENTIFIC = r"[-+]?[0-9]+([.,][0-9]+)?[eE][-+]?[0-9]+"
_SCIENTIFIC_RE = re.compile(SCIENTIFIC)


def strip_symbol(value: str) -> str:
    """``value`` without a currency symbol before or after its digits.

    >>> [strip_symbol(v) for v in ["$1,299.00", "-$5", "1.299,00 €", "US$ 7", "abc"]]
    ['1,299.00', '-5', '1.299,00', '7', 'abc']
    """
    v = value.strip()
    stripped = _SYMBOL_RE.sub(r"\1", v)
    return stripped if stripped != v else _SYMBOL_AFTER_RE.sub("", v)


def shown(value: str, limit: int = 24) -> str:
    """A cell as an error message may quote it: short, one line, no e-mail address.

    >>> shown("5,c1,anna@example.com,Mug,c1,Mug")
    "'5,c1,<e-mail>,Mug,c1,M...'"
    """
    one_line = " ".join(mask_emails(value).split())
    return repr(one_line if len(one_line) <= limit else one_line[: limit - 3] + "...")


def is_scientific(value: str) -> bool:
    """Whether an id is written in scientific notation (and so was rounded).

    >>> is_scientific("7.21E+12"), is_scientific("7208827076845"), is_scientific("E12")
    (True, False, False)
    """
    return bool(_SCIENTIFIC_RE.fullmatch(value.strip()))


@dataclass(frozen=True)
class NumberFormat:
    """Decimal and thousands separator of a file's numbers; whether symbols occur."""

    decimal: str = "."
    thousands: str | None = None
    symbols: bool = False

    @property
    def as_text(self) -> bool:
        """Whether the numbers must be read as text and parsed by :func:`strict_number`."""
        return self.thousands is not None or self.symbols


_COMMA_DECIMAL = re.compile(r"^[-+]?([1-9]\d{0,2}(\.\d{3})+|\d+),\d+$")
_DOT_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(\.\d{3})+(,\d+)?$")
_COMMA_THOUSANDS = re.compile(r"^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")
_DOT_DECIMAL = re.compile(r"^[-+]?\d*\.\d+$")
_NUMBERISH = re.compile(r"^[-+]?[\d.,]*\d[\d.,]*$")


def looks_numeric(value: str) -> bool:
    """Whether a cell is a number in some convention (a symbol allowed).

    >>> looks_numeric("$1,299.00"), looks_numeric("42"), looks_numeric("Smith, Jo")
    (True, True, False)
    """
    return bool(_NUMBERISH.match(strip_symbol(value)))


def detect_number_format(
    values: list[str], delimiter: str, *, file: str | None = None
) -> NumberFormat:
    """Decimal separator, thousands separator and currency symbols, from a sample.

    >>> detect_number_format(["29,98", "1.234,50"], ";")
    NumberFormat(decimal=',', thousands='.', symbols=False)
    >>> detect_number_format(["1.234", "20,5"], ";")
    NumberFormat(decimal=',', thousands='.', symbols=False)
    >>> detect_number_format(["0.990", "1,5"], ";")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clustomer.errors.InputError: numbers are written both as '1,5' (decimal comma) and as ...
    >>> detect_number_format(["29.98", "1,234.50"], ",")
    NumberFormat(decimal='.', thousands=',', symbols=False)
    >>> detect_number_format(["29.98"], ";")
    NumberFormat(decimal='.', thousands=None, symbols=False)
    >>> detect_number_format(["$1,299.00", "$5.00"], ",")
    NumberFormat(decimal='.', thousands=',', symbols=True)
    """
    # (a value over several lines is a quote gone wrong, which the reader will report)
    raw = [v.strip() for v in values if v and v.strip() and "\n" not in v and "\r" not in v]
    vals = [strip_symbol(v) for v in raw]
    symbols = vals != raw
    if delimiter != "," and any(_COMMA_DECIMAL.match(v) for v in vals):
        # a dot with three digits after it is a thousands separator here; any other dot
        # is a decimal point, and the two conventions in one column cannot both hold
        plain_dots = [v for v in vals if _DOT_DECIMAL.match(v) and not _DOT_THOUSANDS.match(v)]
        if plain_dots:
            comma = next(v for v in vals if _COMMA_DECIMAL.match(v))
            raise InputError(
                f"numbers are written both as {comma!r} (decimal comma) and as "
                f"{plain_dots[0]!r} (decimal point); export them one way",
                file=file,
            )
        thousands = "." if any(_DOT_THOUSANDS.match(v) for v in vals) else None
        return NumberFormat(",", thousands, symbols)
    commas = [v for v in vals if "," in v]
    if commas and all(_COMMA_THOUSANDS.match(v) for v in commas):
        return NumberFormat(".", ",", symbols)
    if commas:
        raise InputError(
            f"numbers such as {shown(commas[0])} use a comma that is neither a thousands "
            "separator nor readable in a comma-separated file; export the file with a "
            "semicolon delimiter (decimal comma) or with a decimal point",
            file=file,
        )
    return NumberFormat(".", None, symbols)


def strict_number(col: str, decimal: str, thousands: str | None, symbols: bool = False) -> str:
    """SQL reading ``col`` as a number only when it is written the file's way.

    DuckDB's ``thousands`` option deletes separators wherever they are, so ``1.5`` would
    read as 15; here a value must be grouped by threes (``1,234.50``) or plain (``29.98``),
    anything else is NULL (and the row is dropped as unparseable). With ``symbols``, one
    currency symbol before or after the digits is allowed. The decimal text is cast to
    DOUBLE once (correctly rounded): ``$1,299.00`` is exactly 1299.0.

    >>> strict_number('"amount"', ".", ",")[:40]
    'CASE WHEN regexp_full_match(trim("amount'
    >>> import duckdb
    >>> sql = strict_number("v", ".", ",", symbols=True)
    >>> [duckdb.sql(f"SELECT {sql} FROM (SELECT ? AS v)", params=[v]).fetchall()[0][0]
    ...  for v in ["$1,299.00", "-$5.10", "1,29.00", "$"]]
    [1299.0, -5.1, None, None]
    """
    value = f"trim({col})"
    if symbols:
        value = (
            f"regexp_replace(regexp_replace({value}, '{_SQL_BEFORE}', '\\1\\2'), "
            f"'{_SQL_AFTER}', '\\1')"
        )
    d = re.escape(decimal)
    if thousands:
        t = re.escape(thousands)
        pattern = rf"[-+]?(\d{{1,3}}({t}\d{{3}})+|\d+)({d}\d+)?"
        plain = f"replace(replace({value}, '{thousands}', ''), '{decimal}', '.')"
    else:
        pattern = rf"[-+]?(\d+({d}\d*)?|{d}\d+)"
        plain = f"replace({value}, '{decimal}', '.')" if decimal != "." else value
    return f"CASE WHEN regexp_full_match({value}, '{pattern}') THEN TRY_CAST({plain} AS DOUBLE) END"


def lenient_number(col: str) -> str:
    """SQL for a number in a typed table (Parquet, Excel): a plain cast, else the
    decimal-point conventions with thousands separators and symbols (``$1,299.00``).

    Non-finite values (``nan``, ``inf``) are NULL: they are not amounts.
    """
    value = f"coalesce(TRY_CAST(trim({col}) AS DOUBLE), {strict_number(col, '.', ',', True)})"
    return f"CASE WHEN isfinite({value}) THEN {value} END"
