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

from typing import ClassVar

import numpy as np

from faceatlas.people.base import (
    Constraint,
    Edges,
    GraphClusterer,
    Interval,
    components,
    sparse_distances,
)


class Hdbscan(GraphClusterer):
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

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphClusterer._parameter_constraints,
        "threshold": Interval(0, 2),  # closed: a cut at 0 links nothing, every face is noise
        "min_cluster_size": Interval(2, 1e9),
        "min_samples": Interval(1, 1e9),
    }

    def __init__(
        self, threshold: float = 0.4, min_cluster_size: int = 2, min_samples: int = 1, k: int = 30
    ) -> None:
        self.threshold = threshold
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.k = k

    def _cluster(self, edges: Edges) -> np.ndarray:
        n, src, dst, dist = edges.n, edges.src, edges.dst, edges.dist
        if n < self.min_cluster_size:
            return np.full(n, -1, dtype=np.int64)
        from sklearn.cluster import HDBSCAN as SkHDBSCAN  # lazy: keeps the CLI quick to start

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
        return labels
