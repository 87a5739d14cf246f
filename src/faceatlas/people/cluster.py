"""The cluster step: read embeddings from the catalog, run a method, store the people.

Every method's result obeys the one-photo rule (no person holds two faces of one photo); the
summary says the cut and why in one line (``reason``) and how many people look doubtful
(:mod:`faceatlas.people.quality`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceatlas.catalog import Catalog, FaceMatrix
from faceatlas.errors import UsageError
from faceatlas.graph import KnnGraph, cached_knn_graph
from faceatlas.people.constraints import same_photo_conflicts, split_same_photo
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, make_clusterer
from faceatlas.people.quality import PersonQuality, PersonSums, people_quality
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
    threshold: float | None  # None: no single cut (kmeans; per segment, see segment_cuts)
    seconds: float
    auto: dict | None = field(default=None)  # how --threshold auto chose, when it did
    reason: str = ""  # one line: the cut and why, e.g. "cut 0.340 (auto: model curve, ...)"
    segment_cuts: dict[str, float | None] | None = None  # per segment: its cut (--per-segment)
    people_split: int = 0  # people split by the one-photo rule
    doubtful: int = 0  # people worth checking first (people.quality)
    quality: list[PersonQuality] = field(default_factory=list)  # by the clustering's labels


def describe_cut(threshold: float | None, auto: dict | None, method: str, people: int) -> str:
    """The one-line reason, e.g. ``cut 0.357 (auto: model curve, 181 faces; 12 people)``."""
    if threshold is None:
        return f"{method}: no distance cut; {people:,} people"
    how = "fixed" if auto is None else auto["reason"]
    return f"cut {threshold:.3f} ({how}; {people:,} people)"


@dataclass(slots=True)
class PeopleFit:
    """One clustering of a set of vectors: labels, the cut, how auto chose it."""

    labels: np.ndarray
    threshold: float | None
    auto: dict | None
    people_split: int  # people the one-photo rule split


def fit_people(
    vectors: np.ndarray,
    groups: np.ndarray | None = None,
    *,
    method: str = DEFAULT_METHOD,
    threshold: float | str = AUTO,
    seed: int = 0,
    k: int = DEFAULT_K,
    n_clusters: int | None = None,
    graph: KnnGraph | None = None,
    faces: int | None = None,
    **options: Any,
) -> PeopleFit:
    """Cluster unit ``vectors`` (see :func:`cluster_vectors`), with what the run decided."""
    runs: dict[float, Any] = {}

    def fitted(t: float) -> Any:
        if t not in runs:
            clusterer = make_clusterer(
                method, threshold=t, seed=seed, k=k, n_clusters=n_clusters, **options
            )
            runs[t] = clusterer.fit(vectors, groups=groups, graph=graph)
        return runs[t]

    if len(vectors) == 0:
        make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)  # validates
        return PeopleFit(np.zeros(0, dtype=np.int64), None, None, 0)
    auto = None
    if method == "kmeans":
        used = None
    elif threshold == AUTO:
        choice = auto_threshold(
            vectors, groups, method, conflicts=lambda t: fitted(t).conflicts_, faces=faces
        )
        used, auto = choice.threshold, {**choice.as_dict(), "reason": choice.reason}
    elif isinstance(threshold, str):
        raise UsageError(f"threshold must be a number or 'auto', got {threshold!r}")
    else:
        used = float(threshold)
    result = fitted(0.0 if used is None else used)
    return PeopleFit(result.labels_, used, auto, int(result.people_split_))


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
    faces: int | None = None,
    **options: Any,
) -> tuple[np.ndarray, float | None, dict | None]:
    """Cluster unit ``vectors``; returns (labels, threshold used, auto-threshold details).

    ``groups`` are the faces' photo ids: no person holds two faces of one photo (the
    one-photo rule, :mod:`faceatlas.people.constraints`). ``threshold="auto"`` chooses the
    cut with :func:`faceatlas.people.threshold.auto_threshold` (``faces``: the size of the
    whole collection when ``vectors`` are a sample of it).
    """
    fit = fit_people(
        vectors,
        groups,
        method=method,
        threshold=threshold,
        seed=seed,
        k=k,
        n_clusters=n_clusters,
        graph=graph,
        faces=faces,
        **options,
    )
    return fit.labels, fit.threshold, fit.auto


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
    threshold is cheap. No person holds two faces of one photo.
    """
    started = time.monotonic()
    clusterer = make_clusterer(method, seed=seed, k=k, n_clusters=n_clusters, **options)
    if method == "leader":
        face_ids, fit, quality = _stream_leader(catalog, threshold, seed, options)
    else:
        uses_graph = getattr(clusterer, "uses_graph", False)
        face_ids, fit, quality = _cluster_in_memory(
            catalog, method, threshold, seed, k, n_clusters, knn, uses_graph, options
        )
    params: dict[str, Any] = {"threshold": fit.threshold, "seed": seed, "k": k, **options}
    if n_clusters is not None:
        params["n_clusters"] = n_clusters
    if fit.auto is not None:
        params["auto"] = fit.auto
    doubtful = sum(q.doubtful for q in quality)
    params["doubtful"] = doubtful
    catalog.save_clustering(method, params, face_ids, fit.labels)
    counts = label_counts(fit.labels)
    return ClusterSummary(
        **counts,
        method=method,
        threshold=fit.threshold,
        seconds=time.monotonic() - started,
        auto=fit.auto,
        reason=describe_cut(fit.threshold, fit.auto, method, counts["people"]),
        people_split=fit.people_split,
        doubtful=doubtful,
        quality=quality,
    )


