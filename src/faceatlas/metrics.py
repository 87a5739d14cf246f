"""Clustering quality against known labels: pairwise and BCubed precision/recall/F, NMI.

All from one contingency table (sparse), so they cost O(N) even for millions of faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import coo_matrix
from sklearn.metrics import normalized_mutual_info_score

from faceatlas.errors import UsageError


@dataclass(frozen=True, slots=True)
class ClusterScores:
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f: float
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    nmi: float
    clusters: int
    identities: int
    singletons: int

    def as_dict(self) -> dict:
        return asdict(self)


def _f(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def cluster_scores(true_labels: np.ndarray, predicted: np.ndarray) -> ClusterScores:
    """Scores of ``predicted`` cluster ids against ``true_labels`` (any hashable values).

    >>> s = cluster_scores(["a", "a", "b", "b"], [0, 0, 0, 1])
    >>> round(s.pairwise_precision, 3), round(s.pairwise_recall, 3)
    (0.333, 0.5)
    """
    _, truth = np.unique(np.asarray(true_labels), return_inverse=True)
    _, pred = np.unique(np.asarray(predicted), return_inverse=True)
    n = len(truth)
    if n == 0:
        raise UsageError("no labels to score")
    table = coo_matrix((np.ones(n), (pred, truth))).tocsr()
    table.sum_duplicates()
    joint = table.data
    cluster_sizes = np.asarray(table.sum(axis=1)).ravel()
    class_sizes = np.asarray(table.sum(axis=0)).ravel()

    def pairs(x: np.ndarray) -> float:
        return float((x * (x - 1) / 2).sum())

    together = pairs(joint)
    pp = together / pairs(cluster_sizes) if pairs(cluster_sizes) else 1.0
    pr = together / pairs(class_sizes) if pairs(class_sizes) else 1.0
    # BCubed: for each item, the share of its cluster with its class, and vice versa
    coo = table.tocoo()
    bp = float((coo.data**2 / cluster_sizes[coo.row]).sum() / n)
    br = float((coo.data**2 / class_sizes[coo.col]).sum() / n)
    return ClusterScores(
        pairwise_precision=pp,
        pairwise_recall=pr,
        pairwise_f=_f(pp, pr),
        bcubed_precision=bp,
        bcubed_recall=br,
        bcubed_f=_f(bp, br),
        nmi=float(normalized_mutual_info_score(truth, pred)),
        clusters=len(cluster_sizes),
        identities=len(class_sizes),
        singletons=int((cluster_sizes == 1).sum()),
    )
