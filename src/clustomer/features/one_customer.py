"""One customer's features from their order lines, in numpy: the twin of ``FEATURE_SQL``.

The real-time scoring path (:mod:`clustomer.web.realtime`) folds a few new order lines
into one customer's stored ones and needs that customer's features in well under a
millisecond; running :data:`clustomer.features.customer.FEATURE_SQL` on a scratch
database costs about ten. :func:`features_of_lines` computes the same columns with the
same definitions (see :mod:`clustomer.features.customer`) on plain arrays, and
:func:`topic_shares_of_lines` the ``products`` group's topic shares
(:func:`clustomer.features.products.topic_shares`). The tests check both against the SQL
and the batch function on random lines (``tests/test_one_customer.py``); the two may
differ in the last bits of a sum, which DuckDB adds up in another order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clustomer.features.customer import FEATURE_COLUMNS

__all__ = ["FEATURE_COLUMNS", "features_of_lines", "topic_shares_of_lines"]

_US_PER_DAY = 86_400_000_000


def features_of_lines(
    order: NDArray[np.integer[Any]],
    ts: NDArray[np.datetime64],
    product: NDArray[np.integer[Any]],
    revenue: NDArray[np.float64],
    is_return: NDArray[np.bool_],
    as_of: datetime,
) -> dict[str, float | int | None] | None:
    """The ``FEATURE_SQL`` columns (but ``customer_key`` and ``country``) of one customer.

    Parameters
    ----------
    order : ndarray of int
        Each line's order, as a code: lines of one order id share a code.
    ts : ndarray of datetime64
        Each line's time (UTC, naive).
    product : ndarray of int
        Each line's product as a code; negative for a line without a product id.
    revenue : ndarray of float
        Each line's revenue (negative for a return).
    is_return : ndarray of bool
        Whether each line is a return.
    as_of : datetime
        Only lines strictly before this moment count.

    Returns
    -------
    dict or None
        The columns of :data:`FEATURE_COLUMNS` (None where the SQL gives NULL); None when
        the customer has no line before ``as_of`` (the SQL gives them no row).

    Examples
    --------
    >>> import numpy as np
    >>> from datetime import datetime
    >>> f = features_of_lines(
    ...     np.array([0, 1, 2]),
    ...     np.array(["2024-01-01", "2024-01-11", "2024-01-12"], dtype="datetime64[us]"),
    ...     np.array([0, 1, 1]), np.array([10.0, 4.0, -4.0]),
    ...     np.array([False, False, True]), datetime(2024, 1, 13))
    >>> f["frequency"], f["monetary"], f["recency_days"], f["mean_days_between_orders"]
    (2, 10.0, 2.0, 10.0)
    """
    stamp = np.asarray(ts, dtype="datetime64[us]")
    keep = stamp < np.datetime64(as_of, "us")
    if not keep.any():
        return None
    if not keep.all():
        order, stamp, product = order[keep], stamp[keep], product[keep]
        revenue, is_return = revenue[keep], is_return[keep]
    revenue = np.asarray(revenue, dtype=np.float64)
    ret = np.asarray(is_return, dtype=bool)
    # orders: net value and first time of each. Small non-negative codes index the
    # orders as they are (a code no line has is an order of net 0: never a purchase);
    # others are renumbered first
    code = np.asarray(order)
    if code.min() < 0 or code.max() > 4 * code.size + 64:
        code = np.unique(code, return_inverse=True)[1].reshape(-1)
    n_orders = int(code.max()) + 1
    net = np.bincount(code, weights=revenue, minlength=n_orders)
    first = np.full(n_orders, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, code, stamp.astype(np.int64))
    bought = float(revenue[~ret].sum())
    returned = -float(revenue[ret].sum())
    purchase = net > 0
    frequency = int(purchase.sum())
    monetary = float(net.sum())
    day_of = int(np.datetime64(as_of, "D").astype(np.int64))
    recency = tenure = aov = gap = None
    if frequency > 0:
        times = first[purchase]
        lo, hi = int(times.min()), int(times.max())
        recency = float(day_of - hi // _US_PER_DAY)
        tenure = float(day_of - lo // _US_PER_DAY)
        aov = float(net[purchase].sum()) / frequency
        if frequency > 1:
            gap = (hi - lo) / 1e6 / 86_400.0 / (frequency - 1)
    rate = min(1.0, max(0.0, returned / bought)) if bought > 0 else 0.0
    codes = np.asarray(product)[~ret]
    codes = codes[codes >= 0]
    if codes.size and codes.max() < 1 << 20:  # a product count, not a sort
        distinct = int(np.count_nonzero(np.bincount(codes)))
    else:
        distinct = int(np.unique(codes).size)
    return {
        "recency_days": recency,
        "frequency": frequency,
        "monetary": monetary,
        "tenure_days": tenure,
        "avg_order_value": aov,
        "mean_days_between_orders": gap,
        "return_rate": rate,
        "distinct_products": distinct,
    }


def topic_shares_of_lines(
    weight_rows: NDArray[np.integer[Any]],
    revenue: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> NDArray[np.float64]:
    """One customer's share of spend per product topic (the ``products`` group).

    The one-customer twin of :func:`clustomer.features.products.topic_shares`: lines with
    revenue > 0 count; ``weights`` holds each known product's topic weights, one row per
    product, and a last row for a product the topics do not know (spread evenly).

    Parameters
    ----------
    weight_rows : ndarray of int
        Each line's row in ``weights``.
    revenue : ndarray of float
        Each line's revenue.
    weights : ndarray of shape (n_products + 1, n_topics)

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> topic_shares_of_lines(np.array([0, 1, 2]), np.array([3.0, 1.0, -2.0]), w).tolist()
    [0.75, 0.25]
    """
    spend = np.asarray(revenue, dtype=np.float64)
    mask = spend > 0
    # as topic_shares does it: spend per product first, then the products in order
    # (cumsum adds them one by one, as scipy's sparse product does): the same bits
    per_row = np.bincount(
        np.asarray(weight_rows)[mask], weights=spend[mask], minlength=len(weights)
    )
    used = np.flatnonzero(per_row)
    if used.size == 0:
        return np.zeros(weights.shape[1])
    topic = np.cumsum(per_row[used, None] * weights[used], axis=0)[-1]
    total = topic.sum()
    if total <= 0:
        return np.zeros(weights.shape[1])
    return np.asarray(topic / total, dtype=np.float64)