def label_counts(labels: np.ndarray) -> dict[str, int]:
    """faces, people and single faces (label -1 counts as a single face) of ``labels``."""
    kept = labels[labels >= 0]
    sizes = np.bincount(kept) if len(kept) else np.zeros(0, np.int64)
    return {
        "faces": len(labels),
        "people": int((sizes > 0).sum()),
        "singletons": int((sizes == 1).sum()) + int((labels < 0).sum()),
    }


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
) -> tuple[np.ndarray, PeopleFit, list[PersonQuality]]:
    """(face ids, the clustering, its people's quality) with all embeddings in memory."""
    matrix = catalog.face_matrix(order="path")  # the same input on every run
    graph = None
    wants_graph = uses_graph and len(matrix) > 0
    if wants_graph:
        graph = cached_knn_graph(catalog.path, matrix.face_ids, matrix.vectors, k=k, method=knn)
    fit = fit_people(
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
    return matrix.face_ids, fit, people_quality(matrix.vectors, fit.labels)


def _stream_leader(
    catalog: Catalog,
    threshold: float | str,
    seed: int,
    options: dict[str, Any],
    block: int = LEADER_BLOCK,
) -> tuple[np.ndarray, PeopleFit, list[PersonQuality]]:
    """Leader clustering straight from the catalog, one block of faces at a time.

    Memory: one block of embeddings plus the active representatives, whatever the catalog's
    size (8 M faces would be 4 GB in one matrix). ``threshold="auto"`` chooses the cut on the
    first ``AUTO_SAMPLE`` faces in path order, for a collection of the catalog's size. A
    second pass reads the faces of the people holding two faces of one photo and splits them
    (the one-photo rule); two last ones measure the people's quality.
    """
    blocks = catalog.iter_face_blocks(block, order="path")
    first = next(blocks, None)
    if first is None:
        empty = np.zeros(0, np.int64)
        return empty, PeopleFit(empty, None, None, 0), []
    auto = None
    if threshold == AUTO:
        sample = slice(0, AUTO_SAMPLE)
        fit = fit_people(
            first.vectors[sample], first.image_ids[sample], method="leader", threshold=AUTO,
            seed=seed, faces=catalog.stats()["faces"], **options,
        )  # fmt: skip
        used, auto = fit.threshold, fit.auto
    elif isinstance(threshold, str):
        raise UsageError(f"threshold must be a number or 'auto', got {threshold!r}")
    else:
        used = float(threshold)
    leader = make_clusterer("leader", threshold=used, seed=seed, **options)
    face_ids, image_ids, parts = [], [], []
    for part in itertools.chain([first], blocks):
        face_ids.append(part.face_ids)
        image_ids.append(part.image_ids)
        parts.append(leader.partial_fit(part.vectors))
    labels, photos = np.concatenate(parts), np.concatenate(image_ids)
    split = 0
    people, _, _ = same_photo_conflicts(labels, photos)
    if len(people):
        rows = np.flatnonzero(np.isin(labels, people))
        vectors = np.concatenate(
            [b.vectors for b in _rows_of(catalog.iter_face_blocks(block, order="path"), rows)]
        )
        result = split_same_photo(
            vectors, labels[rows], photos[rows], first_new=int(labels.max()) + 1
        )
        labels[rows], split = result.labels, result.people_split
    sums = PersonSums()
    for part, part_labels in _labelled_blocks(catalog, block, labels):
        sums.add(part.vectors, part_labels)
    people = sums.people()
    blocks = _labelled_blocks(catalog, block, labels)
    far = people.farthest((part.vectors, part_labels) for part, part_labels in blocks)
    return np.concatenate(face_ids), PeopleFit(labels, used, auto, split), people.quality(far)


def _labelled_blocks(
    catalog: Catalog, block: int, labels: np.ndarray
) -> Iterator[tuple[FaceMatrix, np.ndarray]]:
    """The catalog's faces block by block in path order, each with its labels."""
    offset = 0
    for part in catalog.iter_face_blocks(block, order="path"):
        yield part, labels[offset : offset + len(part)]
        offset += len(part)


def _rows_of(blocks: Iterator[FaceMatrix], rows: np.ndarray) -> Iterator[FaceMatrix]:
    """The given rows (sorted positions in the stream) of a stream of blocks."""
    offset = 0
    for part in blocks:
        take = rows[(rows >= offset) & (rows < offset + len(part))] - offset
        if len(take):
            yield FaceMatrix(part.face_ids[take], part.image_ids[take], part.vectors[take])
        offset += len(part)
