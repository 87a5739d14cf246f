"""HDBSCAN (Campello, Moulavi & Sander 2013; scikit-learn's implementation).

Builds the cluster hierarchy of mutual-reachability distances and keeps the most stable
clusters; faces in no stable cluster are noise (-1). ``threshold`` is the longest link: the kNN
graph is cut there, and HDBSCAN runs on each connected piece as a sparse precomputed distance
matrix (memory O(N k)); pieces of ``min_cluster_size`` faces or fewer are kept whole.

scikit-learn's own knob for this, ``cluster_selection_epsilon``, crashes with NumPy 2
(scikit-learn issue #33219, "only 0-dimensional arrays can be converted to Python scalars"),
and a sparse matrix with unconnected faces is refused, hence the pieces.
"""

from __future__ import annotations

import numpy as np

from faceatlas.graph import KnnGraph
from faceatlas.people.base import (
    check_range,
    check_unit,
    components,
    graph_for,
    sparse_distances,
)


class Hdbscan:
    """HDBSCAN of unit embeddings over their kNN graph.

    Parameters
    ----------
    threshold : float
        ``cluster_selection_epsilon`` (Euclidean distance of unit vectors).
    min_cluster_size : int
        Smallest group HDBSCAN calls a cluster.
    min_samples : int
        Neighbours that define a face's core distance.
    k : int
        Neighbours per face in the kNN graph.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, or -1 for noise.
    """

    uses_graph = True

    def __init__(
        self, threshold: float = 0.4, min_cluster_size: int = 2, min_samples: int = 1, k: int = 30
    ) -> None:
        self.threshold = threshold
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.k = k

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> Hdbscan:
        """Cluster rows of ``X``; faces sharing a ``groups`` value (their image) never link."""
        check_range("threshold", self.threshold, 0, 2)
        check_range("min_cluster_size", self.min_cluster_size, 2, 1e9)
        check_range("min_samples", self.min_samples, 1, 1e9)
        check_range("k", self.k, 1, 10_000)
        X = check_unit(X)
        n = len(X)
        if n < self.min_cluster_size:
            self.labels_ = np.full(n, -1, dtype=np.int64)
            return self
        from sklearn.cluster import HDBSCAN as SkHDBSCAN  # lazy: keeps the CLI quick to start

        graph = graph_for(X, graph, self.k)
        src, dst, dist = graph.edges(self.threshold, groups)
        pieces = components(n, src, dst)
        matrix = sparse_distances(n, src, dst, dist)
        order = np.argsort(pieces, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(pieces[order]) != 0, True])
        labels = np.full(n, -1, dtype=np.int64)
        next_label = 0
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            members = order[lo:hi]
            if len(members) <= max(self.min_cluster_size, self.min_samples + 1):
                if len(members) >= self.min_cluster_size:
                    labels[members] = next_label
                    next_label += 1
                continue
            model = SkHDBSCAN(
                min_cluster_size=self.min_cluster_size,
                min_samples=self.min_samples,
                metric="precomputed",
                allow_single_cluster=True,
                copy=True,
            )
            found = model.fit(matrix[members][:, members]).labels_
            kept = found >= 0
            labels[members[kept]] = found[kept] + next_label
            next_label += int(found.max(initial=-1)) + 1
        self.labels_ = labels
        return self
