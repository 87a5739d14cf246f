"""Merge suggestions ("these may be the same person") and the people to check first.

Two people are as far apart as their faces are from each other, on average: the *average
linkage* distance, the root mean squared distance between a face of one and a face of the other,
``sqrt(2 - 2 m_a . m_b)`` with ``m`` each person's plain mean of unit embeddings (so it costs one
dot product per pair). ``merge_suggestions`` lists the pairs of people whose faces are, on
average, within the model's cut (its "same person" distance), nearest first, leaving out pairs
that cannot be one person or need no suggestion: two single faces (the grouping weighed them
already), both named, sharing a photo, or dismissed by the user (``dismiss_suggestion``: the pair
does not come back). Accepting one is a merge (``faceatlas.people.edit.merge_people``).

Measured with labels on collections of many shapes (``bench/suggestions.py``,
docs/benchmarks.md): ranking by the distance between mean *directions* put people made of many
strangers first (their means shrink towards an "average face" and meet), most suggestions wrong;
average linkage counts a mixed person's short mean as the spread it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from faceatlas.catalog.people import PersonRow
from faceatlas.errors import UsageError
from faceatlas.people.quality import catalog_quality

if TYPE_CHECKING:
    from faceatlas.catalog import Catalog

NEIGHBOURS = 10  # nearest other people (by mean direction) looked at per person
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Two people that may be one, and their average linkage distance."""

    first: PersonRow
    second: PersonRow
    distance: float

    @property
    def suggestion_id(self) -> str:
        """``low-high`` person ids: the same pair has the same id whatever the order."""
        low, high = sorted((self.first.person_id, self.second.person_id))
        return f"{low}-{high}"

    def to_json(self) -> dict:
        from faceatlas.people.edit import person_json  # edit imports the catalog's people

        return {
            "id": self.suggestion_id,
            "people": [person_json(self.first), person_json(self.second)],
            "distance": round(self.distance, 4),
        }


def merge_suggestions(catalog: Catalog, limit: int = DEFAULT_LIMIT) -> list[Suggestion]:
    """Up to ``limit`` pairs of shown people that may be one person, nearest first."""
    people = {p.person_id: p for p in catalog.people(hidden=False)}
    matrix, person = catalog.grouped_faces()
    close = close_pairs(matrix.vectors, person, set(people), catalog.face_set.spec.cut)
    ruled_out = catalog.dismissed_pairs() | _sharing_a_photo(catalog, close)
    found = [
        Suggestion(people[a], people[b], d)
        for (a, b), d in close.items()
        if (a, b) not in ruled_out and not (people[a].name and people[b].name)
    ]
    return found[:limit]


def close_pairs(
    vectors: np.ndarray, person: np.ndarray, wanted: set[int], bound: float
) -> dict[tuple[int, int], float]:
    """(low, high) person ids -> average linkage distance, for the pairs of ``wanted`` people
    (``person``: each row's person) closer than ``bound`` and not both single faces, nearest
    first.

    Candidates are each person's ``NEIGHBOURS`` nearest by mean direction: a pair within
    ``bound`` on average has mean directions within ``bound`` too (``|m| <= 1``)."""
    ids, means, counts = person_means(vectors, person, wanted)
    if len(ids) < 2:
        return {}
    from faceatlas.graph import knn_graph  # lazy: faiss

    lengths = np.maximum(np.linalg.norm(means, axis=1), 1e-12)
    graph = knn_graph((means / lengths[:, None]).astype(np.float32), min(NEIGHBOURS, len(ids) - 1))
    rows = np.repeat(np.arange(len(ids)), graph.neighbors.shape[1])
    cols = graph.neighbors.ravel()
    keep = (cols >= 0) & (cols != rows)
    rows, cols = rows[keep], cols[keep]
    keep = (counts[rows] > 1) | (counts[cols] > 1)  # never two single faces
    rows, cols = rows[keep], cols[keep]
    dots = np.einsum("ij,ij->i", means[rows], means[cols])
    dist = np.sqrt(np.clip(2.0 - 2.0 * dots, 0.0, 4.0))
    keep = dist < bound
    low = np.minimum(ids[rows[keep]], ids[cols[keep]])
    high = np.maximum(ids[rows[keep]], ids[cols[keep]])
    dist = dist[keep]
    order = np.lexsort((high, low, dist))  # nearest first; a pair found twice: same distance
    close: dict[tuple[int, int], float] = {}
    for a, b, d in zip(*(x[order].tolist() for x in (low, high, dist)), strict=True):
        close.setdefault((a, b), d)
    return close


def dismiss_suggestion(catalog: Catalog, suggestion_id: str) -> None:
    """The two people of ``suggestion_id`` (``low-high``) are not one: never suggest them
    again."""
    low, dash, high = suggestion_id.partition("-")
    if not (dash and low.isascii() and low.isdigit() and high.isascii() and high.isdigit()):
        raise UsageError(f"not a suggestion id: {suggestion_id!r} (two person ids, as 12-40)")
    catalog.dismiss_pair(int(low), int(high))


def doubtful_people(catalog: Catalog) -> set[int]:
    """Ids of the people the grouping's quality score flags: check these first."""
    return {pid for pid, quality in catalog_quality(catalog).items() if quality.doubtful}


def person_means(
    vectors: np.ndarray, person: np.ndarray, wanted: set[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ids of the ``wanted`` people that hold faces (``person``: each row's person), the plain
    mean of each one's unit embeddings (length 1 when all its faces agree, shorter the more they
    spread) and its number of faces."""
    kept = np.isin(person, np.fromiter(wanted, np.int64, len(wanted)))
    order = np.argsort(person[kept], kind="stable")
    grouped = person[kept][order]
    ids, starts, counts = np.unique(grouped, return_index=True, return_counts=True)
    if not len(ids):
        return ids, np.zeros((0, vectors.shape[1])), counts
    sums = np.add.reduceat(vectors[kept][order].astype(np.float64), starts, axis=0)
    return ids, sums / counts[:, None], counts


def average_linkage(mean: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Root mean squared distance between the faces of a person of plain mean ``mean`` and
    those of each person of ``means`` (unit embeddings: ``sqrt(2 - 2 m_a . m_b)``)."""
    return np.sqrt(np.clip(2.0 - 2.0 * (means @ mean), 0.0, 4.0))


def _sharing_a_photo(catalog: Catalog, pairs: dict[tuple[int, int], float]) -> set[tuple[int, int]]:
    """The pairs whose two people hold faces of one photo (one of the two is someone else)."""
    photos: dict[int, set[int]] = {}
    for pid, image_id in catalog.person_photos({p for pair in pairs for p in pair}):
        photos.setdefault(pid, set()).add(image_id)
    return {(a, b) for a, b in pairs if photos.get(a, set()) & photos.get(b, set())}
