"""How sure each person is: how spread its faces are and how close the nearest other person is.

For every person of two or more faces, from the mean direction ``m`` of its unit embeddings:

- **spread**: root-mean-square distance of its faces to ``m`` (for unit vectors
  ``sqrt(2 - 2 |s| / n)`` with ``s`` the sum of its ``n`` faces);
- **farthest**: the largest distance of one of its faces to ``m``: a stranger's face held by a
  person sits far from the others;
- **nearest**: distance from ``m`` to the nearest other person's mean direction: the parts of
  one person left apart have nearly the same mean.

A person is **doubtful** when ``nearest < NEAREST_DOUBT`` (perhaps a part of another person)
or ``farthest > FARTHEST_DOUBT`` (perhaps holds a stranger). Both bounds are distances of the
face model, measured with labels on LFW and CelebA collections at the automatic cut
(docs/clustering.md: about 14 % of the people are flagged; half of the flagged are wrong, 5x
the rate among the rest, and they hold three quarters of all wrong people). They do not
depend on the collection.

Everything comes from per-person sums and one more pass over the faces, so a streamed catalog
needs memory per person, not per face.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from faceatlas.catalog import Catalog

NEAREST_DOUBT = 0.30  # distance between two people's mean directions
FARTHEST_DOUBT = 0.33  # distance of a face to its person's mean direction


@dataclass(frozen=True, slots=True)
class PersonQuality:
    """The quality of one person (``label``): see the module docstring."""

    label: int
    size: int
    spread: float
    farthest: float
    nearest: float  # inf when there is no other person of two or more faces

    @property
    def doubtful(self) -> bool:
        return self.nearest < NEAREST_DOUBT or self.farthest > FARTHEST_DOUBT

    @property
    def score(self) -> float:
        """1 for a person well inside both bounds; below 1 the more doubtful (0..1)."""
        near = min(1.0, self.nearest / NEAREST_DOUBT)
        far = min(1.0, FARTHEST_DOUBT / max(self.farthest, 1e-9))
        return round(min(near, far), 4)


class PersonSums:
    """Sum of unit embeddings and count per label, accumulated block by block."""

    def __init__(self) -> None:
        self._sums: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        labels = np.asarray(labels)
        kept = labels >= 0
        if not kept.any():
            return
        ids, inverse = np.unique(labels[kept], return_inverse=True)
        sums = np.zeros((len(ids), vectors.shape[1]), np.float64)
        np.add.at(sums, inverse, np.asarray(vectors)[kept])
        counts = np.bincount(inverse, minlength=len(ids))
        for label, row, count in zip(ids.tolist(), sums, counts.tolist(), strict=True):
            if label in self._sums:
                self._sums[label] += row
                self._counts[label] += count
            else:
                self._sums[label] = row
                self._counts[label] = count

    def people(self) -> PeopleMeans:
        """Mean direction, size and spread of each person of two or more faces."""
        labels = np.array(sorted(k for k, n in self._counts.items() if n >= 2), np.int64)
        if not len(labels):
            return PeopleMeans(labels, np.zeros(0), np.zeros((0, 0), np.float32), np.zeros(0))
        total = np.array([self._sums[k] for k in labels.tolist()])
        size = np.array([self._counts[k] for k in labels.tolist()], np.float64)
        length = np.linalg.norm(total, axis=1)
        spread = np.sqrt(np.clip(2.0 - 2.0 * length / size, 0.0, 4.0))
        means = (total / np.maximum(length, 1e-12)[:, None]).astype(np.float32)
        return PeopleMeans(labels, size, means, spread)


@dataclass(slots=True)
class PeopleMeans:
    labels: np.ndarray
    size: np.ndarray
    means: np.ndarray
    spread: np.ndarray

    def farthest(self, blocks: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Largest distance of a face to its person's mean, over (vectors, labels) blocks."""
        far = np.zeros(len(self.labels))
        if not len(self.labels):
            return far
        for vectors, labels in blocks:
            row = np.clip(np.searchsorted(self.labels, labels), 0, len(self.labels) - 1)
            mine = (self.labels[row] == labels) & (labels >= 0)
            if not mine.any():
                continue
            sims = np.einsum("ij,ij->i", np.asarray(vectors)[mine], self.means[row[mine]])
            dist = np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, 4.0))
            np.maximum.at(far, row[mine], dist)
        return far

    def quality(self, farthest: np.ndarray) -> list[PersonQuality]:
        nearest = _nearest_other(self.means)
        return [
            PersonQuality(
                label=int(label),
                size=int(n),
                spread=round(float(s), 4),
                farthest=round(float(f), 4),
                nearest=round(float(d), 4) if np.isfinite(d) else float("inf"),
            )
            for label, n, s, f, d in zip(
                self.labels, self.size, self.spread, farthest, nearest, strict=True
            )
        ]


def people_quality(vectors: np.ndarray, labels: np.ndarray) -> list[PersonQuality]:
    """Quality of every person of two or more faces in ``labels`` (rows of ``vectors``).

    >>> X = np.array([[1, 0], [0.96, 0.28], [0, 1], [0.28, 0.96]], dtype=np.float32)
    >>> [(q.label, q.size, q.doubtful) for q in people_quality(X, np.array([0, 0, 1, 1]))]
    [(0, 2, False), (1, 2, False)]
    """
    sums = PersonSums()
    sums.add(vectors, labels)
    people = sums.people()
    return people.quality(people.farthest([(vectors, np.asarray(labels))]))


def _nearest_other(means: np.ndarray) -> np.ndarray:
    """Distance from each row to its nearest other row (inf for a single row)."""
    if len(means) < 2:
        return np.full(len(means), np.inf)
    from faceatlas.graph import knn_graph  # lazy: faiss

    return knn_graph(means, 1).distances[:, 0].astype(np.float64)


def catalog_quality(catalog: Catalog) -> dict[int, PersonQuality]:
    """Quality of each stored person of two or more faces, by person id (for the report and
    the people page: doubtful people first)."""
    matrix = catalog.face_matrix(order="id")
    face_ids, people = catalog.assignments()
    if not np.array_equal(face_ids, matrix.face_ids):
        raise RuntimeError("the catalog's faces and assignments disagree")  # changed meanwhile
    return {q.label: q for q in people_quality(matrix.vectors, people)}
