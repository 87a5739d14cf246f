"""The clustering methods ``faceatlas cluster --method`` can run, by name.

Each entry builds an estimator (see :mod:`faceatlas.people.base`) with
``fit(X, groups=None, graph=None) -> self`` and a ``labels_`` attribute (label -1 means "no
person"). Every factory takes the same keywords, ``threshold``, ``seed``, ``k`` (neighbours in
the kNN graph) and ``n_clusters``, and passes further method-specific ``options`` on to the
estimator, which rejects the ones it does not know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from faceatlas.errors import UsageError
from faceatlas.graph import KnnGraph
from faceatlas.people.agglomerative import Agglomerative
from faceatlas.people.chinese_whispers import ChineseWhispers
from faceatlas.people.dbscan import Dbscan
from faceatlas.people.hdbscan import Hdbscan
from faceatlas.people.infomap_graph import Infomap
from faceatlas.people.kmeans import KMeans
from faceatlas.people.leader import Leader
from faceatlas.people.rank_order import RankOrder

DEFAULT_METHOD = "infomap"
# One fixed cut for callers that need a number without looking at the data (the audit's
# per-folder view). Clustering itself defaults to `--threshold auto` (people/threshold.py).
DEFAULT_THRESHOLD = 0.4
DEFAULT_K = 30


class Clusterer(Protocol):
    labels_: np.ndarray
    uses_graph: bool

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> Clusterer: ...


def _build(cls: type, **kwargs: Any) -> Clusterer:
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise UsageError(f"{cls.__name__}: {err}") from None


def _chinese_whispers(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(ChineseWhispers, threshold=threshold, seed=seed, k=k, **options)


def _infomap(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(Infomap, threshold=threshold, seed=seed, k=k, **options)


def _leader(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(Leader, threshold=threshold, **options)


def _rank_order(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(RankOrder, threshold=threshold, k=min(k, 20), **options)


def _dbscan(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(Dbscan, threshold=threshold, k=k, **options)


def _hdbscan(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(Hdbscan, threshold=threshold, k=k, **options)


def _agglomerative(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(Agglomerative, threshold=threshold, k=k, **options)


def _kmeans(threshold: float, seed: int, k: int, **options: Any) -> Clusterer:
    return _build(KMeans, seed=seed, **options)


METHODS: dict[str, Callable[..., Clusterer]] = {
    "infomap": _infomap,
    "chinese-whispers": _chinese_whispers,
    "leader": _leader,
    "rank-order": _rank_order,
    "dbscan": _dbscan,
    "hdbscan": _hdbscan,
    "agglomerative": _agglomerative,
    "kmeans": _kmeans,
}


def make_clusterer(
    method: str,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    k: int = DEFAULT_K,
    n_clusters: int | None = None,
    **options: Any,
) -> Clusterer:
    """An unfitted clusterer for ``method``; unknown names raise with the list of known ones."""
    try:
        factory = METHODS[method]
    except KeyError:
        raise UsageError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None
    if n_clusters is not None:
        if method != "kmeans":
            raise UsageError(f"--k (number of people) only applies to kmeans, not {method}")
        options["n_clusters"] = n_clusters
    return factory(threshold=threshold, seed=seed, k=k, **options)
