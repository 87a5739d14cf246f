"""Known identities: folder labels, the scores of ``faceatlas eval``, worst merges and splits."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from faceatlas.catalog.store import FaceRow
from faceatlas.metrics import ClusterScores, cluster_scores
from faceatlas.outputs.report.content import ReportError

LABEL_SOURCES = ("folder",)
NO_PERSON = "(no person)"
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height


@dataclass(slots=True)
class Group:
    """Faces that share one name: an identity inside a person, or a person inside an identity."""

    name: str
    face_ids: list[int]


@dataclass(slots=True)
class Mistake:
    """A person holding several identities (merge) or an identity spread over people (split)."""

    name: str
    size: int
    wrong: int  # faces outside the largest group: what fixing this mistake would move
    groups: list[Group]  # largest first


@dataclass(slots=True)
class LabelReport:
    source: str
    labelled: int
    scores: ClusterScores
    merges: list[Mistake]
    splits: list[Mistake]


def folder_labels(faces: Iterable[FaceRow]) -> dict[int, str]:
    """face id -> name of the photo's parent folder, for one face per photo.

    A photo can show more than one face (people in the background); the labelled one is the
    face whose box centre is nearest the image centre, as in LFW.
    """
    by_image: dict[int, list[FaceRow]] = defaultdict(list)
    for face in faces:
        by_image[face.image_id].append(face)
    labels = {}
    for group in by_image.values():
        face = group[0] if len(group) == 1 else _centre_face(group)
        labels[face.face_id] = Path(face.image_path).parent.name
    return labels


def _centre_face(group: list[FaceRow]) -> FaceRow:
    path = group[0].image_path
    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in _ROTATED:
                width, height = height, width
    except OSError as err:
        raise ReportError(
            f"cannot read the size of {path} to find its labelled face: {err}"
        ) from err

    def off_centre(face: FaceRow) -> float:
        left, top, right, bottom = face.box
        return ((left + right) / 2 - width / 2) ** 2 + ((top + bottom) / 2 - height / 2) ** 2

    return min(group, key=lambda f: (off_centre(f), f.face_id))


def label_report(
    truth: dict[int, str], faces: dict[int, FaceRow], worst: int = 10, source: str = "folder"
) -> LabelReport:
    """Scores of the current people against ``truth`` (face id -> identity) and the worst
    ``worst`` merges and splits. Faces in no person count as people of their own."""
    if not truth:
        raise ReportError("no labelled faces: with --labels folder, photos must sit in folders")
    ids = sorted(truth)
    predicted = [_person_key(faces[i]) for i in ids]
    identities = [truth[i] for i in ids]
    scores = cluster_scores(identities, predicted)
    name_of = {
        key: faces[i].person or f"{NO_PERSON} face {i}"
        for i, key in zip(ids, predicted, strict=True)
    }
    members: dict[str, list[int]] = defaultdict(list)
    spread: dict[str, list[int]] = defaultdict(list)
    for face_id, key in zip(ids, predicted, strict=True):
        members[key].append(face_id)
        spread[truth[face_id]].append(face_id)
    merges = [
        _mistake(name_of[key], face_ids, lambda f: truth[f])
        for key, face_ids in members.items()
        if not key.startswith("face:")
    ]
    splits = [
        _mistake(identity, face_ids, lambda f: name_of[_person_key(faces[f])])
        for identity, face_ids in spread.items()
    ]
    return LabelReport(
        source=source,
        labelled=len(ids),
        scores=scores,
        merges=_worst(merges, worst),
        splits=_worst(splits, worst),
    )


def _person_key(face: FaceRow) -> str:
    return f"face:{face.face_id}" if face.person_id is None else f"person:{face.person_id}"


def _mistake(name: str, face_ids: list[int], group_of) -> Mistake:
    groups: dict[str, list[int]] = defaultdict(list)
    for face_id in face_ids:
        groups[group_of(face_id)].append(face_id)
    counts = Counter({g: len(f) for g, f in groups.items()})
    ordered = [Group(g, groups[g]) for g, _ in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    return Mistake(name, len(face_ids), len(face_ids) - len(ordered[0].face_ids), ordered)


def _worst(mistakes: list[Mistake], count: int) -> list[Mistake]:
    real = [m for m in mistakes if m.wrong > 0]
    return sorted(real, key=lambda m: (-m.wrong, -m.size, m.name))[:count]
