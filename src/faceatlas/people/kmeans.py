"""k-means (scikit-learn): when the number of people is known in advance.

Needs ``n_clusters`` (``faceatlas cluster --method kmeans --k 42``); the threshold is not used.
k-means assumes round clusters of similar size, which faces rarely form: it is here as a
baseline. Above 20,000 faces scikit-learn's MiniBatchKMeans is used.
"""

from __future__ import annotations

import numpy as np

from faceatlas.errors import UsageError
from faceatlas.people.base import check_range, check_unit
from faceatlas.people.constraints import enforce_one_photo

MINIBATCH_ABOVE = 20_000


class KMeans:
    """k-means of unit embeddings into ``n_clusters`` people.

    Parameters
    ----------
    n_clusters : int
        Number of people.
    max_iter : int
        Lloyd iterations at most (thousands of people make each one costly).
    seed : int
        Seed of the initial centres.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> KMeans(n_clusters=2).fit(X).labels_.tolist() in ([0, 0, 1, 1], [1, 1, 0, 0])
    True
    """

    uses_graph = False

    def __init__(self, n_clusters: int | None = None, max_iter: int = 50, seed: int = 0) -> None:
        self.n_clusters = n_clusters
        self.max_iter = max_iter
        self.seed = seed

    def fit(self, X: np.ndarray, groups: np.ndarray | None = None, graph: object = None) -> KMeans:
        """Cluster rows of ``X``; a person holding two faces of one ``groups`` value (photo) is
        then split (the one-photo rule), so there may be more than ``n_clusters`` people."""
        if self.n_clusters is None:
            raise UsageError("kmeans needs the number of people: pass --k N")
        X = check_unit(X)
        check_range("n_clusters", self.n_clusters, 1, max(1, len(X)))
        from sklearn.cluster import KMeans as SkKMeans  # lazy: keeps the CLI quick to start
        from sklearn.cluster import MiniBatchKMeans

        cls = MiniBatchKMeans if len(X) > MINIBATCH_ABOVE else SkKMeans
        model = cls(
            n_clusters=self.n_clusters, n_init=1, max_iter=self.max_iter, random_state=self.seed
        )
        self.labels_ = enforce_one_photo(self, X, model.fit(X).labels_, groups)
        return self
