"""Average-linkage agglomerative clustering (scikit-learn), cut at a distance threshold.

Merges the two groups with the smallest mean pairwise distance until that mean exceeds
``threshold``. Exact on all pairs up to ``FULL_MAX`` faces (memory O(N**2)); above that the
merges are restricted to kNN-graph neighbours (scikit-learn's ``connectivity``), which keeps
memory O(N k).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from faceatlas.graph import KnnGraph
from faceatlas.people.base import (
    Constraint,
    Interval,
    check_unit,
    graph_for,
    sparse_distances,
    validate_params,
)
from faceatlas.people.constraints import enforce_one_photo

FULL_MAX = 20_000
LINKAGES = ("average", "complete", "single")


class Agglomerative:
    """Agglomerative clustering of unit embeddings.

    Parameters
    ----------
    threshold : float
        Stop merging when the linkage distance exceeds this (Euclidean, unit vectors).
    linkage : {"average", "complete", "single"}
        How the distance between two groups is measured.
    k : int
        Neighbours per face in the kNN graph used above ``FULL_MAX`` faces.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> Agglomerative(threshold=0.3).fit(X).labels_.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """

    uses_graph = False  # builds its own graph, and only above FULL_MAX faces
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "threshold": Interval(0, 2, low_open=True),
        "k": Interval(1, 10_000),
        "linkage": LINKAGES,
    }

    def __init__(self, threshold: float = 0.4, linkage: str = "average", k: int = 30) -> None:
        self.threshold = threshold
        self.linkage = linkage
        self.k = k

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> Agglomerative:
        """Cluster rows of ``X``; scikit-learn's linkage has no cannot-link rule, so a group
        holding two faces of one ``groups`` value (photo) is split afterwards."""
        validate_params(self, self._parameter_constraints)
        X = check_unit(X)
        n = len(X)
        if n < 2:
            self.labels_ = np.zeros(n, dtype=np.int64)
            self.people_split_, self.conflicts_ = 0, 0.0
            return self
        connectivity = None
        if n > FULL_MAX:
            graph = graph_for(X, graph, self.k)
            src, dst, dist = graph.edges()
            connectivity = sparse_distances(n, src, dst, dist)
        from sklearn.cluster import AgglomerativeClustering  # lazy: keeps the CLI quick

        model = AgglomerativeClustering(
            n_clusters=None,
            distance_threshold=self.threshold,
            linkage=self.linkage,
            connectivity=connectivity,
        )
        self.labels_ = enforce_one_photo(self, X, model.fit(X).labels_, groups)
        return self
