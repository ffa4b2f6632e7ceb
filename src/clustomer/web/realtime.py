"""The real-time path with new order lines, from memory: no query, no scratch database.

A score that folds new order lines into a customer's history used to read the customer's
stored lines from the workspace and run the feature SQL on a scratch DuckDB (about 28 ms
a score). :class:`LineBook` instead keeps every stored order line in memory, in numpy
arrays grouped by customer, built once per run and import beside the key-only scores
(:class:`clustomer.web.score_cache.RunScores`). :func:`score_with_lines` then appends the
new lines to the customer's and computes

- the features with :func:`clustomer.features.one_customer.features_of_lines`, the numpy
  twin of ``FEATURE_SQL`` (and the ``products`` group's topic shares with the run's
  product topics);
- the segment and the probabilities with the run's model, read into plain arrays where
  :mod:`clustomer.segment.fast_predict` can (else the estimators, as
  :func:`clustomer.segment.assign.assign_buyers` uses them);
- the value with :func:`clustomer.clv.values.pace_value` on the clean lines.

The answer is the one the scratch path gives (``tests/test_web_realtime.py`` compares
them on four runs with random new lines). A run clustered on ``demographics`` (a missing
attribute takes the population's median) and a workspace of more than
:data:`BOOK_MAX_LINES` lines keep the scratch path.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import pyarrow as pa

from clustomer.errors import ClustomerError
from clustomer.features.one_customer import (
    FEATURE_COLUMNS,
    features_of_lines,
    topic_shares_of_lines,
)
from clustomer.segment.assign import (
    UNKNOWN_COUNTRY,
    check_buyer_features,
    segment_name,
    segment_names,
)
from clustomer.segment.fast_predict import (
    BoostingRows,
    CentroidRows,
    compile_classifier,
    compile_segmenter,
)
from clustomer.store.db import Store
from clustomer.store.lines import CLEAN_LINE
from clustomer.web.answer import (
    ANONYMOUS,
    Favourites,
    NewLine,
    Recommendations,
    favourite,
    new_lines,
    pace_values,
    plain,
    recommendations_of,
    response,
)

if TYPE_CHECKING:
    from clustomer.web.score_cache import RunScores

__all__ = ["BOOK_MAX_LINES", "LineBook", "score_with_lines"]

#: Above this many stored order lines the book is not built (44 bytes a line on the demo
#: workspace, order ids included: 440 MB here): scores with new lines take the scratch
#: path instead.
BOOK_MAX_LINES = 10_000_000
#: The feature groups the book can compute.
BOOK_GROUPS = frozenset({"rfm", "behaviour", "products"})

_PRODUCTS = """
SELECT DISTINCT product_id FROM order_lines WHERE product_id IS NOT NULL ORDER BY product_id
"""
_LINES = f"""
WITH products AS (
    SELECT product_id, CAST(row_number() OVER (ORDER BY product_id) - 1 AS INTEGER) AS code
    FROM (SELECT DISTINCT product_id FROM order_lines WHERE product_id IS NOT NULL)
)
SELECT l.order_id,
       CAST(dense_rank() OVER (PARTITION BY l.customer_key ORDER BY l.order_id) - 1 AS INTEGER)
           AS order_code,
       l.ts, coalesce(p.code, -1) AS product, l.revenue, l.is_return,
       coalesce({CLEAN_LINE}, false) AS clean
