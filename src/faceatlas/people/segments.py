"""Cluster inside each segment only: people never cross segments.

A segment is a coarse pre-class stored per image (a TSV column or an image's top folder, see
``faceatlas index --segment-column`` / ``--segment-from-folder``). Clustering each segment on its
own is both a rule (two faces in different segments are never one person) and fast: every
segment is small, so the all-pairs or kNN work is per segment instead of over millions of faces.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.people.cluster import AUTO, ClusterSummary, cluster_vectors
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, make_clusterer


def cluster_per_segment(
    catalog: Catalog,
    *,
    method: str = DEFAULT_METHOD,
    threshold: float | str = AUTO,
    seed: int = 0,
    k: int = DEFAULT_K,
    n_clusters: int | None = None,
    **options: Any,
) -> ClusterSummary:
    """Cluster each segment's faces separately and store all people as one clustering.

    Only one segment's embeddings are in memory at a time. Images without a segment form one
    segment of their own. ``threshold="auto"`` is chosen per segment (a small segment
    tolerates a higher cut: fewer strangers to confuse). With ``kmeans``, ``n_clusters`` is
    the number of people per segment.
    """
    started = time.monotonic()
    make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)  # validates
    segments = catalog.segments()
    id_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    used: list[float] = []
    offset = 0
    for segment in segments:  # one segment's embeddings in memory at a time
        matrix = catalog.segment_face_matrix(segment, order="path")
        if not len(matrix):
            continue
        part, cut, _ = cluster_vectors(
            matrix.vectors,
            matrix.image_ids,
            method=method,
            threshold=threshold,
            seed=seed,
            k=min(k, max(1, len(matrix) - 1)),
            n_clusters=None if n_clusters is None else min(n_clusters, len(matrix)),
            **options,
        )
        if cut is not None:
            used.append(cut)
        kept = part >= 0
        id_parts.append(matrix.face_ids)
        label_parts.append(np.where(kept, part + offset, -1))
        offset += int(part.max()) + 1 if kept.any() else 0
    face_ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
    labels = np.concatenate(label_parts) if label_parts else np.zeros(0, np.int64)
    params: dict[str, Any] = {
        "per_segment": True,
        "segments": len(segments),
        "threshold": threshold,
        "seed": seed,
        "k": k,
        **options,
    }
    if used:
        params["thresholds_used"] = {"min": min(used), "max": max(used)}
    if n_clusters is not None:
        params["n_clusters"] = n_clusters
    catalog.save_clustering(method, params, face_ids, labels)
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, np.int64)
    return ClusterSummary(
        faces=len(face_ids),
        people=int((sizes > 0).sum()),
        singletons=int((sizes == 1).sum()) + int((labels < 0).sum()),
        method=method,
        threshold=None if threshold == AUTO else float(threshold),
        seconds=time.monotonic() - started,
    )
