"""Merge suggestions ("these may be the same person") and the people to check first.

A grouping that leaves one person in two parts leaves two people whose mean directions nearly
coincide (``faceatlas.people.quality``). ``merge_suggestions`` lists the pairs of people whose
means lie closer than ``SUGGEST_SHARE`` of the model's cut, nearest first, leaving out pairs
that cannot be one person: both named, sharing a photo, or dismissed by the user
(``dismiss_suggestion``: the pair does not come back). Accepting one is a merge
(``faceatlas.people.edit.merge_people``).

For the dlib model (cut 0.40) the bound is 0.30, the distance between means under which
``quality`` calls a person doubtful, measured with labels on LFW and CelebA collections.
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

SUGGEST_SHARE = 0.75  # of the model's cut: 0.30 for dlib's ResNet, quality's NEAREST_DOUBT
NEIGHBOURS = 5  # nearest other people looked at per person
DEFAULT_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Two people that may be one, and the distance between their mean directions."""

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
    close = close_pairs(
        matrix.vectors, person, set(people), SUGGEST_SHARE * catalog.face_set.spec.cut
    )
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
    """(low, high) person ids -> distance between their mean directions, for the pairs of
    ``wanted`` people (``person``: each row's person) closer than ``bound``, nearest first
    (each person's ``NEIGHBOURS`` nearest looked at)."""
    ids, means = person_means(vectors, person, wanted)
    if len(ids) < 2:
        return {}
    from faceatlas.graph import knn_graph  # lazy: faiss

    graph = knn_graph(means, min(NEIGHBOURS, len(ids) - 1))
    close: dict[tuple[int, int], float] = {}
    for row, (neighbours, distances) in enumerate(
        zip(graph.neighbors, graph.distances, strict=True)
    ):
        for col, dist in zip(neighbours.tolist(), distances.tolist(), strict=True):
            if col < 0 or col == row or dist >= bound:
                continue
            low, high = sorted((int(ids[row]), int(ids[col])))
            close[low, high] = min(float(dist), close.get((low, high), np.inf))
    return dict(sorted(close.items(), key=lambda item: (item[1], item[0])))


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
) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the ``wanted`` people that hold faces (``person``: each row's person) and their
    mean directions (unit rows)."""
    kept = np.isin(person, np.fromiter(wanted, np.int64, len(wanted)))
    ids, inverse = np.unique(person[kept], return_inverse=True)
    sums = np.zeros((len(ids), vectors.shape[1]), np.float64)
    np.add.at(sums, inverse, vectors[kept])
    sums /= np.maximum(np.linalg.norm(sums, axis=1), 1e-12)[:, None]
    return ids, sums.astype(np.float32)


def _sharing_a_photo(catalog: Catalog, pairs: dict[tuple[int, int], float]) -> set[tuple[int, int]]:
    """The pairs whose two people hold faces of one photo (one of the two is someone else)."""
    photos: dict[int, set[int]] = {}
    for pid, image_id in catalog.person_photos({p for pair in pairs for p in pair}):
        photos.setdefault(pid, set()).add(image_id)
    return {(a, b) for a, b in pairs if photos.get(a, set()) & photos.get(b, set())}
