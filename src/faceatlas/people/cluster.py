"""The cluster step: read embeddings from the catalog, run a method, store the people."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.people.methods import DEFAULT_THRESHOLD, make_clusterer


@dataclass(slots=True)
class ClusterSummary:
    faces: int
    people: int
    singletons: int
    method: str
    threshold: float
    seconds: float


def cluster_catalog(
    catalog: Catalog,
    method: str = "chinese-whispers",
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    **options: Any,
) -> ClusterSummary:
    """Group every face in ``catalog`` into people and store the result (replacing the last)."""
    started = time.monotonic()
    clusterer = make_clusterer(method, threshold=threshold, seed=seed, **options)
    matrix = catalog.face_matrix()
    if len(matrix) == 0:
        labels = np.zeros(0, dtype=np.int64)
    else:
        labels = clusterer.fit(matrix.vectors, groups=matrix.image_ids).labels_
    params = {"threshold": threshold, "seed": seed, **options}
    catalog.save_clustering(method, params, matrix.face_ids, labels)
    sizes = np.bincount(labels[labels >= 0]) if len(labels) else np.zeros(0, np.int64)
    return ClusterSummary(
        faces=len(matrix),
        people=int((sizes > 0).sum()),
        singletons=int((sizes == 1).sum()),
        method=method,
        threshold=threshold,
        seconds=time.monotonic() - started,
    )
