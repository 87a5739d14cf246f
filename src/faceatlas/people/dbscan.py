"""DBSCAN (Ester et al. 1996, scikit-learn's implementation) on the kNN graph's distances.

scikit-learn's DBSCAN takes a sparse precomputed distance matrix and treats only its stored
entries as neighbours, so feeding it the kNN graph (edges shorter than ``eps``) costs O(N k)
instead of a radius search over all faces. With ``min_samples=1`` every face is a core point and
DBSCAN equals single linkage cut at ``eps``; larger values leave sparse faces as noise (-1).
"""

from __future__ import annotations

import numpy as np

from faceatlas.graph import KnnGraph
from faceatlas.people.base import check_range, check_unit, graph_for, sparse_distances


class Dbscan:
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

    uses_graph = True

    def __init__(self, threshold: float = 0.4, min_samples: int = 1, k: int = 30) -> None:
        self.threshold = threshold
        self.min_samples = min_samples
        self.k = k

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> Dbscan:
        """Cluster rows of ``X``; faces sharing a ``groups`` value (their image) never link."""
        check_range("threshold", self.threshold, 0, 2, low_open=True)
        check_range("min_samples", self.min_samples, 1, 1e9)
        check_range("k", self.k, 1, 10_000)
        X = check_unit(X)
        graph = graph_for(X, graph, self.k)
        src, dst, dist = graph.edges(self.threshold, groups)
        matrix = sparse_distances(len(X), src, dst, dist)
        from sklearn.cluster import DBSCAN as SkDBSCAN  # lazy: keeps the CLI quick to start

        model = SkDBSCAN(eps=self.threshold, min_samples=self.min_samples, metric="precomputed")
        self.labels_ = model.fit(matrix).labels_.astype(np.int64)
        return self
