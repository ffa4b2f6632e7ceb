"""Purchases as integer codes, and what a cutoff day knows about them.

:func:`encode` turns order lines (any frame with a customer, a product and a day; see
:func:`clustomer.store.lines.clean_lines`) into sorted integer arrays: one row per
customer, product and day, products that match the exclusion rules left out. Customers
and products are numbered in sorted order of their keys, so every tie later on is broken
the same way on every run.

:class:`History` is everything the recommenders read at one cutoff day: per customer
and product the purchase days, first and last day and quantity; per customer the
purchase days and last day; per product its buyers over several windows. It is built
from the encoded rows on or before the cutoff with no Python loop over customers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from clustomer.errors import ClustomerError
from clustomer.recommend.exclusions import excluded

__all__ = ["POP_WINDOWS", "Encoded", "History", "bought_between", "encode", "history"]

#: Popularity windows in days (0 = all history before the cutoff).
POP_WINDOWS = (14, 28, 56, 0)


@dataclass
class Encoded:
    """Purchases as codes: one row per customer, product and day, sorted that way.

    Attributes
    ----------
    customers, items, names : ndarray
        Customer keys, product ids and product names (str), indexed by code.
    u, i, d : ndarray
        Customer code, product code and day number (days since 1970-01-01); int32 when
        they fit. Multiply in int64 (``u.astype(np.int64) * n_items + i``).
    q : ndarray
        Quantity bought that day (float32; 1 per line where the shop exports none).
    excluded_items : int
        Products left out by the exclusion rules.
    """

    customers: np.ndarray
    items: np.ndarray
    names: np.ndarray
    u: np.ndarray
    i: np.ndarray
    d: np.ndarray
    q: np.ndarray
    excluded_items: int = 0
    _user_days: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.customers)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def user_days(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (customer, day) pairs, sorted: the customer-days of the value models."""
        if self._user_days is None:
            d0 = int(self.d.min()) if len(self.d) else 0
            span = int(self.d.max()) - d0 + 1 if len(self.d) else 1
            key = np.unique(self.u.astype(np.int64) * span + (self.d - d0))
            self._user_days = (key // span, key % span + d0)
        return self._user_days


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int32, −1 for missing) and the sorted distinct values as str (a category
    without rows may be among them)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = np.asarray(values.cat.categories.astype(str), dtype=object)
        order = np.argsort(cats, kind="stable")
        rank = np.empty(len(cats) + 1, dtype=np.int32)
        rank[order] = np.arange(len(cats), dtype=np.int32)
        rank[-1] = -1  # code −1 (missing) indexes the last slot
        return rank[values.cat.codes.to_numpy()], cats[order]
    codes, uniques = pd.factorize(values, sort=True)
    return codes.astype(np.int32), np.asarray(pd.Index(uniques).astype(str), dtype=object)


def _days(values: pd.Series) -> np.ndarray:
    """Day numbers (int64; the minimum int64 for a missing day)."""
    stamp = pd.to_datetime(values)
    if getattr(stamp.dt, "tz", None) is not None:
        stamp = stamp.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamp.to_numpy().astype("datetime64[D]").view(np.int64)


