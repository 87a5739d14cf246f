"""What every clusterer shares: the graph it may be given, label bookkeeping, parameter checks.

A clusterer follows scikit-learn's estimator shape: ``__init__`` only stores keyword arguments,
``fit(X, groups=None, graph=None)`` checks them against the class's ``_parameter_constraints``
table, sets ``labels_`` (0..n_clusters-1, or -1 for "no person") and returns ``self``. ``X`` is
an (N, D) array of unit embeddings and is never modified. ``groups`` holds each face's image id:
two faces of one photo are two people. Graph methods drop the edges between them, and every
method enforces the rule on its result (:mod:`faceatlas.people.constraints`).
``graph`` is a ready :class:`KnnGraph` of ``X`` (the cluster step passes the cached one); graph
methods build it when it is missing. :class:`GraphClusterer` does these shared steps of the
graph methods' ``fit``; each method only turns the edges into labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from faceatlas.errors import UsageError
from faceatlas.graph import KnnGraph, knn_graph
from faceatlas.people.constraints import enforce_one_photo


def check_range(name: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    """Raise ValueError unless ``low <= value <= high`` (``low < value`` with ``low_open``)."""
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise UsageError(f"{name} must be in {bracket}{low}, {high}], got {value}")


@dataclass(frozen=True, slots=True)
class Interval:
    """Allowed range of a numeric parameter: ``[low, high]``, ``(low, high]`` with ``low_open``;
    ``optional`` also allows None."""

    low: float
    high: float
    low_open: bool = False
    optional: bool = False


Constraint = Interval | tuple[str, ...]  # a range, or the allowed strings


def validate_params(estimator: object, constraints: dict[str, Constraint]) -> None:
    """Raise ValueError for the first attribute of ``estimator`` outside its constraint."""
    for name, rule in constraints.items():
        value = getattr(estimator, name)
        if isinstance(rule, Interval):
            if value is not None or not rule.optional:
                check_range(name, value, rule.low, rule.high, rule.low_open)
        elif value not in rule:
            raise UsageError(f"{name} must be one of {rule}, got {value!r}")


def check_unit(X: np.ndarray) -> np.ndarray:
    """``X`` as a float32 (N, D) array of unit rows, or ValueError."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (faces x dimensions), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1)
    if len(X) and np.abs(norms - 1).max() > 1e-3:
        raise ValueError("X must hold unit-length embeddings")
    return X


def graph_for(X: np.ndarray, graph: KnnGraph | None, k: int) -> KnnGraph:
    """``graph`` cut to ``k`` neighbours, or a new exact/HNSW graph of ``X``."""
    if graph is None:
        return knn_graph(X, k)
    if len(graph) != len(X):
        raise ValueError(f"graph has {len(graph)} rows but X has {len(X)}")
    return graph.truncate(k) if graph.k > k else graph


def dense_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..C-1 by first appearance order of the sorted ids; -1 stays -1."""
    labels = np.asarray(labels)
    out = np.full(len(labels), -1, dtype=np.int64)
    kept = labels >= 0
    _, out[kept] = np.unique(labels[kept], return_inverse=True)
    return out


def components(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected components of the undirected graph on ``n`` nodes with the given edges."""
    adj = coo_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(n, n)).tocsr()
    return connected_components(adj, directed=False)[1].astype(np.int64)


def sparse_distances(n: int, src: np.ndarray, dst: np.ndarray, dist: np.ndarray) -> csr_matrix:
    """Symmetric sparse distance matrix; stored entries are the only neighbours (zeros kept)."""
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    vals = np.concatenate([dist, dist]).astype(np.float64)
    # exact duplicates have distance 0: keep them as stored entries, not as missing ones
    vals = np.maximum(vals, 1e-12)
    return csr_matrix((vals, (rows, cols)), shape=(n, n))


REJOIN_MIN_SIZE = 3  # modules smaller than this are never rejoined: too few faces to judge


def rejoin_modules(
    labels: np.ndarray, src: np.ndarray, dst: np.ndarray, factor: float
) -> np.ndarray:
    """``labels`` with every two modules merged that the edges (src, dst) join at least
    ``factor`` x the smaller module's size times (both of ``REJOIN_MIN_SIZE`` faces or more).

    The parts of one person that a graph method cut apart are joined by hundreds of edges, two
    people by a handful (docs/clustering.md). Labels must be 0..C-1.
    """
    a, b = labels[src], labels[dst]
    apart = a != b
    lo, hi = np.minimum(a[apart], b[apart]), np.maximum(a[apart], b[apart])
    count = int(labels.max()) + 1 if len(labels) else 0
    pairs, links = np.unique(lo * count + hi, return_counts=True)
    lo, hi = pairs // count, pairs % count
    sizes = np.bincount(labels, minlength=count)
    smaller = np.minimum(sizes[lo], sizes[hi])
    strong = (smaller >= REJOIN_MIN_SIZE) & (links >= factor * smaller)
    return dense_labels(components(count, lo[strong], hi[strong])[labels])


@dataclass(frozen=True, slots=True)
class Edges:
    """The kNN graph's edges shorter than the threshold, each pair once, none within one image."""

    src: np.ndarray
    dst: np.ndarray
    dist: np.ndarray
    graph: KnnGraph  # the (cut) graph they come from
    groups: np.ndarray | None  # each face's image id, as given to ``fit``

    @property
    def n(self) -> int:
        """Number of faces (nodes)."""
        return len(self.graph)


class GraphClusterer:
    """Base of the methods that cluster the thresholded kNN graph (``threshold``, ``k``).

    ``fit`` checks the parameters and ``X``, builds the kNN graph (or cuts the given one to
    ``k``), keeps its edges shorter than ``threshold`` between faces of different images, and
    stores the labels ``_cluster`` makes of them as ``labels_``, after the one-photo rule
    (:mod:`faceatlas.people.constraints`), renumbered 0..C-1 (-1 stays).
    """

    uses_graph: ClassVar[bool] = True
    # checked in this order; subclasses extend it: {**GraphClusterer._parameter_constraints, ...}
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "threshold": Interval(0, 2, low_open=True),
        "k": Interval(1, 10_000),
    }
    threshold: float
    k: int

    def fit(
        self, X: np.ndarray, groups: np.ndarray | None = None, graph: KnnGraph | None = None
    ) -> Self:
        """Cluster rows of ``X``; faces sharing a ``groups`` value (their image) never link."""
        validate_params(self, self._parameter_constraints)
        X = check_unit(X)
        graph = graph_for(X, graph, self.k)
        src, dst, dist = graph.edges(self.threshold, groups)
        labels = self._cluster(Edges(src, dst, dist, graph, groups))
        self.labels_ = enforce_one_photo(self, X, labels, groups)
        return self

    def _cluster(self, edges: Edges) -> np.ndarray:
        """Labels of the ``edges.n`` faces (any integers; negative = no person)."""
        raise NotImplementedError
