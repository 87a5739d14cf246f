"""Approximate rank-order clustering (Otto, Wang & Jain, TPAMI 2017) on the kNN lists.

Two faces are alike when they share their nearest neighbours. For a face ``a`` with the
neighbour list ``f_a(0)=a, f_a(1), ...`` and ``O_a(b)`` the position of ``b`` in it, the
approximate rank-order distance is::

    D(a, b)   = sum over i <= O_a(b) of [f_a(i) is not among b's k nearest]
    D_N(a, b) = (D(a, b) + D(b, a)) / min(O_a(b), O_b(a))

computed only for pairs in each other's top-k lists (``O = k`` when absent). Pairs with
``D_N < rank_threshold`` are linked and the clusters are the connected components. Unlike the
paper, a pair must also be closer than ``threshold`` (Euclidean distance of unit vectors): the
absolute cut stops chains through faces that are only relatively near, and lets
``--threshold auto`` steer this method like the others.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from faceatlas.people.base import Constraint, Edges, GraphClusterer, Interval, components

EDGE_BLOCK = 1 << 20  # directed edges scored per block


class RankOrder(GraphClusterer):
    """Approximate rank-order clustering on the kNN graph.

    Parameters
    ----------
    threshold : float
        Only pairs closer than this (Euclidean distance of unit vectors) may link.
    rank_threshold : float
        Link pairs whose normalised rank-order distance is below this.
    k : int
        Length of each face's neighbour list.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> RankOrder(threshold=0.3, k=2).fit(X).labels_.tolist()
    [0, 0, 1, 1]
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphClusterer._parameter_constraints,
        "rank_threshold": Interval(0, 1e6, low_open=True),
    }

    def __init__(self, threshold: float = 0.4, rank_threshold: float = 1.6, k: int = 20) -> None:
        self.threshold = threshold
        self.rank_threshold = rank_threshold
        self.k = k

    def _cluster(self, edges: Edges) -> np.ndarray:
        n, k, src, dst = edges.n, edges.graph.k, edges.src, edges.dst
        # neighbour lists with the face itself at position 0, as in the paper
        neighbors = edges.graph.neighbors
        lists = np.concatenate([np.arange(n, dtype=np.int64)[:, None], neighbors], axis=1)
        ab = _distance(lists, src, dst, k)
        ba = _distance(lists, dst, src, k)
        rank_ab = _position(lists, src, dst, k)
        rank_ba = _position(lists, dst, src, k)
        d_norm = (ab + ba) / np.maximum(np.minimum(rank_ab, rank_ba), 1)
        link = d_norm < self.rank_threshold
        return components(n, src[link], dst[link])


def _membership(lists: np.ndarray, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether ``values[i, j]`` occurs in the neighbour list of face ``rows[i]``."""
    width = lists.shape[1]
    found = np.zeros(values.shape, dtype=bool)
    for j in range(width):
        found |= lists[rows, j][:, None] == values
    return found


def _position(lists: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """O_a(b): position of ``b`` in ``a``'s list (1..k), ``k`` when absent."""
    pos = np.full(len(a), k, dtype=np.int64)
    for j in range(lists.shape[1] - 1, 0, -1):
        pos[lists[a, j] == b] = j
    return pos


def _distance(lists: np.ndarray, a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """D(a, b): how many of ``a``'s neighbours up to ``b`` are missing from ``b``'s list."""
    out = np.zeros(len(a), dtype=np.float64)
    step = max(1, EDGE_BLOCK // lists.shape[1])
    for lo in range(0, len(a), step):
        sa, sb = a[lo : lo + step], b[lo : lo + step]
        upto = _position(lists, sa, sb, k)
        prefix = np.arange(lists.shape[1])[None, :] <= upto[:, None]
        missing = ~_membership(lists, sb, lists[sa]) & (lists[sa] >= 0)
        out[lo : lo + len(sa)] = (missing & prefix).sum(axis=1)
    return out
