"""The cluster step: read embeddings from the catalog, run a method, store the people."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.graph import KnnGraph, cached_knn_graph
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, make_clusterer
from faceatlas.people.threshold import auto_threshold

AUTO = "auto"
LEADER_BLOCK = 100_000  # faces the streaming leader reads from the catalog at a time
AUTO_SAMPLE = 50_000  # leader with --threshold auto: the cut is chosen on this many faces


@dataclass(slots=True)
class ClusterSummary:
    faces: int
    people: int
    singletons: int
    method: str
    threshold: float | None  # None: the method has no threshold (kmeans)
    seconds: float
    auto: dict | None = field(default=None)  # how --threshold auto chose, when it did


def cluster_vectors(
    vectors: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    method: str = DEFAULT_METHOD,
    threshold: float | str = AUTO,
    seed: int = 0,
    k: int = DEFAULT_K,
    n_clusters: int | None = None,
    graph: KnnGraph | None = None,
    **options: Any,
) -> tuple[np.ndarray, float | None, dict | None]:
    """Cluster unit ``vectors``; returns (labels, threshold used, auto-threshold details).

    ``groups`` are the faces' photo ids (cannot-link pairs). ``threshold="auto"`` chooses the
    cut with :func:`faceatlas.people.threshold.auto_threshold`.
    """
    runs: dict[float, np.ndarray] = {}

    def run(t: float) -> np.ndarray:
        if t not in runs:
            clusterer = make_clusterer(
                method, threshold=t, seed=seed, k=k, n_clusters=n_clusters, **options
            )
            runs[t] = clusterer.fit(vectors, groups=groups, graph=graph).labels_
        return runs[t]

    if len(vectors) == 0:
        make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)  # validates
        return np.zeros(0, dtype=np.int64), None, None
    if method == "kmeans":
        return run(0.0), None, None
    if threshold == AUTO:
        choice = auto_threshold(vectors, groups, method, cluster=run, graph=graph, seed=seed)
        return run(choice.threshold), choice.threshold, choice.as_dict()
    if isinstance(threshold, str):
        raise ValueError(f"threshold must be a number or 'auto', got {threshold!r}")
    return run(float(threshold)), float(threshold), None


def cluster_catalog(
    catalog: Catalog,
    *,
    method: str = DEFAULT_METHOD,
    threshold: float | str = AUTO,
    seed: int = 0,
    k: int = DEFAULT_K,
    n_clusters: int | None = None,
    knn: str = "auto",
    **options: Any,
) -> ClusterSummary:
    """Group every face in ``catalog`` into people and store the result (replacing the last).

    Graph methods (and ``--threshold auto``) reuse the kNN graph cached beside the catalog
    file (``<db>.knn-<k>.npz``) while the faces are unchanged, so trying another method or
    threshold is cheap.
    """
    started = time.monotonic()
    clusterer = make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)
    if method == "leader":
        face_ids, labels, used, auto = _stream_leader(catalog, threshold, seed, options)
    else:
        uses_graph = getattr(clusterer, "uses_graph", False)
        face_ids, labels, used, auto = _cluster_in_memory(
            catalog, method, threshold, seed, k, n_clusters, knn, uses_graph, options
        )
    params: dict[str, Any] = {"threshold": used, "seed": seed, "k": k, **options}
    if n_clusters is not None:
        params["n_clusters"] = n_clusters
    if auto is not None:
        params["auto"] = auto
    catalog.save_clustering(method, params, face_ids, labels)
    sizes = np.bincount(labels[labels >= 0]) if len(labels) else np.zeros(0, np.int64)
    return ClusterSummary(
        faces=len(face_ids),
        people=int((sizes > 0).sum()),
        singletons=int((sizes == 1).sum()) + int((labels < 0).sum()),
        method=method,
        threshold=used,
        seconds=time.monotonic() - started,
        auto=auto,
    )


def _cluster_in_memory(
    catalog: Catalog,
    method: str,
    threshold: float | str,
    seed: int,
    k: int,
    n_clusters: int | None,
    knn: str,
    uses_graph: bool,
    options: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, float | None, dict | None]:
    """(face ids, labels, threshold used, auto details) with all embeddings in memory."""
    matrix = catalog.face_matrix(order="path")  # the same input on every run
    graph = None
    wants_graph = uses_graph or (threshold == AUTO and method != "kmeans")
    if len(matrix) and wants_graph:
        graph = cached_knn_graph(catalog.path, matrix.face_ids, matrix.vectors, k=k, method=knn)
    labels, used, auto = cluster_vectors(
        matrix.vectors,
        matrix.image_ids,
        method=method,
        threshold=threshold,
        seed=seed,
        k=k,
        n_clusters=n_clusters,
        graph=graph,
        **options,
    )
    return matrix.face_ids, labels, used, auto


def _stream_leader(
    catalog: Catalog,
    threshold: float | str,
    seed: int,
    options: dict[str, Any],
    block: int = LEADER_BLOCK,
) -> tuple[np.ndarray, np.ndarray, float | None, dict | None]:
    """Leader clustering straight from the catalog, one block of faces at a time.

    Memory: one block of embeddings plus the active representatives, whatever the catalog's
    size (8 M faces would be 4 GB in one matrix). ``threshold="auto"`` chooses the cut on the
    first ``AUTO_SAMPLE`` faces in path order.
    """
    blocks = catalog.iter_face_blocks(block, order="path")
    first = next(blocks, None)
    if first is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), None, None
    auto = None
    if threshold == AUTO:
        sample = slice(0, AUTO_SAMPLE)
        _, used, auto = cluster_vectors(
            first.vectors[sample], first.image_ids[sample], method="leader", threshold=AUTO,
            seed=seed, **options,
        )
    elif isinstance(threshold, str):
        raise ValueError(f"threshold must be a number or 'auto', got {threshold!r}")
    else:
        used = float(threshold)
    leader = make_clusterer("leader", threshold=used, seed=seed, **options)
    face_ids, labels = [], []
    for part in itertools.chain([first], blocks):
        face_ids.append(part.face_ids)
        labels.append(leader.partial_fit(part.vectors))
    return np.concatenate(face_ids), np.concatenate(labels), used, auto
