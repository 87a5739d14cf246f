"""What every clusterer shares: the graph it may be given, label bookkeeping, parameter checks.

A clusterer follows scikit-learn's estimator shape: ``__init__`` only stores keyword arguments,
``fit(X, groups=None, graph=None)`` checks them, sets ``labels_`` (0..n_clusters-1, or -1 for
"no person") and returns ``self``. ``X`` is an (N, D) array of unit embeddings and is never
modified. ``groups`` holds each face's image id: graph methods drop edges between faces of one
image (two faces in one photo are two people). ``graph`` is a ready :class:`KnnGraph` of ``X``
(the cluster step passes the cached one); graph methods build it when it is missing.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from faceatlas.graph import KnnGraph, knn_graph


def check_range(name: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    """Raise ValueError unless ``low <= value <= high`` (``low < value`` with ``low_open``)."""
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value}")


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
