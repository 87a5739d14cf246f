"""New faces join the people that exist, without grouping everything again.

``assign_new_faces`` looks only at the faces the last grouping has not seen (face ids above its
``last_face_id``) that belong to nobody:

1. **Join.** Each new face joins the person of its nearest grouped faces within the face set's
   last cut (the current clustering's ``threshold``): the person whose faces among its ``k``
   nearest within the cut are closest (sum of how far inside the cut each is), unless that
   breaks a rule (the person rejected the face, or holds a face of its photo, counting the faces
   that joined before it); then the next person. The most certain faces go first.
2. **Wait or form.** The new faces that joined nobody are grouped, with the faces waiting in no
   person within the cut of them, by the same method at the same cut (the same rules as the full
   grouping, the one-photo rule included): the groups become new people, with new numbers.
3. **Store** with ``Catalog.extend_people``: only the new faces' rows are written (no face
   that has a person moves, so the user's corrections hold; the catalog refuses a join that
   breaks a rule), and new people take the next numbers.

Faces that joined no one wait in no person until new faces near them form a person with them
(or ``faceatlas cluster --fresh`` regroups everything). A grouping without one cut (k-means, or
per segment) is redone in full instead, mapped onto the existing people the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.people.cluster import AUTO, ClusterSummary, cluster_catalog, cluster_vectors
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, METHODS, make_clusterer
from faceatlas.people.segments import cluster_per_segment

NEIGHBOURS = 10  # grouped faces looked at per new face
# clustering params that are settings of the cluster step, not of the method
_NOT_OPTIONS = {
    "threshold", "seed", "k", "auto", "doubtful", "n_clusters", "per_segment", "segments",
    "segment_cuts", "thresholds_used", "incremental", "knn",
}  # fmt: skip


@dataclass(slots=True)
class IncrementalSummary:
    """What ``assign_new_faces`` did."""

    faces: int  # faces of the face set
    people: int  # people of the face set after
    singletons: int  # faces in no person or alone in one
    method: str
    threshold: float | None
    seconds: float
    new_faces: int  # faces grouped for the first time
    joined: int  # of them, faces that joined an existing person
    new_people: int  # people formed among the new (and waiting) faces
    waiting: int  # faces in no person after this
    auto: dict | None = None

    @property
    def reason(self) -> str:
        return (
            f"{self.new_faces} new faces: {self.joined} joined people, "
            f"{self.new_people} new people, {self.waiting} faces in no person "
            f"(cut {self.threshold:.3f}, {self.method})"
        )


def assign_new_faces(
    catalog: Catalog, *, k: int = NEIGHBOURS, threshold: float | str | None = None
) -> IncrementalSummary | ClusterSummary:
    """Group the face set's new faces into its existing people (see the module doc).

    A face set never grouped is grouped in full (``cluster_catalog``, at ``threshold``, default
    auto); so is one grouped without a single cut. ``threshold`` overrides the last cut.
    """
    clustering = catalog.clustering()
    if clustering is None:
        return cluster_catalog(catalog, threshold=AUTO if threshold is None else threshold)
    params = clustering["params"]
    method = clustering["method"]
    if method not in METHODS:  # stored by hand (labels from elsewhere): group with the default
        method = DEFAULT_METHOD
    cut = params.get("threshold") if threshold is None else threshold
    if params.get("per_segment"):
        return cluster_per_segment(catalog, method=method, **_same_settings(params))
    if not isinstance(cut, (int, float)) or method == "kmeans":
        settings = _same_settings(params)
        if isinstance(cut, (int, float)):
            settings["threshold"] = cut
        return cluster_catalog(catalog, method=method, **settings)
    started = time.monotonic()
    cut = float(cut)
    catalog.tidy_people()  # faces of removed or changed photos left their people
    matrix, person = catalog.grouped_faces()
    last = clustering["last_face_id"]
    new = np.flatnonzero((person < 0) & (matrix.face_ids > last))
    joins = _join(catalog, matrix, person, new, cut, k)
    rest = np.array([r for r in new if int(matrix.face_ids[r]) not in joins], np.int64)
    groups: list[list[int]] = []
    if len(rest):
        waiting = np.flatnonzero((person < 0) & (matrix.face_ids <= last))
        near = _within(matrix.vectors, waiting, rest, cut, k)
        rows = np.concatenate([rest, near])
        found = _group(matrix.vectors[rows], matrix.image_ids[rows], method, cut, params)
        labels, counts = np.unique(found[found >= 0], return_counts=True)
        for label in labels[np.lexsort((labels, -counts))]:  # largest first: lower numbers
            groups.append(matrix.face_ids[rows[found == label]].tolist())
    grouped = len(joins) + sum(len(g) for g in groups)
    if len(new) or grouped:
        record = {**params, "incremental": {"new_faces": len(new), "joined": len(joins),
                                            "new_people": len(groups)}}  # fmt: skip
        catalog.extend_people(clustering["method"], record, joins, groups)
    people, single = catalog.people_count()
    waiting_now = int((person < 0).sum()) - grouped
    return IncrementalSummary(
        faces=len(matrix),
        people=people,
        singletons=single + waiting_now,
        method=method,
        threshold=cut,
        seconds=time.monotonic() - started,
        new_faces=len(new),
        joined=len(joins),
        new_people=len(groups),
        waiting=waiting_now,
    )


def _join(
    catalog: Catalog, matrix: Any, person: np.ndarray, new: np.ndarray, cut: float, k: int
) -> dict[int, int]:
    """face id -> the existing person each new face (rows ``new``) joins."""
    grouped = np.flatnonzero(person >= 0)
    if not len(new) or not len(grouped):
        return {}
    dist, idx = _nearest(matrix.vectors[grouped], matrix.vectors[new], min(k, len(grouped)))
    score_of: list[list[tuple[float, int]]] = []
    for row in range(len(new)):
        scores: dict[int, float] = {}
        for d, j in zip(dist[row].tolist(), idx[row].tolist(), strict=True):
            if j >= 0 and d <= cut:
                pid = int(person[grouped[j]])
                scores[pid] = scores.get(pid, 0.0) + (cut - d)
        score_of.append(sorted((-s, p) for p, s in scores.items()))
    candidates = {p for scores in score_of for _, p in scores}
    held = catalog.person_photos(candidates)  # (person, photo) pairs already taken
    rejected = catalog.rejected_pairs(matrix.face_ids[new].tolist())
    order = sorted(range(len(new)), key=lambda r: score_of[r][0][0] if score_of[r] else 0.0)
    joins: dict[int, int] = {}
    for row in order:
        face = int(matrix.face_ids[new[row]])
        image = int(matrix.image_ids[new[row]])
        for _, pid in score_of[row]:
            if (face, pid) in rejected or (pid, image) in held:
                continue
            joins[face] = pid
            held.add((pid, image))
            break
    return joins


def _within(
    vectors: np.ndarray, candidates: np.ndarray, queries: np.ndarray, cut: float, k: int
) -> np.ndarray:
    """Rows of ``candidates`` within ``cut`` of some row of ``queries`` (among its k nearest)."""
    if not len(candidates) or not len(queries):
        return np.zeros(0, np.int64)
    dist, idx = _nearest(vectors[candidates], vectors[queries], min(k, len(candidates)))
    hit = (idx >= 0) & (dist <= cut)
    return candidates[np.unique(idx[hit])]


def _nearest(base: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distances (unit vectors) and rows of the ``k`` nearest rows of ``base``."""
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, None)), idx


