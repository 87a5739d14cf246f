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
from faceatlas.people.cluster import AUTO, ClusterSummary, fit_people, label_counts
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, make_clusterer
from faceatlas.people.quality import PersonQuality, people_quality

NO_SEGMENT = ""  # the key of images without a segment in ``segment_cuts``


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
    segment of their own (named ``NO_SEGMENT`` in ``segment_cuts``). ``threshold="auto"`` is
    chosen per segment (a small segment tolerates a higher cut: fewer strangers to confuse).
    With ``kmeans``, ``n_clusters`` is the number of people per segment.
    """
    started = time.monotonic()
    make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)  # validates
    segments = catalog.segments()
    id_parts: list[np.ndarray] = []
    label_parts: list[np.ndarray] = []
    cuts: dict[str, float | None] = {}
    quality: list[PersonQuality] = []
    split = 0
    offset = 0
    for segment in segments:  # one segment's embeddings in memory at a time
        matrix = catalog.segment_face_matrix(segment, order="path")
        if not len(matrix):
            continue
        fit = fit_people(
            matrix.vectors,
            matrix.image_ids,
            method=method,
            threshold=threshold,
            seed=seed,
            k=min(k, max(1, len(matrix) - 1)),
            n_clusters=None if n_clusters is None else min(n_clusters, len(matrix)),
            **options,
        )
        cuts[NO_SEGMENT if segment is None else segment] = fit.threshold
        split += fit.people_split
        kept = fit.labels >= 0
        labels = np.where(kept, fit.labels + offset, -1)
        quality += people_quality(matrix.vectors, labels)  # people never cross segments
        id_parts.append(matrix.face_ids)
        label_parts.append(labels)
        offset += int(fit.labels.max()) + 1 if kept.any() else 0
    face_ids = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
    labels = np.concatenate(label_parts) if label_parts else np.zeros(0, np.int64)
    used = [c for c in cuts.values() if c is not None]
    doubtful = sum(q.doubtful for q in quality)
    params: dict[str, Any] = {
        "per_segment": True,
        "segments": len(segments),
        "threshold": threshold,
        "seed": seed,
        "k": k,
        **options,
        "segment_cuts": cuts,
        "doubtful": doubtful,
    }
    if used:
        params["thresholds_used"] = {"min": min(used), "max": max(used)}
    if n_clusters is not None:
        params["n_clusters"] = n_clusters
    catalog.save_clustering(method, params, face_ids, labels)
    counts = label_counts(labels)
    return ClusterSummary(
        **counts,
        method=method,
        threshold=None if threshold == AUTO else float(threshold),
        seconds=time.monotonic() - started,
        reason=_reason(cuts, threshold, method, counts["people"]),
        segment_cuts=cuts,
        people_split=split,
        doubtful=doubtful,
        quality=quality,
    )


def _reason(cuts: dict[str, float | None], threshold: float | str, method: str, people: int) -> str:
    """One line, e.g. ``cut 0.366-0.412 (auto per segment: model curve, 40 segments; ...)``."""
    used = [c for c in cuts.values() if c is not None]
    if not used:
        return f"{method}: no distance cut; {people:,} people"
    how = "fixed" if threshold != AUTO else "auto per segment: model curve"
    span = f"{min(used):.3f}" if min(used) == max(used) else f"{min(used):.3f}-{max(used):.3f}"
    return f"cut {span} ({how}, {len(cuts):,} segments; {people:,} people)"
