"""One-row predictions of a stored run's models in plain numpy, for the real-time path.

Each request of the scoring API places one customer. scikit-learn validates its input
on every call (0.1–0.3 ms each), and a ``HistGradientBoostingClassifier`` walks its trees
one at a time (200 iterations × one tree per segment): about 1.8 ms for one row on this
project's 2-core machine. The fitted models are therefore read once into plain arrays:

- :class:`BoostingRows`: every tree of the segment classifier in one set of node arrays,
  walked for all trees at once, then the classifier's link (softmax, or the logistic
  function for two segments);
- :class:`CentroidRows`: the segmenter's scaling (``signed_log1p``, then the fitted
  ``StandardScaler``) and the nearest centre, for the centroid methods.

Both give what the estimators' own ``predict_proba`` / ``predict`` give (the tests compare
them on random rows, NaN included); :func:`compile_classifier` and
:func:`compile_segmenter` return None for a model they cannot read, and the caller uses
the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import StandardScaler

from clustomer.segment.methods import nearest_center_d2

__all__ = ["BoostingRows", "CentroidRows", "compile_classifier", "compile_segmenter"]


#: All 64 leaves of a tree still possible.
_ALL = (1 << 64) - 1


def _in_order_leaves(nodes: np.ndarray) -> list[int]:
    """A tree's leaf nodes from left to right."""
    out: list[int] = []
    stack = [0]
    while stack:
        node = stack.pop()
        if nodes["is_leaf"][node]:
            out.append(node)
        else:
            stack.append(int(nodes["right"][node]))
            stack.append(int(nodes["left"][node]))
    return out


def _left_leaf_ranges(nodes: np.ndarray, leaves: list[int]) -> dict[int, tuple[int, int]]:
    """Each split node's left subtree as a range of leaf numbers (:func:`_in_order_leaves`)."""
    number = {node: i for i, node in enumerate(leaves)}
    span: dict[int, tuple[int, int]] = {}  # every node's leaf range

    def walk(node: int) -> tuple[int, int]:
        if nodes["is_leaf"][node]:
            span[node] = (number[node], number[node] + 1)
        else:
            lo = walk(int(nodes["left"][node]))[0]
            hi = walk(int(nodes["right"][node]))[1]
            span[node] = (lo, hi)
        return span[node]

    walk(0)
    return {node: span[int(nodes["left"][node])] for node in span if not nodes["is_leaf"][node]}


