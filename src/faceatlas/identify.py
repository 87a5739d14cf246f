"""Who is in these photos? Each face named after the nearest known person, or unknown.

The known people are reference faces with names: the largest face of each photo of a folder of
known people (``faceatlas.people.known``), or every face of every named person of a catalog. A
query face takes the name of its nearest reference face when that face is within ``tolerance``
(a Euclidean distance between unit embeddings, 0..2; by default the model's calibrated "same
person" cut, ``ModelSpec.cut``), and is unknown otherwise. One name per face, never several.

Photos are analysed by ``engines.local`` (a pool of worker processes, the model built once in
each) and come back in input order, a few at a time: memory holds the faces of the photos in
flight, never the photos. The reference photos of a folder go through the same pool first.

>>> known = KnownFaces(("ann", "bob"), np.eye(2, dtype=np.float32))
>>> queries = np.array([[0.8, 0.6], [0.0, -1.0]], dtype=np.float32)
>>> [(v.name, round(v.distance, 3)) for v in identify(known, queries, tolerance=0.7)]
[('ann', 0.632), (None, 1.414)]
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain, islice

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.decode import DEFAULT_MAX_PIXELS
from faceatlas.engines.local import run_local_items
from faceatlas.errors import UsageError
from faceatlas.faces.model import FaceModel
from faceatlas.faces.record import Face, ImageResult, largest_face
from faceatlas.paths import shown_path
from faceatlas.people.known import KnownPhoto
from faceatlas.sources import ImageFile, is_video, iter_image_files

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One face's answer: the known person's name (None: unknown) and the distance to the
    nearest reference face, whoever it shows."""

    name: str | None
    distance: float


@dataclass(frozen=True, slots=True, eq=False)
class KnownFaces:
    """Reference faces: ``names[i]`` is the person whose unit embedding is ``vectors[i]``."""

    names: tuple[str, ...]
    vectors: np.ndarray = field(repr=False)  # (N, D) float32, unit rows

    def __post_init__(self) -> None:
        if not self.names:
            raise UsageError("no known faces to compare with")
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.names):
            raise UsageError(
                f"{len(self.names)} names for reference vectors of shape {self.vectors.shape}"
            )

    @classmethod
    def from_results(
        cls,
        photos: Sequence[KnownPhoto],
        results: Iterable[ImageResult],
        warn: Callable[[str], None] = log.warning,
    ) -> KnownFaces:
        """The largest face of each reference photo (``results[i]`` is ``photos[i]`` analysed).

        A photo without a face, or that cannot be read, is left out and one with several faces
        gives its largest; ``warn`` says so, naming the photo."""
        names, vectors = [], []
        for photo, result in zip(photos, results, strict=True):
            where = f"known photo {shown_path(photo.path)}"
            if result.status == "error":
                warn(f"{where}: {result.error}; left out")
                continue
            if not result.faces:
                warn(f"{where}: no face found; left out")
                continue
            if len(result.faces) > 1:
                warn(f"{where}: {len(result.faces)} faces; the largest is taken as {photo.name}")
            largest = largest_face(result.faces)
            names.append(photo.name)
            vectors.append(largest.embedding)
        if not vectors:
            raise UsageError("known people: no face found in any of the known photos")
        return cls(tuple(names), np.asarray(vectors, dtype=np.float32))

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> KnownFaces:
        """Every face of every named person of the catalog's selected face set."""
        named = {person.person_id: person.name for person in catalog.people() if person.name}
        if not named:
            raise UsageError(
                "no named people in the catalog: name some with `faceatlas people name PERSON "
                "NAME`, or give reference photos with --known DIR"
            )
        person_of = {
            face_id: person_id
            for person_id, face_ids in catalog.person_faces(list(named)).items()
            for face_id in face_ids
        }
        matrix = catalog.face_vectors(list(person_of))
        names = tuple(named[person_of[int(face_id)]] for face_id in matrix.face_ids)
        return cls(names, np.asarray(matrix.vectors, dtype=np.float32))


