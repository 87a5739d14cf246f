"""k-nearest-neighbour graph of face embeddings (faiss), the input of every graph clusterer.

Distances are Euclidean between unit vectors (0 = same direction, 2 = opposite), the scale all
faceatlas thresholds use. Cost is one blocked exact search: no N x N matrix is ever held.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

BLOCK = 8192  # query rows per exact-search block: bounds memory to BLOCK x k results


@dataclass(slots=True)
class KnnGraph:
    """``neighbors[i]`` are the k nearest rows to row i (itself excluded), nearest first."""

    neighbors: np.ndarray  # (N, k) int64, -1 where fewer than k exist
    distances: np.ndarray  # (N, k) float32, inf where neighbors is -1

    @property
    def k(self) -> int:
        return self.neighbors.shape[1]

    def edges(self, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source, target, distance) of edges shorter than ``threshold``, each pair once."""
        rows = np.repeat(np.arange(len(self.neighbors)), self.k)
        cols = self.neighbors.ravel()
        dist = self.distances.ravel()
        keep = (cols >= 0) & (dist < threshold)
        src, dst, dist = rows[keep], cols[keep], dist[keep]
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        _, first = np.unique(lo * len(self.neighbors) + hi, return_index=True)
        return lo[first], hi[first], dist[first]


def knn_graph(vectors: np.ndarray, k: int = 30) -> KnnGraph:
    """Exact kNN graph of unit ``vectors`` by inner product, in blocks."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    k_eff = max(0, min(k, n - 1))
    neighbors = np.full((n, k), -1, dtype=np.int64)
    distances = np.full((n, k), np.inf, dtype=np.float32)
    if k_eff == 0:
        return KnnGraph(neighbors, distances)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK]
        sims, ids = index.search(block, k_eff + 1)
        own = np.arange(start, start + len(block))[:, None]
        not_self = ids != own
        # keep the first k_eff non-self hits of each row (self is usually first, maybe absent)
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :k_eff]
        ids = np.take_along_axis(ids, order, axis=1)
        sims = np.take_along_axis(sims, order, axis=1)
        neighbors[start : start + len(block), :k_eff] = ids
        distances[start : start + len(block), :k_eff] = np.sqrt(np.clip(2.0 - 2.0 * sims, 0, 4))
    return KnnGraph(neighbors, distances)
