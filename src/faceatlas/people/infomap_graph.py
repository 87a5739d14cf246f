"""Infomap (Rosvall & Bergstrom 2008) on the thresholded kNN graph.

Infomap finds the partition that minimises the description length of a random walk on the
graph: a walker stays long inside a tight group of faces. On face kNN graphs it is the
strongest unsupervised method published (pairwise F 0.94 on MS-Celeb 584K). Uses the
``infomap`` package (the authors' C++ code), two-level, undirected, weights = similarity.
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


class Infomap(GraphClusterer):
    """Cluster unit embeddings with Infomap on their kNN graph.

    Parameters
    ----------
    threshold : float
        Only edges shorter than this (Euclidean distance of unit vectors) enter the graph.
    k : int
        Neighbours per face in the kNN graph.
    trials : int
        Infomap restarts; the partition with the shortest description is kept (each costs a
        full run; ``rejoin`` is the cheaper guard against cut-up people).
    seed : int
        Infomap's random seed, for reproducible results.
    rejoin : float
        Afterwards, two modules (of at least 3 faces each) joined by at least ``rejoin`` x the
        smaller one's size edges are merged; 0 turns this off. At tight cuts Infomap cuts a
        person with many photos into a few large modules (LFW, Colin Powell's 236 faces alone
        at 0.27: 157 + 57 + 21); the parts of one person are joined by hundreds of edges, two
        people by a handful. Should a merged person then hold two faces of one photo, the
        one-photo rule splits it, each face going to its closer part.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each face, 0..n_clusters-1.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0.99, 0.14], [0, 1], [0.14, 0.99]], dtype=np.float32)
    >>> X /= np.linalg.norm(X, axis=1, keepdims=True)
    >>> Infomap(threshold=0.3, k=3).fit(X).labels_.tolist()
    [0, 0, 1, 1]
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphClusterer._parameter_constraints,
        "trials": Interval(1, 1000),
        "rejoin": Interval(0, 1e6),
    }

    def __init__(
        self,
        threshold: float = 0.4,
        k: int = 30,
        trials: int = 1,
        seed: int = 0,
        rejoin: float = 2.0,
    ) -> None:
        self.threshold = threshold
        self.k = k
        self.trials = trials
        self.seed = seed
        self.rejoin = rejoin

    def _cluster(self, edges: Edges) -> np.ndarray:
        n, src, dst = edges.n, edges.src, edges.dst
        import infomap  # lazy: keeps the CLI quick to start

        im = infomap.Infomap(silent=True)
        im.add_nodes(range(n))
        weight = 1.0 - edges.dist.astype(np.float64) / 2.0
        im.add_links(zip(src.tolist(), dst.tolist(), weight.tolist(), strict=True))
        # undirected flow is the default for links; seed 0 would mean "unset" to infomap
        result = im.run(two_level=True, seed=self.seed + 1, num_trials=self.trials)
        labels = np.arange(n, dtype=np.int64) + n  # isolated faces: their own person
        modules = dict(result.modules())  # node id -> module id (1-based)
        if modules:
            ids = np.fromiter(modules.keys(), dtype=np.int64, count=len(modules))
            mods = np.fromiter(modules.values(), dtype=np.int64, count=len(modules))
            labels[ids] = mods
        labels = dense_labels(labels)
        if self.rejoin > 0:
            labels = rejoin_modules(labels, src, dst, self.rejoin)
        return labels