@dataclass(slots=True)
class PhotoVerdicts:
    """A query photo, its faces and their verdicts (in the same order), or why it failed."""

    item: ImageFile
    faces: list[Face]
    verdicts: list[Verdict]
    error: str | None = None


def identify(known: KnownFaces, embeddings: np.ndarray, tolerance: float) -> list[Verdict]:
    """The verdict on each of the (M, D) unit ``embeddings``: the name of the nearest reference
    face if it lies within ``tolerance`` (Euclidean, 0..2), else unknown."""
    if not 0 < tolerance <= 2:
        raise UsageError(f"tolerance must be in (0, 2], got {tolerance}")
    queries = np.asarray(embeddings, dtype=np.float32).reshape(-1, known.vectors.shape[1])
    if not len(queries):
        return []
    similarity = queries @ known.vectors.T  # unit rows: |a - b|^2 = 2 - 2 a.b
    nearest = similarity.argmax(axis=1)
    best = similarity[np.arange(len(queries)), nearest]
    distances = np.sqrt(np.clip(2.0 - 2.0 * best, 0.0, 4.0))
    return [
        Verdict(known.names[i] if d <= tolerance else None, float(d))
        for i, d in zip(nearest.tolist(), distances.tolist(), strict=True)
    ]


def analyze_photos(
    items: Iterable[ImageFile], model: FaceModel, workers: int = 1
) -> Iterator[tuple[ImageFile, ImageResult]]:
    """Each photo with its result (faces, or the error that stopped it), in input order.

    ``workers`` processes analyse the photos (``engines.local``); ``items`` are read lazily, a
    few ahead of the results, and results that finish early wait only for the photos before
    them. A video is refused (an error result): identify reads photos."""
    waiting: deque[ImageFile] = deque()
    done: dict[str, list[ImageResult]] = {}  # a path given twice has two (equal) results

    def fed() -> Iterator[ImageFile]:
        for item in items:
            if is_video(item) and item.error is None:
                item = replace(item, error="a video; identify reads photos")
            waiting.append(item)
            yield item

    for results in run_local_items(fed(), model, workers, DEFAULT_MAX_PIXELS):
        result = results[-1]  # a photo has one result
        done.setdefault(result.path, []).append(result)
        while waiting and waiting[0].path in done:
            item = waiting.popleft()
            ready = done[item.path]
            yield item, ready.pop()
            if not ready:
                del done[item.path]


def identify_photos(
    items: Iterable[ImageFile],
    model: FaceModel,
    known: KnownFaces | Sequence[KnownPhoto],
    tolerance: float,
    workers: int = 1,
    warn: Callable[[str], None] = log.warning,
) -> Iterator[PhotoVerdicts]:
    """Identify the faces of every photo in ``items``, in input order, analysed by ``model``.

    ``known`` is ready reference faces (``KnownFaces.from_catalog``), or the reference photos of
    a known-people folder (``read_known_folder``): these are analysed first, by the same
    ``workers``, and read with ``KnownFaces.from_results`` (``warn`` names the photos left out).
    """
    if not 0 < tolerance <= 2:
        raise UsageError(f"tolerance must be in (0, 2], got {tolerance}")
    photos = [] if isinstance(known, KnownFaces) else list(known)
    references = (next(iter_image_files([photo.path])) for photo in photos)
    analysed = analyze_photos(chain(references, items), model, workers)
    if not isinstance(known, KnownFaces):
        first = (result for _, result in islice(analysed, len(photos)))
        known = KnownFaces.from_results(photos, first, warn)
    for item, result in analysed:
        if result.status == "error":
            yield PhotoVerdicts(item, [], [], error=result.error or "unreadable")
            continue
        faces = result.faces or []
        embeddings = np.array([face.embedding for face in faces], dtype=np.float32)
        yield PhotoVerdicts(item, faces, identify(known, embeddings, tolerance))
