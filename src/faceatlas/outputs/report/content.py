"""What the report shows, computed from the catalog: numbers, people, typicality order."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow, PersonRow
from faceatlas.errors import FaceatlasError
from faceatlas.people.quality import people_quality


class ReportError(FaceatlasError):
    """The report cannot be written as asked; ``str(err)`` says why and what to do."""


@dataclass(slots=True)
class Person:
    """One person of the current clustering, faces ordered most typical first."""

    row: PersonRow
    face_ids: np.ndarray  # most typical (nearest the centroid) first
    distances: np.ndarray  # Euclidean distance of each face to the unit centroid
    doubtful: bool = False  # spread out, or close to another person (people.quality)

    @property
    def label(self) -> str:
        return self.row.label


@dataclass(slots=True)
class Content:
    """Everything the report renders, before any file is written."""

    stats: dict
    clustering: dict | None
    errors: list[tuple[str, str]]
    faces: dict[int, FaceRow]  # by face id
    face_ids: np.ndarray  # (N,) every face, by id, aligned with ``vectors``
    vectors: np.ndarray  # (N, D) unit embeddings
    people: list[Person]  # every person of min_faces+ faces: doubtful ones first, then by size
    person_sizes: np.ndarray  # size of every person, singletons included
    unknown_ids: np.ndarray  # faces in no person of min_faces+ faces, by id
    min_faces: int

    def person_of(self) -> dict[int, str]:
        """face id -> person label, for faces in a person of min_faces+ faces."""
        return {int(f): p.label for p in self.people for f in p.face_ids}


def gather(catalog: Catalog, min_faces: int = 2, max_errors: int = 50) -> Content:
    """Read the catalog once and order every person's faces by typicality."""
    if min_faces < 1:
        raise ReportError(f"min_faces must be >= 1, got {min_faces}")
    matrix = catalog.face_matrix()
    rows = catalog.faces()
    if len(rows) != len(matrix) or any(
        r.face_id != f for r, f in zip(rows, matrix.face_ids.tolist(), strict=True)
    ):
        raise ReportError("faces and embeddings of the catalog disagree; re-run `faceatlas index`")
    person_rows = catalog.people()
    by_id = {p.person_id: p for p in person_rows}
    person_index = {p.person_id: i for i, p in enumerate(person_rows)}
    labels = np.array(
        [person_index[r.person_id] if r.person_id is not None else -1 for r in rows],
        dtype=np.int64,
    )
    doubtful = {q.label for q in people_quality(matrix.vectors, labels) if q.doubtful}
    people = [
        Person(by_id[person_rows[i].person_id], ids, dist, i in doubtful)
        for i, (ids, dist) in enumerate(typical_order(matrix.vectors, labels, matrix.face_ids))
        if person_rows[i].size >= min_faces
    ]
    people.sort(key=lambda person: not person.doubtful)  # stable: by size within each
    in_person = {int(f) for p in people for f in p.face_ids}
    unknown = np.array([f for f in matrix.face_ids.tolist() if f not in in_person], np.int64)
    return Content(
        stats=catalog.stats(),
        clustering=catalog.clustering(),
        errors=catalog.errors(limit=max_errors),
        faces={r.face_id: r for r in rows},
        face_ids=matrix.face_ids,
        vectors=matrix.vectors,
        people=people,
        person_sizes=np.array([p.size for p in person_rows], dtype=np.int64),
        unknown_ids=unknown,
        min_faces=min_faces,
    )


def typical_order(
    vectors: np.ndarray, labels: np.ndarray, face_ids: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per label 0..L-1: (face ids, distances to the label's unit centroid), nearest first.

    The centroid of unit vectors, renormalised, is the person's typical face; the faces far
    from it are the likeliest wrong members, so they come last.

    >>> v = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> [ids.tolist() for ids, _ in typical_order(v, np.array([0, 0, 0]), np.array([7, 8, 9]))]
    [[8, 7, 9]]
    """
    if len(labels) == 0 or labels.max() < 0:
        return []
    count = int(labels.max()) + 1
    rows = np.flatnonzero(labels >= 0)
    rows = rows[np.argsort(labels[rows], kind="stable")]  # grouped by label
    bounds = np.searchsorted(labels[rows], np.arange(count + 1))
    filled = bounds[:-1] < bounds[1:]
    sums = np.zeros((count, vectors.shape[1]), dtype=np.float64)
    grouped = np.asarray(vectors[rows], dtype=np.float64)
    sums[filled] = np.add.reduceat(grouped, bounds[:-1][filled], axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    centroids = sums / np.where(norms > 0, norms, 1.0)
    distances = np.linalg.norm(grouped - centroids[labels[rows]], axis=1)
    order = np.lexsort((face_ids[rows], distances, labels[rows]))  # label, distance, id
    rows, distances = rows[order], distances[order]
    return [(face_ids[rows[a:b]], distances[a:b]) for a, b in pairwise(bounds)]


def shown_faces(person: Person, limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The faces a contact sheet shows: (head, tail, hidden count).

    Up to ``limit`` faces: the most typical two thirds and the least typical third, so the
    likeliest mistakes stay visible however large the person is.
    """
    ids = person.face_ids
    if len(ids) <= limit:
        return ids, ids[:0], 0
    tail = limit // 3
    head = limit - tail
    return ids[:head], ids[len(ids) - tail :], len(ids) - limit
