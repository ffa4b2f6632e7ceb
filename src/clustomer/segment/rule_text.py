"""Segment rules as sentences: one phrase per feature and its bounds.

:func:`describe_condition` turns the conditions of a rule (``(feature, op, value)``, see
:mod:`clustomer.segment.rules`) into plain words, in the shop's currency.

>>> describe_condition("frequency", ">=", 6)
'at least 6 orders'
"""

from __future__ import annotations

__all__ = ["OR_EMPTY", "Condition", "describe_condition"]

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
Condition = tuple[str, str, float | int | None]
#: Condition op of a lower bound that customers with no value also meet.
OR_EMPTY = ">= or empty"


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() else f"{v:,.6g}"


def _money(v: float, currency: str | None) -> str:
    a = abs(v)
    s = f"{a:,.0f}" if a >= 100 or float(a).is_integer() else f"{a:,.2f}"
    sign = "-" if v < 0 else ""
    code = (currency or "").upper()
    if not code:
        return sign + s
    return f"{sign}{_SYMBOLS[code]}{s}" if code in _SYMBOLS else f"{sign}{s} {code}"


def _pct(v: float) -> str:
    return f"{v * 100:.3g}%"


def _plural(n: float, word: str) -> str:
    return f"{_num(n)} {word}" + ("" if n == 1 else "s")


# Per feature, "|"-separated: a lower bound, an upper bound, a range, "is empty", "is known".
# "{a}"/"{b}" are the formatted bounds, "{a1}" is a - 1 ("more than" a whole number),
# "{upto}" is "at most" (whole-number features) or "less than".
_PHRASES: dict[str, list[str]] = {
    k: v.split("|")
    for k, v in {
        "recency_days": "no order for more than {a1} days|ordered in the last {b} days"
        "|last ordered {a} to {b} days ago|never ordered|has ordered",
        "tenure_days": "first ordered more than {a1} days ago|first ordered in the last {b} days"
        "|first ordered {a} to {b} days ago|never ordered|has ordered",
        "frequency": "at least {a} orders|{upto} {b} orders|{a} to {b} orders"
        "|order count unknown|order count known",
        "distinct_products": "bought at least {a} different products"
        "|bought {upto} {b} different products|bought {a} to {b} different products"
        "|products unknown|products known",
        "monetary": "spent at least {a}|spent {upto} {b}|spent {a} to {b}"
        "|spend unknown|spend known",
        "avg_order_value": "orders worth at least {a} on average"
        "|orders worth {upto} {b} on average|orders worth {a} to {b} on average"
        "|no purchase|has purchased",
        "return_rate": "returns at least {a} of what they buy|returns {upto} {b} of what they buy"
        "|returns {a} to {b} of what they buy|no purchase|has purchased",
        "mean_days_between_orders": "at least {a} days between orders on average"
        "|{upto} {b} days between orders on average|{a} to {b} days between orders on average"
        "|fewer than 2 orders|at least 2 orders",
    }.items()
}


def _fmt(feature: str, v: float, currency: str | None) -> str:
    if feature in ("monetary", "avg_order_value"):
        return _money(v, currency)
    return _pct(v) if feature == "return_rate" else _num(v)


def _generic(feature: str, lo: float | None, hi: float | None, hi_op: str) -> str:
    up = f" {'≤' if hi_op == '<=' else '<'} {_num(hi)}" if hi is not None else ""
    if lo is None:
        return feature + up
    return f"{_num(lo)} ≤ {feature}{up}" if up else f"{feature} ≥ {_num(lo)}"


def _phrase(feature: str, conds: list[Condition], currency: str | None) -> str:
    """Plain words for the merged conditions of one feature in one rule."""
    ops = {op: v for _, op, v in conds}
    known = _PHRASES.get(feature)
    for i, op in ((3, "is empty"), (4, "is known")):
        if op in ops:
            return known[i] if known else f"{feature} {op}"
    lo = ops.get(">=", ops.get(OR_EMPTY))
    hi_op = "<=" if "<=" in ops else "<"
    hi = ops.get(hi_op)
    if known is None:
        text = _generic(feature, lo, hi, hi_op)
    else:
        a, b = (_fmt(feature, v, currency) if v is not None else "" for v in (lo, hi))
        whole = isinstance(lo, int)
        a1 = _fmt(feature, float(lo) - 1, currency) if whole and lo is not None else a
        if lo is not None and hi is not None:
            text = known[2].format(a=a, b=b)
            if hi_op == "<":
                text = text.replace(" to ", " to less than ")
        elif lo is not None:
            text = known[0].format(a=a, a1=a1)
            if not whole:
                text = text.replace("more than", "at least")
        else:
            text = known[1].format(b=b, upto="at most" if hi_op == "<=" else "less than")
            if hi_op == "<" and " in the last " in text:
                text = text.replace(" in the last", " less than") + " ago"
        for noun in ("orders", "products", "days"):  # "at most 1 orders" -> "... 1 order"
            text = text.replace(f" 1 {noun}", f" 1 {noun[:-1]}")
            text = text.replace(f" 1 different {noun}", f" 1 different {noun[:-1]}")
    if OR_EMPTY in ops:
        text += f" (or {known[3]})" if known else " (or empty)"
    return text


def describe_condition(
    feature: str, op: str, value: float | int | None, currency: str | None = None
) -> str:
    """Plain words for one condition ``(feature, op, value)``.

    ``op`` is one of ``">="``, ``"<="``, ``"<"``, ``"is empty"``, ``"is known"`` and
    ``OR_EMPTY`` (``">= or empty"``: the bound, or no value).

    Examples
    --------
    >>> describe_condition("frequency", ">=", 6)
    'at least 6 orders'
    >>> describe_condition("monetary", ">=", 1200.0, currency="GBP")
    'spent at least £1,200'
    >>> describe_condition("return_rate", "<", 0.05)
    'returns less than 5% of what they buy'
    >>> describe_condition("basket_size", "<=", 3)
    'basket_size ≤ 3'
    """
    return _phrase(feature, [(feature, op, value)], currency)