class BoostingRows:
    """A fitted ``HistGradientBoostingClassifier`` as flat node arrays.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    >>> hgb = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(X, y)
    >>> fast = BoostingRows(hgb)
    >>> bool(np.allclose(fast.predict_proba(X[:1]), hgb.predict_proba(X[:1]), atol=1e-12))
    True
    """

    def __init__(self, model: HistGradientBoostingClassifier) -> None:
        trees = [(k, p.nodes) for it in model._predictors for k, p in enumerate(it)]
        feature: list[int] = []
        threshold: list[float] = []
        missing_left: list[bool] = []
        mask: list[int] = []
        starts: list[int] = []
        leaf_values: list[float] = []
        leaf_starts: list[int] = []
        for _, nodes in trees:
            if bool(nodes["is_categorical"].any()):
                raise ValueError("categorical splits are not supported")
            leaves = _in_order_leaves(nodes)
            if len(leaves) > 64:
                raise ValueError("a tree with more than 64 leaves")
            starts.append(len(feature))
            leaf_starts.append(len(leaf_values))
            leaf_values.extend(float(nodes["value"][i]) for i in leaves)
            # every tree starts with a split that never applies: no tree is empty below
            feature.append(0)
            threshold.append(np.inf)
            missing_left.append(True)
            mask.append(_ALL)
            for node, (lo, hi) in _left_leaf_ranges(nodes, leaves).items():
                feature.append(int(nodes["feature_idx"][node]))
                threshold.append(float(nodes["num_threshold"][node]))
                missing_left.append(bool(nodes["missing_go_to_left"][node]))
                mask.append(_ALL & ~(((1 << (hi - lo)) - 1) << lo))
        self.feature = np.array(feature, dtype=np.int64)
        self.threshold = np.array(threshold, dtype=np.float64)
        self.missing_left = np.array(missing_left, dtype=bool)
        self.mask = np.array(mask, dtype=np.uint64)
        self.starts = np.array(starts, dtype=np.int64)
        self.leaf_values = np.array(leaf_values, dtype=np.float64)
        self.leaf_starts = np.array(leaf_starts, dtype=np.int64)
        self.tree_class = np.array([k for k, _ in trees], dtype=np.int64)
        self.baseline = np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1)
        self.n_outputs = int(model.n_trees_per_iteration_)

    def raw(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """The raw score of each output (the sum of the trees' leaves) for one row.

        Every split of every tree is tested at once; a split the row fails (it goes
        right) rules out the leaves on its left. A tree's leaves are numbered left to
        right, so the row's leaf is the lowest one left (Lucchese et al., "QuickScorer",
        SIGIR 2015).
        """
        v = x[self.feature]
        go_left = v <= self.threshold  # NaN <= t is False: a missing value goes its own way
        if np.isnan(v).any():
            go_left = np.where(np.isnan(v), self.missing_left, go_left)
        bits = np.bitwise_and.reduceat(np.where(go_left, _ALL, self.mask), self.starts)
        lowest = bits & (~bits + np.uint64(1))
        leaf = np.log2(lowest.astype(np.float64)).astype(np.int64)  # exact: a power of 2
        values = self.leaf_values[self.leaf_starts + leaf]
        sums = np.bincount(self.tree_class, weights=values, minlength=self.n_outputs)
        return np.asarray(self.baseline + sums, dtype=np.float64)

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Class probabilities of each row of ``X`` (shape ``(n, n_classes)``)."""
        out = []
        for x in np.asarray(X, dtype=np.float64):
            raw = self.raw(x)
            if self.n_outputs == 1:  # two classes: the logistic function
                p = 1.0 / (1.0 + np.exp(-raw[0]))
                out.append(np.array([1.0 - p, p]))
            else:
                e = np.exp(raw - raw.max())
                out.append(e / e.sum())
        return np.vstack(out)


class CentroidRows:
    """A fitted centroid segmenter's scaling and centres.

    Examples
    --------
    >>> from clustomer.segment.segmenter import CustomerSegmenter
    >>> X = [[1, 10.0], [2, 12.0], [1, 11.0], [40, 900.0], [45, 1000.0]]
    >>> seg = CustomerSegmenter().fit(X)
    >>> CentroidRows(seg).predict(np.array([[50, 800.0], [1, 9.0]])).tolist()
    [1, 0]
    """

    def __init__(self, segmenter: Any) -> None:
        if getattr(segmenter, "method_model_", None) is not None:
            raise ValueError("not a centroid method")
        scaler = segmenter.scaler_
        if type(scaler) is not StandardScaler:
            raise ValueError("not a StandardScaler")
        self.log = bool(segmenter.log_transform)
        self.mean = None if scaler.mean_ is None else np.asarray(scaler.mean_, np.float64)
        self.scale = None if scaler.scale_ is None else np.asarray(scaler.scale_, np.float64)
        self.centers = np.asarray(segmenter.cluster_centers_, dtype=np.float64)

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.intp]:
        """The nearest centre of each row (the segmenter's ``predict``)."""
        from clustomer.segment.segmenter import signed_log1p

        Z = np.array(X, dtype=np.float64)  # a copy: StandardScaler works in place on one
        if self.log:
            Z = signed_log1p(Z)
        if self.mean is not None:
            Z -= self.mean
        if self.scale is not None:
            Z /= self.scale
        labels, _ = nearest_center_d2(Z, self.centers)
        return labels


def compile_classifier(classifier: Any) -> BoostingRows | None:
    """The segment classifier's boosting as :class:`BoostingRows` (None: not readable)."""
    inner = getattr(classifier, "model_", None)
    if not isinstance(inner, HistGradientBoostingClassifier):
        return None
    try:
        return BoostingRows(inner)
    except (AttributeError, KeyError, ValueError):  # another scikit-learn's internals
        return None


def compile_segmenter(segmenter: Any) -> CentroidRows | None:
    """The segmenter as :class:`CentroidRows` (None: not a centroid method)."""
    try:
        return CentroidRows(segmenter)
    except (AttributeError, ValueError):
        return None
