"""Codes that are not products: postage, fees, discounts, manual adjustments, vouchers.

Order exports mix real products with lines that only move money: postage and carriage,
bank and marketplace fees, discounts, manual corrections, samples, gift vouchers. Nobody
wants them recommended, and they say nothing about taste, so the recommenders drop them
before anything else.

**The rule.** A product is excluded when its id *or* its name matches one entry of the
list, case-insensitively; an entry may use shell-style wildcards (``*`` any text, ``?``
one character), so ``gift_*`` matches every ``gift_0001_20``. Names are compared whole
(after trimming spaces), so ``POSTAGE`` does not exclude ``POSTAGE STAMP MUG``.

:data:`DEFAULT_EXCLUDE` holds the non-product codes of the Online Retail data set (both
years), found by listing its stock codes that are not five digits and a letter or two:

==================  =============================================================
entries             what they are
==================  =============================================================
POST, DOT, C2       postage, "DOTCOM POSTAGE", carriage
M, D, S, B          manual lines, discounts, samples, "Adjust bad debt"
BANK CHARGES,       bank charges, Amazon fees, the charity commission (CRUK)
AMAZONFEE, CRUK
PADS                "PADS TO MATCH ALL CUSHIONS", a 0.001 price placeholder
ADJUST*, TEST*      manual account adjustments and test codes (Online Retail II)
gift_*, *VOUCHER*   gift vouchers (``gift_0001_20`` … "Dotcomgiftshop Gift Voucher")
*POSTAGE,           the same by name, for shops that export names only; with
*CARRIAGE, MANUAL,  "Next Day Carriage" (23444) and "PACKING CHARGE" (23574),
DISCOUNT, SAMPLES,  which Online Retail sells under product-like codes
AMAZON FEE,
PACKING CHARGE, …
==================  =============================================================

Pass ``exclude=`` to :func:`clustomer.recommend.recommend` to replace the list
(``DEFAULT_EXCLUDE + ("MY-FEE",)`` to extend it, ``()`` to exclude nothing).

Examples
--------
>>> excluded(["85123A", "POST", "gift_0001_20", "m"], ["MUG", "POSTAGE", "voucher", "Manual"])
array([False,  True,  True,  True])
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_EXCLUDE", "excluded", "exclusion_pattern"]

#: Ids and names (shell-style patterns, case-insensitive) that are not products.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    # Online Retail stock codes
    "POST",
    "DOT",
    "C2",
    "M",
    "D",
    "S",
    "B",
    "BANK CHARGES",
    "AMAZONFEE",
    "CRUK",
    "PADS",
    "ADJUST*",
    "TEST*",
    "gift_*",
    # the same by name
    "*POSTAGE",
    "*CARRIAGE",
    "PACKING CHARGE",
    "MANUAL",
    "DISCOUNT",
    "AMAZON FEE",
    "SAMPLES",
    "ADJUST BAD DEBT",
    "CRUK COMMISSION",
    "*VOUCHER*",
)


def exclusion_pattern(rules: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive regular expression matching any rule (None for no rules).

    >>> rule = exclusion_pattern(["POST", "gift_*"])
    >>> [bool(rule.fullmatch(s)) for s in ("post", "GIFT_0001_20", "POSTAGE")]
    [True, True, False]
    """
    parts = [fnmatch.translate(str(r).strip()) for r in rules if str(r).strip()]
    if not parts:
        return None
    return re.compile("(?i)(?:" + "|".join(parts) + ")")


def excluded(
    ids: Sequence[str] | pd.Index | np.ndarray,
    names: Sequence[str | None] | pd.Index | np.ndarray | None = None,
    rules: Iterable[str] | None = None,
) -> np.ndarray:
    """Which products match the rule list (by id or by name).

    Parameters
    ----------
    ids : sequence of str
        Product ids (one per product: call it on the distinct products, not on lines).
    names : sequence of str, optional
        Their names, aligned with ``ids``.
    rules : iterable of str, optional
        The rule list; :data:`DEFAULT_EXCLUDE` when None.

    Returns
    -------
    ndarray of bool
        True for a product to leave out.
    """
    pattern = exclusion_pattern(DEFAULT_EXCLUDE if rules is None else rules)
    n = len(ids)
    if pattern is None or n == 0:
        return np.zeros(n, dtype=bool)
    # a loop over distinct products (thousands), never over lines or customers
    out = np.fromiter((_match(pattern, v) for v in ids), dtype=bool, count=n)
    if names is not None:
        out |= np.fromiter((_match(pattern, v) for v in names), dtype=bool, count=n)
    return out


def _match(pattern: re.Pattern[str], value: object) -> bool:
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return False
    return pattern.fullmatch(str(value).strip()) is not None
