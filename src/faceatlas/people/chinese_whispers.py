"""Chinese whispers (Biemann 2006): weighted label propagation on the thresholded kNN graph.

Classic Chinese whispers visits the nodes one by one in a random order and gives each the label
with the largest summed edge weight among its neighbours. One Python step per node is too slow
for millions of faces, so each pass here cuts the random order into ``batches`` slices and
updates a whole slice at once with numpy (sort + reduceat): nodes of one slice see the labels of
all earlier slices of the pass, as in the sequential algorithm, but not of each other. With a
fresh random order per pass this converges like the original; a fixed seed gives identical
labels on every run.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from faceatlas.people.base import (
    Constraint,
    Edges,
    GraphClusterer,
    Interval,
    dense_labels,
    rejoin_modules,
)


class ChineseWhispers(GraphClusterer):
    """Cluster unit embeddings by weighted Chinese whispers on their kNN graph.

    Parameters
    ----------
    threshold : float
        Edges join faces closer than this (Euclidean distance of unit vectors).
    k : int
        Neighbours per face in the kNN graph.
    iterations : int
        Maximum passes; stops early when no label changes.
    batches : int
        Slices of the random order, each updated at once (at least 2: fully synchronous
        updates oscillate; the number of faces = classic one-by-one Chinese whispers).
    seed : int
        Seed of the visiting order, for reproducible results.
    rejoin : float
        Afterwards, two groups (of at least 3 faces each) joined by at least ``rejoin`` x the
        smaller one's size edges are merged; 0 turns this off. Label propagation can settle
        on two labels inside one large, dense person (LFW: George W. Bush's 529 faces as
        257 + 271, joined by 2,708 edges); two people are joined by a handful.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.
    n_iter_ : int
        Passes run.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> ChineseWhispers(threshold=0.3, k=3).fit(X).labels_.tolist()
    [0, 0, 1, 1]
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphClusterer._parameter_constraints,
        "iterations": Interval(1, 10_000),
        "batches": Interval(2, 1e12),
        "rejoin": Interval(0, 1e6),
    }

    def __init__(
        self,
        threshold: float = 0.4,
        k: int = 30,
        iterations: int = 30,
        batches: int = 16,
        seed: int = 0,
        rejoin: float = 2.0,
    ) -> None:
        self.threshold = threshold
        self.k = k
        self.iterations = iterations
        self.batches = batches
        self.seed = seed
        self.rejoin = rejoin

    def _cluster(self, edges: Edges) -> np.ndarray:
        weight = 1.0 - edges.dist / 2.0
        labels, self.n_iter_ = propagate(
            edges.n, edges.src, edges.dst, weight, self.iterations, self.batches, self.seed
        )
        if self.rejoin > 0:
            labels = rejoin_modules(dense_labels(labels), edges.src, edges.dst, self.rejoin)
        return labels


def propagate(
    n: int,
    src: np.ndarray,
    dst: np.ndarray,
    weight: np.ndarray,
    iterations: int,
    batches: int,
    seed: int,
) -> tuple[np.ndarray, int]:
    """Label propagation; returns (labels, passes run). Ties go to the smaller label."""
    tail = np.concatenate([src, dst]).astype(np.int64)
    head = np.concatenate([dst, src]).astype(np.int64)
    w = np.concatenate([weight, weight]).astype(np.float64)
    labels = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    batches = max(1, min(batches, n))
    done = 0
    for _ in range(iterations):
        done += 1
        slot = np.empty(n, dtype=np.int64)
        slot[rng.permutation(n)] = np.arange(n) * batches // n  # each node's slice this pass
        edge_slot = slot[tail]
        order = np.argsort(edge_slot, kind="stable")
        bounds = np.searchsorted(edge_slot[order], np.arange(batches + 1))
        changed = 0
        for b in range(batches):
            sel = order[bounds[b] : bounds[b + 1]]
            if len(sel) == 0:
                continue
            nodes, best = _heaviest_label(tail[sel], labels[head[sel]], w[sel], n)
            moved = labels[nodes] != best
            changed += int(moved.sum())
            labels[nodes[moved]] = best[moved]
        if not changed:
            break
    return labels, done


def _heaviest_label(
    node: np.ndarray, label: np.ndarray, weight: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each distinct ``node``, the ``label`` with the largest summed ``weight``."""
    key = node * n + label
    order = np.argsort(key)
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    sums = np.add.reduceat(weight[order], starts)
    key = key[starts]
    nodes, labels = key // n, key % n
    pick = np.lexsort((labels, -sums, nodes))
    nodes, labels = nodes[pick], labels[pick]
    first = np.r_[True, nodes[1:] != nodes[:-1]]
    return nodes[first], labels[first]