FROM order_lines l LEFT JOIN products p USING (product_id)
ORDER BY l.customer_key, l.ts  -- each customer's lines by time, as customer_order_lines
"""
_CUSTOMERS = "SELECT customer_key, count(*) FROM order_lines GROUP BY customer_key ORDER BY 1"


class LineBook:
    """Every stored order line of a workspace, in arrays grouped by customer.

    ``spans[key]`` is the ``(start, stop)`` of a customer's lines in the arrays;
    ``order`` numbers each customer's orders from 0 (``order_id`` holds the ids);
    ``product`` is a code into ``products`` (-1 without a product id). With a run that
    clusters on product topics, ``weight_rows[code]`` is a product's row in ``weights``
    (its last row, an even spread, for products the topics do not know: ``code`` -1
    reaches it too).
    """

    def __init__(
        self,
        spans: dict[str, tuple[int, int]],
        order_id: pa.Array,
        order: np.ndarray,
        ts: np.ndarray,
        product: np.ndarray,
        revenue: np.ndarray,
        is_return: np.ndarray,
        clean: np.ndarray,
        products: dict[str, int],
        countries: dict[str, str | None],
    ) -> None:
        self.spans = spans
        self.order_id = order_id
        #: each line's ``hash(order_id)`` (this process's string hash), to find an order
        self.order_hash = np.empty(len(order_id), dtype=np.int64)
        for at in range(0, len(order_id), 1 << 16):  # in slices: few strings alive at once
            ids = order_id.slice(at, 1 << 16).to_pylist()
            self.order_hash[at : at + len(ids)] = [hash(i) for i in ids]
        self.order = order
        self.ts = ts
        self.product = product
        self.revenue = revenue
        self.is_return = is_return
        self.clean = clean
        self.products = products
        self.countries = countries
        self.weights: np.ndarray | None = None
        self.weight_rows: np.ndarray | None = None
        self.topic_columns: list[str] = []
        #: the run's segmenter and classifier as plain arrays (None: use the estimator)
        self.centroids: CentroidRows | None = None
        self.boosting: BoostingRows | None = None
        #: the run's segment names by id, and the classifier's classes as names
        self.names: dict[int, str] = {}
        self.class_names: list[str] = []

    @classmethod
    def build(cls, store: Store, model: dict[str, Any]) -> LineBook | None:
        """The book of ``store``'s lines for ``model`` (None: the model needs the scratch
        path, or the workspace is too large to hold)."""
        groups = set(model.get("feature_groups") or ["rfm", "behaviour"])
        if model.get("segmenter") is None or not groups <= BOOK_GROUPS:
            return None
        counts = store.rows(_CUSTOMERS)
        total = sum(int(n) for _, n in counts)
        if total == 0 or total > BOOK_MAX_LINES:
            return None
        spans: dict[str, tuple[int, int]] = {}
        at = 0
        for key, n in counts:
            spans[str(key)] = (at, at + int(n))
            at += int(n)
        table = store.con.sql(_LINES).to_arrow_table()
        products = {str(p): i for i, (p,) in enumerate(store.rows(_PRODUCTS))}
        countries = {
            str(k): c for k, c in store.rows("SELECT customer_key, country FROM customers")
        }

        def column(name: str, dtype: Any) -> np.ndarray:
            return np.asarray(table.column(name).to_numpy(), dtype=dtype)

        book = cls(
            spans,
            table.column("order_id").combine_chunks(),
            column("order_code", np.int32),
            column("ts", "datetime64[us]"),
            column("product", np.int32),
            column("revenue", np.float64),
            column("is_return", bool),
            column("clean", bool),
            products,
            countries,
        )
        if "products" in groups:
            if model.get("product_weights") is None:  # cannot happen: the run stores them
                return None
            book._topics(model)
        book.centroids = compile_segmenter(model["segmenter"])
        book.names = segment_names(model)
        if not hasattr(model["segmenter"], "predict_proba"):  # gmm gives its own
            book.boosting = compile_classifier(model.get("classifier"))
            if book.boosting is not None:
                classes = model["classifier"].classes_
                book.class_names = [segment_name(book.names, int(c)) for c in classes]
        return book

    def _topics(self, model: dict[str, Any]) -> None:
        weights = model["product_weights"]
        cols = [c for c in weights.columns if c.startswith("topic_")]
        k = len(cols)
        self.weights = np.vstack(
            [weights[cols].to_numpy(dtype=np.float64), np.full((1, k), 1.0 / k)]
        )
        row_of = {str(p): i for i, p in enumerate(weights["product_id"])}
        unknown = len(weights)
        # one more entry at the end: code -1 (no product id) is the unknown row too
        rows = [row_of.get(p, unknown) for p in self.products] + [unknown]
        self.weight_rows = np.asarray(rows, dtype=np.int64)
        self.topic_columns = cols

    def find_order(self, start: int, stop: int, order_id: str) -> int | None:
        """The position of a line of ``order_id`` among ``start:stop`` (one customer's
        lines), or None. Compared by hash first, then by the id itself."""
        hits = np.flatnonzero(self.order_hash[start:stop] == hash(order_id))
        for at in hits.tolist():
            if self.order_id[start + at].as_py() == order_id:
                return start + at
        return None

    def __len__(self) -> int:
        return len(self.ts)


def _place(
    book: LineBook, model: dict[str, Any], X: np.ndarray, categories: np.ndarray | None
) -> tuple[int, dict[str, float] | None, str | None]:
    """Segment id, probabilities (by segment name) and their source of one row."""
    from clustomer.segment.assign import assign_buyers, shown_ids
    from clustomer.web.score_cache import _probabilities

    if book.centroids is not None:
        seg_id = int(shown_ids(model, book.centroids.predict(X))[0])
    else:
        seg_id = int(assign_buyers(model, X, categories)[0][0])
    if seg_id < 0:
        return seg_id, None, None
    if book.boosting is not None:
        proba = book.boosting.predict_proba(X)[0]
        return seg_id, dict(zip(book.class_names, map(float, proba), strict=True)), "classifier"
    found, source = _probabilities(model, X)
    return seg_id, (None if found is None else found[0]), source


class _Lines(NamedTuple):
    """One customer's stored lines and the new ones, as :func:`features_of_lines` takes
    them (``clean``: :data:`~clustomer.store.lines.CLEAN_LINE`)."""

    order: np.ndarray
    ts: np.ndarray
    product: np.ndarray
    revenue: np.ndarray
    is_return: np.ndarray
    clean: np.ndarray


def _with_new(book: LineBook, start: int, stop: int, new: list[NewLine]) -> _Lines:
    """The book's lines ``start:stop`` (one customer's) followed by ``new``."""
    # a new line of a stored order (a return, say) joins that order; others are new orders
    stored_order = book.order[start:stop]
    n_stored = int(stored_order.max()) + 1 if stop > start else 0
    codes: dict[str, int] = {}
    for order_id in dict.fromkeys(line[0] for line in new):
        at = book.find_order(start, stop, order_id)
        codes[order_id] = n_stored + len(codes) if at is None else int(book.order[at])
    new_order = [codes[line[0]] for line in new]
    # a product the book does not know gets a code past the book's (one per product id)
    unknown: dict[str, int] = {}
    n_products = len(book.products)
    new_product = [
        -1 if p is None else book.products.get(p, n_products + unknown.setdefault(p, len(unknown)))
        for _, _, p, *_ in new
    ]
    # CLEAN_LINE, for the new lines: no return, revenue > 0, no quantity or price <= 0
    new_clean = [
        not ret and rev > 0 and (q is None or q > 0) and (p is None or p > 0)
        for _, _, _, q, p, rev, ret in new
    ]

    def joined(stored: np.ndarray, added: list[Any], dtype: Any) -> np.ndarray:
        return np.concatenate([stored[start:stop], np.array(added, dtype)])

    return _Lines(
        np.concatenate([stored_order, np.array(new_order, np.int64)]),
        joined(book.ts, [line[1] for line in new], "datetime64[us]"),
        joined(book.product, new_product, np.int64),
        joined(book.revenue, [line[5] for line in new], np.float64),
        joined(book.is_return, [line[6] for line in new], bool),
        joined(book.clean, new_clean, bool),
    )


def _feature_row(
    book: LineBook, key: str | None, lines: _Lines, cutoff: datetime
) -> dict[str, Any]:
    """The customer's feature row: ``FEATURE_SQL``'s columns and the topic shares."""
    feats = features_of_lines(
        lines.order, lines.ts, lines.product, lines.revenue, lines.is_return, cutoff
    )
    if feats is None:  # the cutoff is after every line: cannot happen
        raise ClustomerError("no order line before the as-of date")
    row: dict[str, Any] = dict(feats)
    row["country"] = book.countries.get(key) if key is not None else None
    if book.weights is not None and book.weight_rows is not None:
        # a product unknown to the book (code past its size) is unknown to the topics too
        known = lines.product < len(book.products)
        rows = np.where(
            known, book.weight_rows[np.where(known, lines.product, -1)], len(book.weights) - 1
        )
        shares = topic_shares_of_lines(rows, lines.revenue, book.weights)
        row.update(zip(book.topic_columns, map(float, shares), strict=True))
    return row


def score_with_lines(
    scores: RunScores,
    model: dict[str, Any],
    key: str | None,
    orders: Sequence[dict[str, Any]],
    recommendations: Recommendations = None,
    top: int = 5,
    favourites: Favourites = None,
) -> dict[str, Any]:
    """The score of ``key`` (None: a new customer) with ``orders`` folded in, from
    ``scores.book`` alone: the same answer as :func:`clustomer.web.scoring.score_customer`.

    Raises
    ------
    ClustomerError
        A customer with purchases lacks a feature the model needs.
    """
    from clustomer.web.score_cache import _VALUE_FIELDS, _midnight_after, one_thread

    book = scores.book
    if book is None:
        raise ClustomerError("these scores have no line book")
    span = book.spans.get(key) if key is not None else None
    start, stop = span if span is not None else (0, 0)
    new = new_lines(orders)
    lines = _with_new(book, start, stop, new)
    cutoff = max(scores.as_of, _midnight_after(lines.ts.max()))
    row = _feature_row(book, key, lines, cutoff)

    seg_id, probs, source = -1, None, None
    if row["frequency"] > 0:
        columns = list(model["feature_columns"])
        X = np.array([[np.nan if row[c] is None else row[c] for c in columns]], np.float64)
        check_buyer_features(columns, X)
        categories = None
        if getattr(model["segmenter"], "categories_", None) is not None:
            categories = np.array([row["country"] or UNKNOWN_COUNTRY], dtype=object)
        if book.centroids is not None and book.boosting is not None:
            seg_id, probs, source = _place(book, model, X, categories)
        else:
            with one_thread():  # a scikit-learn estimator: see one_thread
                seg_id, probs, source = _place(book, model, X, categories)
    values, basis = pace_values(
        lines.ts[lines.clean].astype("datetime64[D]"),
        lines.revenue[lines.clean],
        cutoff,
        len(scores.known),
    )
    fields = {
        "as_of": cutoff.date().isoformat(),
        "segment_id": seg_id,
        "segment_name": segment_name(book.names, seg_id),
        "probabilities": probs,
        "probability_source": source if probs is not None else None,
        **{f: plain(values.get(f)) for f in _VALUE_FIELDS},
        "features": {k: plain(row[k]) for k in (*FEATURE_COLUMNS, "country", *book.topic_columns)},
    }
    recs = recommendations_of(recommendations, top, bool(new), favourite(favourites, fields))
    name = key if key is not None else ANONYMOUS
    return response(scores, name, span is not None, len(new), fields, basis, recs)
