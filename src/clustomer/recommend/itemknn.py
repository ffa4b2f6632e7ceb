"""Item-kNN: products bought by the same customers ("bought together with X").

Similarity is the cosine between two products' columns of the binary customer × product
matrix, each customer weighted by ``1 / log2(2 + products they bought)``: a shop-wide
wholesaler who buys half the range says less about two products than a customer who
bought only those two (the "inverse user frequency" of collaborative filtering). Each
product keeps its :data:`NEIGHBOURS` most similar products.

A customer's score for a product is the sum of its similarities to the products the
customer bought; the *anchor* is the bought product that contributes most, and names the
reason. The products × products Gram matrix is computed by blocks of columns (sparse ×
sparse, then a dense block), so memory stays bounded for any range; scoring expands each
(customer, bought product) into its neighbours for a chunk of customers at a time.

The neighbourhood size (20) and the weighting were chosen on the bundled sample's earlier
split (cutoff − 182 days, the 91 days after), never on the backtest's holdout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from clustomer.recommend.data import History

__all__ = ["NEIGHBOURS", "Neighbours", "knn_scores", "ranges", "similarity"]

#: Neighbours kept per product.
NEIGHBOURS = 20
#: Cells of one dense block of the Gram matrix (float32: 4 bytes each).
BLOCK_CELLS = 4_000_000


@dataclass
class Neighbours:
    """Each product's nearest products: CSR layout over the source product."""

    ptr: np.ndarray
    dst: np.ndarray
    sim: np.ndarray


def ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(s, e)`` for each pair, without a Python loop.

    >>> ranges(np.array([0, 5, 2]), np.array([2, 5, 4])).tolist()
    [0, 1, 2, 3]
    """
    lengths = np.maximum(ends - starts, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


def similarity(h: History, k: int = NEIGHBOURS) -> Neighbours:
    """The ``k`` nearest neighbours of every product at the history's cutoff.

    >>> import pandas as pd
    >>> from clustomer.recommend.data import encode, history
    >>> enc = encode(pd.DataFrame({"customer_key": list("aabbc"), "product_id": list("XYXYZ"),
    ...     "day": pd.Timestamp("2024-01-01")}))
    >>> nb = similarity(history(enc, int(enc.d.max())), k=1)
    >>> nb.dst.tolist(), np.round(nb.sim, 2).tolist()  # X ~ Y; Z has no neighbour
    ([1, 0], [1.0, 1.0])
    """
    n_items = h.n_items
    X = h.matrix()  # customers × products, float32, CSR
    weight = (1.0 / np.log2(2.0 + h.user_items)).astype(np.float32)
    XwT = X.T.tocsr()  # products × customers
    XwT.data *= weight[XwT.indices]
    norm = np.sqrt(np.asarray(XwT.sum(axis=1)).ravel()).astype(np.float32)
    norm[norm == 0] = 1.0
    k = min(k, max(n_items - 1, 0))
    src_parts, dst_parts, sim_parts = [], [], []
    block = max(1, BLOCK_CELLS // max(n_items, 1))
    for j0 in range(0, n_items, block):  # blocks of products, not customers
        j1 = min(j0 + block, n_items)
        # row c: the similarity of product j0 + c to every product
        G = np.asarray((XwT[j0:j1] @ X).todense(), dtype=np.float32)
        G /= norm[j0:j1, None]
        G /= norm[None, :]
        G[np.arange(j1 - j0), np.arange(j0, j1)] = 0.0
        if k == 0:
            continue
        top = np.argpartition(-G, k - 1, axis=1)[:, :k] if k < n_items else np.argsort(-G, axis=1)
        vals = np.take_along_axis(G, top, axis=1)
        rows = np.broadcast_to(np.arange(j0, j1)[:, None], top.shape)
        keep = vals > 0
        src_parts.append(rows[keep])
        dst_parts.append(top[keep])
        sim_parts.append(vals[keep])
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, dtype=np.int64)
    sim = np.concatenate(sim_parts) if sim_parts else np.zeros(0, dtype=np.float32)
    order = np.lexsort((dst, -sim, src))
    src, dst, sim = src[order], dst[order], sim[order]
    ptr = np.r_[0, np.cumsum(np.bincount(src, minlength=n_items))]
    return Neighbours(ptr=ptr, dst=dst.astype(np.int64), sim=sim.astype(np.float64))


def knn_scores(
    h: History, nb: Neighbours, users: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores of every product reachable from the customers' bought products.

    Parameters
    ----------
    h : History
        Which products each customer bought.
    nb : Neighbours
        From :func:`similarity`.
    users : ndarray of int
        Customer codes (sorted, distinct).

    Returns
    -------
    key, score, anchor : ndarray
        ``key = customer * n_items + product`` (sorted), the summed similarity, and the
        bought product most similar to it.
    """
    pair = ranges(h.ptr[users], h.ptr[users + 1])
    own_u, own_i = h.pu[pair], h.pi[pair]
    idx = ranges(nb.ptr[own_i], nb.ptr[own_i + 1])
    reps = nb.ptr[own_i + 1] - nb.ptr[own_i]
    u = np.repeat(own_u, reps)
    anchor = np.repeat(own_i, reps)
    key = u * h.n_items + nb.dst[idx]
    sim = nb.sim[idx]
    if len(key) == 0:
        return key, sim, anchor
    # one integer sort: the key, then the similarity descending (2^20 levels), so the
    # first row of each key holds its anchor
    level = np.rint((1.0 - np.clip(sim, 0.0, 1.0)) * (2**20 - 1)).astype(np.int64)
    order = np.argsort((key << 20) | level)
    key, sim, anchor = key[order], sim[order], anchor[order]
    start = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return key[start], np.add.reduceat(sim, start), anchor[start]
