"""How sure each person is: the spread of its faces and how close the nearest other person is.

Two numbers per person of two or more faces, both from the sum of its unit embeddings ``s``
and its size ``n`` (so a streamed catalog needs one pass and memory per person, not per face):

- **spread**: root-mean-square distance of its faces to its mean direction ``s / |s|``, which
  is ``sqrt(2 - 2 |s| / n)`` for unit vectors. One person's faces lie within the model's
  same-person distances of each other; two people merged into one lie farther apart.
- **nearest**: distance from its mean direction to the nearest other person's (of two or more
  faces). Two parts of one person left apart have nearly the same mean direction.

A person is **doubtful** when its spread is above ``SPREAD_DOUBT`` or the nearest other person
is closer than ``NEAREST_DOUBT``. Both bounds are properties of the face model (distances
between unit vectors, measured on LFW and CelebA with their labels: docs/clustering.md), not
of a collection. Doubtful people are the ones worth checking first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPREAD_DOUBT = 0.26  # RMS distance of faces to the mean direction
NEAREST_DOUBT = 0.42  # distance between two people's mean directions


@dataclass(frozen=True, slots=True)
class PersonQuality:
    """The quality of one person (``label``): see the module docstring."""

    label: int
    size: int
    spread: float
    nearest: float  # inf when there is no other person of two or more faces
    doubtful: bool

    @property
    def score(self) -> float:
        """1 for a tight person far from the others, lower the more doubtful (0..1)."""
        spread = min(1.0, SPREAD_DOUBT / max(self.spread, 1e-9))
        nearest = min(1.0, self.nearest / NEAREST_DOUBT)
        return round(min(spread, nearest), 4)


class PersonSums:
    """Sum of unit embeddings and count per label, accumulated block by block."""

    def __init__(self) -> None:
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}

    def add(self, vectors: np.ndarray, labels: np.ndarray) -> None:
        labels = np.asarray(labels)
        kept = labels >= 0
        if not kept.any():
            return
        ids, inverse = np.unique(labels[kept], return_inverse=True)
        sums = np.zeros((len(ids), vectors.shape[1]), np.float64)
        np.add.at(sums, inverse, vectors[kept])
        counts = np.bincount(inverse, minlength=len(ids))
        for label, row, count in zip(ids.tolist(), sums, counts.tolist(), strict=True):
            if label in self.sums:
                self.sums[label] += row
                self.counts[label] += count
            else:
                self.sums[label] = row
                self.counts[label] = count


def people_quality(vectors: np.ndarray, labels: np.ndarray) -> list[PersonQuality]:
    """Quality of every person of two or more faces in ``labels`` (rows of ``vectors``)."""
    sums = PersonSums()
    sums.add(np.asarray(vectors), labels)
    return quality_from_sums(sums)


def quality_from_sums(sums: PersonSums) -> list[PersonQuality]:
    """Quality of every person of two or more faces, from accumulated sums."""
    labels = [label for label, n in sums.counts.items() if n >= 2]
    if not labels:
        return []
    total = np.array([sums.sums[label] for label in labels])
    size = np.array([sums.counts[label] for label in labels], dtype=np.float64)
    length = np.linalg.norm(total, axis=1)
    spread = np.sqrt(np.clip(2.0 - 2.0 * length / size, 0.0, 4.0))
    means = (total / np.maximum(length, 1e-12)[:, None]).astype(np.float32)
    nearest = _nearest_other(means)
    return [
        PersonQuality(
            label=label,
            size=int(n),
            spread=round(float(s), 4),
            nearest=round(float(d), 4) if np.isfinite(d) else float("inf"),
            doubtful=bool(s > SPREAD_DOUBT or d < NEAREST_DOUBT),
        )
        for label, n, s, d in zip(labels, size, spread, nearest, strict=True)
    ]


def _nearest_other(means: np.ndarray) -> np.ndarray:
    """Distance from each row to its nearest other row (inf for a single row)."""
    if len(means) < 2:
        return np.full(len(means), np.inf)
    from faceatlas.graph import knn_graph  # lazy: faiss

    graph = knn_graph(means, 1)
    return graph.distances[:, 0].astype(np.float64)