def _products(lines: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line its product code (−1: neither id nor name), the products' ids (sorted)
    and their names (the name of most lines; ties: the first in sort order)."""
    n = len(lines)
    empty = pd.Series(pd.Categorical([None] * n, categories=[]), index=lines.index)
    id_codes, ids = _codes(lines["product_id"] if "product_id" in lines.columns else empty)
    nm_codes, nms = _codes(lines["product_name"] if "product_name" in lines.columns else empty)
    # the distinct (id, name) pairs: a few thousand, not lines
    width = len(nms) + 1
    pair_codes, pairs = pd.factorize((id_codes.astype(np.int64) + 1) * width + (nm_codes + 1))
    del id_codes, nm_codes
    p_id, p_nm = pairs // width - 1, pairs % width - 1
    p_key = np.empty(len(pairs), dtype=object)
    has_id, has_nm = p_id >= 0, p_nm >= 0
    p_key[has_id] = ids[p_id[has_id]]
    by_name = ~has_id & has_nm
    p_key[by_name] = nms[p_nm[by_name]]
    known = has_id | has_nm
    item_codes, uniq = pd.factorize(pd.Series(p_key[known], dtype=object), sort=True)
    items = np.asarray(uniq, dtype=object)
    p_item = np.full(len(pairs) + 1, -1, dtype=np.int32)  # + the slot of code −1
    p_item[:-1][known] = item_codes
    counts = np.bincount(pair_codes[pair_codes >= 0], minlength=len(pairs))
    order = np.lexsort((p_nm, -counts, p_nm < 0, p_item[:-1]))
    first = order[np.r_[True, p_item[order][1:] != p_item[order][:-1]]]
    first = first[p_item[first] >= 0]
    names = items.copy()
    has_name = p_nm[first] >= 0
    names[p_item[first][has_name]] = nms[p_nm[first][has_name]]
    return p_item[pair_codes], items, names


def encode(lines: pd.DataFrame, exclude: Iterable[str] | None = None) -> Encoded:
    """Order lines → :class:`Encoded` (excluded products and unusable rows dropped).

    Parameters
    ----------
    lines : DataFrame
        ``customer_key``; ``product_id`` and/or ``product_name`` (a row without an id is
        keyed by its name); ``day`` (or ``ts``); optional ``quantity``.
    exclude : iterable of str, optional
        Exclusion rules (:data:`~clustomer.recommend.exclusions.DEFAULT_EXCLUDE` if None).

    Examples
    --------
    >>> lines = pd.DataFrame({"customer_key": ["b", "a", "a"], "product_id": ["P2", "P1", "POST"],
    ...     "day": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-01"])})
    >>> enc = encode(lines)
    >>> list(enc.customers), list(enc.items), enc.u.tolist(), enc.i.tolist(), enc.excluded_items
    (['a', 'b'], ['P1', 'P2'], [0, 1], [0, 1], 1)
    """
    if "customer_key" not in lines.columns:
        raise ClustomerError("the order lines lack the column customer_key")
    if "product_id" not in lines.columns and "product_name" not in lines.columns:
        raise ClustomerError("the order lines have neither product_id nor product_name")
    day_col = "day" if "day" in lines.columns else "ts" if "ts" in lines.columns else None
    if day_col is None:
        raise ClustomerError("the order lines have neither day nor ts")
    line_item, items, names = _products(lines)
    drop_item = excluded(items, names, exclude)
    keep_item = ~drop_item
    n_items = max(int(keep_item.sum()), 1)
    new_code = np.r_[np.where(keep_item, np.cumsum(keep_item) - 1, -1), -1].astype(np.int32)
    it = new_code[line_item]
    del line_item
    cu, customers = _codes(lines["customer_key"])
    days = _days(lines[day_col])
    ok = (it >= 0) & (cu >= 0) & (days != np.iinfo(np.int64).min)
    if "quantity" in lines.columns:
        q = pd.to_numeric(lines["quantity"]).to_numpy(dtype=np.float32, na_value=np.nan)
        q[~(np.isfinite(q) & (q > 0))] = 1.0
    else:
        q = np.ones(len(lines), dtype=np.float32)
    if not ok.all():
        it, cu, days, q = it[ok], cu[ok], days[ok], q[ok]
    del ok
    d0 = int(days.min()) if len(days) else 0
    span = int(days.max()) - d0 + 1 if len(days) else 1
    d = (days - d0).astype(np.int32)
    del days
    # customers with rows, numbered in key order
    used = np.bincount(cu, minlength=len(customers)) > 0
    cu = (np.cumsum(used, dtype=np.int32) - 1)[cu]
    customers = customers[used]
    # one row per customer, product and day, sorted that way
    key = cu.astype(np.int64)
    key *= n_items
    key += it
    key *= span
    key += d
    order = np.argsort(key, kind="stable")
    key = key[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else order
    del key
    q = q[order]
    if len(start) < len(order):
        q = np.add.reduceat(q, start, dtype=np.float64).astype(np.float32)
    rows = order[start]
    return Encoded(
        customers=np.asarray(customers, dtype=object),
        items=items[keep_item],
        names=names[keep_item],
        u=cu[rows],
        i=it[rows],
        d=_small(d[rows].astype(np.int64) + d0),
        q=q,
        excluded_items=int(drop_item.sum()),
    )


def _small(codes: np.ndarray) -> np.ndarray:
    """int32 when the values fit (half the memory of 10 million rows), else int64."""
    if len(codes) == 0 or (codes.min() >= -(2**31) and codes.max() < 2**31):
        return codes.astype(np.int32)
    return codes.astype(np.int64)


@dataclass
class History:
    """What is known on a cutoff day (its purchases count).

    Pairs (customer, product) are sorted by customer, then product; ``ptr`` is their
    row pointer per customer (CSR layout).
    """

    t: int
    n_users: int
    n_items: int
    pu: np.ndarray
    pi: np.ndarray
    cnt: np.ndarray
    first: np.ndarray
    last: np.ndarray
    qty: np.ndarray
    ptr: np.ndarray
    user_days: np.ndarray
    user_last: np.ndarray
    buyers: dict[int, np.ndarray]
    repeat_rate: np.ndarray
    item_cycle: np.ndarray

    def matrix(self) -> sparse.csr_matrix:
        """The binary customer × product matrix."""
        data = np.ones(len(self.pu), dtype=np.float32)
        return sparse.csr_matrix((data, self.pi, self.ptr), shape=(self.n_users, self.n_items))

    @property
    def user_items(self) -> np.ndarray:
        return np.diff(self.ptr)


def history(enc: Encoded, t: int) -> History:
    """The :class:`History` of the encoded purchases on or before day number ``t``.

    >>> lines = pd.DataFrame({"customer_key": ["a", "a", "a", "b"],
    ...     "product_id": ["P1", "P1", "P2", "P1"],
    ...     "day": pd.to_datetime(["2024-01-01", "2024-01-15", "2024-01-15", "2024-03-01"])})
    >>> enc = encode(lines)
    >>> h = history(enc, int(np.datetime64("2024-01-31", "D").astype(int)))
    >>> h.cnt.tolist(), h.user_days.tolist(), h.buyers[0].tolist(), h.repeat_rate.tolist()
    ([2, 1], [2, 0], [1, 1], [1.0, 0.0])
    """
    n_users, n_items = enc.n_users, enc.n_items
    m = enc.d <= t
    if m.all():
        u, i, d, q = enc.u, enc.i, enc.d, enc.q
    else:
        u, i, d, q = enc.u[m], enc.i[m], enc.d[m], enc.q[m]
    del m
    key = u.astype(np.int64)
    key *= n_items
    key += i
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, int)
    del key
    end = np.r_[start[1:], len(u)] - 1 if len(u) else np.zeros(0, int)
    # customer codes int64 (keys are customer × n_items + product); the rest int32
    pu, pi = u[start].astype(np.int64), i[start].astype(np.int32)
    cnt = (end - start + 1).astype(np.int32)
    qty = np.add.reduceat(q, start, dtype=np.float64).astype(np.float32) if len(u) else np.zeros(0)
    first, last = d[start].astype(np.int32), d[end].astype(np.int32)
    del u, i, d, q, start, end
    ptr = np.r_[0, np.cumsum(np.bincount(pu, minlength=n_users))]
    du, dd = enc.user_days()  # int64
    dm = dd <= t
    user_days = np.bincount(du[dm], minlength=n_users)
    user_last = np.full(n_users, -(10**9), dtype=np.int64)
    np.maximum.at(user_last, du[dm], dd[dm])
    buyers = {}
    total = np.bincount(pi, minlength=n_items)
    for w in POP_WINDOWS:
        buyers[w] = total if w == 0 else np.bincount(pi[last > t - w], minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        rr = np.where(total > 0, np.bincount(pi[cnt >= 2], minlength=n_items) / total, 0.0)
    # the product's cycle: mean days between purchases of its repeat buyers
    rep = cnt >= 2
    gap = (last - first) / np.maximum(cnt - 1, 1)
    gap_sum = np.bincount(pi[rep], weights=gap[rep], minlength=n_items)
    n_rep = np.bincount(pi[rep], minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        cycle = np.where(n_rep > 0, gap_sum / np.maximum(n_rep, 1), 365.0)
    return History(
        t=int(t),
        n_users=n_users,
        n_items=n_items,
        pu=pu,
        pi=pi,
        cnt=cnt,
        first=first,
        last=last,
        qty=qty,
        ptr=ptr,
        user_days=user_days,
        user_last=user_last,
        buyers=buyers,
        repeat_rate=rr,
        item_cycle=np.log1p(cycle),
    )


def bought_between(enc: Encoded, after: int, until: int) -> np.ndarray:
    """Sorted distinct keys ``u * n_items + i`` bought on days in (after, until]."""
    m = (enc.d > after) & (enc.d <= until)
    return np.unique(enc.u[m].astype(np.int64) * enc.n_items + enc.i[m])