def _group(
    vectors: np.ndarray, image_ids: np.ndarray, method: str, cut: float, params: dict
) -> np.ndarray:
    """Labels of the faces that joined nobody, by the grouping's method at its cut."""
    if len(vectors) == 1:
        return np.zeros(1, np.int64)
    options = _method_options(method, params)
    labels, _, _ = cluster_vectors(
        vectors, image_ids, method=method, threshold=cut, seed=int(params.get("seed", 0)),
        k=max(1, min(int(params.get("k", DEFAULT_K)), len(vectors) - 1)), **options,
    )  # fmt: skip
    return np.asarray(labels, np.int64)


def _method_options(method: str, params: dict) -> dict:
    """The method-specific settings the grouping was made with (those the method takes)."""
    options = {key: value for key, value in params.items() if key not in _NOT_OPTIONS}
    try:
        make_clusterer(method, **options)
    except ValueError:
        return {}
    return options


def _same_settings(params: dict) -> dict:
    """cluster_catalog / cluster_per_segment keywords that redo a grouping as it was made."""
    settings: dict[str, Any] = {
        "threshold": params.get("threshold", AUTO),
        "seed": int(params.get("seed", 0)),
        "k": int(params.get("k", DEFAULT_K)),
    }  # fmt: skip
    if params.get("n_clusters") is not None:
        settings["n_clusters"] = int(params["n_clusters"])
    if not isinstance(settings["threshold"], (int, float)) and settings["threshold"] != AUTO:
        settings["threshold"] = AUTO
    options = {key: value for key, value in params.items() if key not in _NOT_OPTIONS}
    return {**settings, **options}
