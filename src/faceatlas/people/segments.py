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


def segment_codes(segments: list[str | None]) -> tuple[np.ndarray, list[str | None]]:
    """(code per face, segment name per code); codes follow sorted names, None last."""
    names = sorted({s for s in segments if s is not None})
    if any(s is None for s in segments):
        names.append(None)
    code_of = {name: code for code, name in enumerate(names)}
    return np.fromiter((code_of[s] for s in segments), np.int64, count=len(segments)), names


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

    Images without a segment form one segment of their own. ``threshold="auto"`` is chosen per
    segment (a small segment tolerates a higher cut: fewer strangers to confuse). With
    ``kmeans``, ``n_clusters`` is the number of people per segment.
    """
    started = time.monotonic()
    make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)  # validates
    matrix = catalog.face_matrix()
    face_ids, segments = catalog.face_segments()
    if not np.array_equal(face_ids, matrix.face_ids):
        raise RuntimeError("faces changed while clustering; run the command again")
    codes, names = segment_codes(segments)
    labels = np.full(len(matrix), -1, dtype=np.int64)
    used: list[float] = []
    offset = 0
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    for code in range(len(names)):
        members = order[bounds[code] : bounds[code + 1]]
        part, cut, _ = cluster_vectors(
            matrix.vectors[members],
            matrix.image_ids[members],
            method=method,
            threshold=threshold,
            seed=seed,
            k=min(k, max(1, len(members) - 1)),
            n_clusters=None if n_clusters is None else min(n_clusters, len(members)),
            **options,
        )
        if cut is not None:
            used.append(cut)
        kept = part >= 0
        labels[members[kept]] = part[kept] + offset
        offset += int(part.max()) + 1 if kept.any() else 0
    params: dict[str, Any] = {
        "per_segment": True,
        "segments": len(names),
        "threshold": threshold,
        "seed": seed,
        "k": k,
        **options,
    }
    if used:
        params["thresholds_used"] = {"min": min(used), "max": max(used)}
    if n_clusters is not None:
        params["n_clusters"] = n_clusters
    catalog.save_clustering(method, params, matrix.face_ids, labels)
    sizes = np.bincount(labels[labels >= 0]) if (labels >= 0).any() else np.zeros(0, np.int64)
    return ClusterSummary(
        faces=len(matrix),
        people=int((sizes > 0).sum()),
        singletons=int((sizes == 1).sum()) + int((labels < 0).sum()),
        method=method,
        threshold=None if threshold == AUTO else float(threshold),
        seconds=time.monotonic() - started,
    )
