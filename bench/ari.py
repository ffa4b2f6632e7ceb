"""Adjusted Rand index of every method against the true labels of scikit-learn's
bundled labelled data sets (iris, wine, breast cancer, digits; loaded offline).

    .venv/bin/python bench/ari.py            # prints a Markdown table for docs/methods.md

Features are standardised (no log transform: these are measurements, not spend). Methods
that need k are given the true number of classes; hdbscan and dbscan find their own, and
their noise points count as one more cluster. kprototypes needs a categorical feature and
these data sets have none, so it is not scored.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from sklearn import datasets
from sklearn.metrics import adjusted_rand_score

from clustomer.segment.methods import METHOD_NAMES
from clustomer.segment.segmenter import CustomerSegmenter

DATASETS = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def score(method: str, X: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float, int]:
    k = int(len(np.unique(y)))
    needs_k = method not in ("hdbscan", "dbscan")
    t0 = time.perf_counter()
    model = CustomerSegmenter(
        n_clusters=k if needs_k else None, log_transform=False, random_state=seed, method=method
    ).fit(X)
    seconds = time.perf_counter() - t0
    return adjusted_rand_score(y, model.labels_), seconds, int(model.n_clusters_)


def main() -> int:
    methods = [m for m in METHOD_NAMES if m != "kprototypes"]
    rows = []
    for name, loader in DATASETS.items():
        X, y = loader(return_X_y=True)
        cells = []
        for m in methods:
            ari, _, found = score(m, X, y)
            cells.append(f"{ari:.3f}" + ("" if m not in ("hdbscan", "dbscan") else f" (k={found})"))
            print(f"{name:14} {m:10} ARI {ari:.3f} k={found}", file=sys.stderr)
        rows.append(
            f"| {name} ({X.shape[0]}×{X.shape[1]}, {len(np.unique(y))} classes) | "
            + " | ".join(cells)
            + " |"
        )
    print("| data set | " + " | ".join(methods) + " |")
    print("| --- | " + " | ".join("---:" for _ in methods) + " |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
