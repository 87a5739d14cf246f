"""DBSCAN (Ester et al. 1996, scikit-learn's implementation) on the kNN graph's distances.

scikit-learn's DBSCAN takes a sparse precomputed distance matrix and treats only its stored
entries as neighbours, so feeding it the kNN graph (edges shorter than ``eps``) costs O(N k)
instead of a radius search over all faces. With ``min_samples=1`` every face is a core point and
DBSCAN equals single linkage cut at ``eps``; larger values leave sparse faces as noise (-1).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from faceatlas.people.base import Constraint, Edges, GraphClusterer, Interval, sparse_distances


class Dbscan(GraphClusterer):
    """DBSCAN of unit embeddings over their kNN graph.

    Parameters
    ----------
    threshold : float
        DBSCAN's ``eps`` (Euclidean distance of unit vectors).
    min_samples : int
        Faces within ``eps`` (itself included) that make a face a core point.
    k : int
        Neighbours per face in the kNN graph (the most a face can see within ``eps``).

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, or -1 for noise.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> Dbscan(threshold=0.3, k=3).fit(X).labels_.tolist()
    [0, 0, 1, 1]
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphClusterer._parameter_constraints,
        "min_samples": Interval(1, 1e9),
    }

    def __init__(self, threshold: float = 0.4, min_samples: int = 1, k: int = 30) -> None:
        self.threshold = threshold
        self.min_samples = min_samples
        self.k = k

    def _cluster(self, edges: Edges) -> np.ndarray:
        matrix = sparse_distances(edges.n, edges.src, edges.dst, edges.dist)
        from sklearn.cluster import DBSCAN as SkDBSCAN  # lazy: keeps the CLI quick to start

        model = SkDBSCAN(eps=self.threshold, min_samples=self.min_samples, metric="precomputed")
        return model.fit(matrix).labels_
