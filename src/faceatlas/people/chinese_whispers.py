"""Chinese whispers (Biemann 2006): label propagation on the thresholded kNN graph."""

from __future__ import annotations

import numpy as np

from faceatlas.graph import KnnGraph, knn_graph


class ChineseWhispers:
    """Cluster unit embeddings by weighted Chinese whispers on their kNN graph.

    Parameters
    ----------
    threshold : float
        Edges join faces closer than this (Euclidean distance of unit vectors).
    k : int
        Neighbours per face in the kNN graph.
    iterations : int
        Maximum passes; stops early when no label changes.
    seed : int
        Seed of the visiting order, for reproducible results.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> ChineseWhispers(threshold=0.3, k=3).fit(X).labels_.tolist()
    [0, 0, 1, 1]
    """

    def __init__(
        self, threshold: float = 0.4, k: int = 30, iterations: int = 30, seed: int = 0
    ) -> None:
        self.threshold = threshold
        self.k = k
        self.iterations = iterations
        self.seed = seed

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> ChineseWhispers:
        """Cluster rows of ``X``; faces sharing a ``groups`` value (their image) never link."""
        if not 0 < self.threshold <= 2:
            raise ValueError(f"threshold must be in (0, 2], got {self.threshold}")
        if self.iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {self.iterations}")
        n = len(X)
        graph = graph if graph is not None else knn_graph(X, self.k)
        src, dst, dist = graph.edges(self.threshold)
        if groups is not None:
            groups = np.asarray(groups)
            apart = groups[src] != groups[dst]
            src, dst, dist = src[apart], dst[apart], dist[apart]
        self.labels_ = _propagate(n, src, dst, 1.0 - dist / 2.0, self.iterations, self.seed)
        return self


def _propagate(
    n: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray, iterations: int, seed: int
) -> np.ndarray:
    """Each node, in a random order, takes the label with the largest summed edge weight."""
    both_src = np.concatenate([src, dst])
    both_dst = np.concatenate([dst, src])
    both_w = np.concatenate([weight, weight]).astype(np.float64)
    order = np.argsort(both_src, kind="stable")
    starts = np.searchsorted(both_src[order], np.arange(n + 1)).tolist()
    adjacency = both_dst[order].tolist()
    weights = both_w[order].tolist()
    labels = list(range(n))
    rng = np.random.default_rng(seed)
    for _ in range(iterations):
        changed = 0
        for node in rng.permutation(n).tolist():
            lo, hi = starts[node], starts[node + 1]
            if lo == hi:
                continue
            score: dict[int, float] = {}
            for j in range(lo, hi):
                label = labels[adjacency[j]]
                score[label] = score.get(label, 0.0) + weights[j]
            best = max(score, key=score.__getitem__)
            if best != labels[node]:
                labels[node] = best
                changed += 1
        if not changed:
            break
    _, dense = np.unique(np.asarray(labels), return_inverse=True)
    return dense.astype(np.int64)
