"""Known identities: the scores of ``faceatlas eval`` and the worst merges and splits."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow
from faceatlas.evaluate import load_labels, score_labels
from faceatlas.metrics import ClusterScores
from faceatlas.outputs.report.content import ReportError

NO_PERSON = "(no person)"


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


def label_report(
    catalog: Catalog, spec: str | Path, faces: dict[int, FaceRow], worst: int = 10
) -> LabelReport:
    """Scores of the current people against the labels ``spec`` names (``folder`` or a CSV
    file, exactly as ``faceatlas eval`` reads and scores them) and the worst ``worst`` merges
    and splits."""
    try:
        truth = load_labels(catalog, spec)
    except ValueError as err:
        raise ReportError(str(err)) from err
    face_ids, people = catalog.assignments()
    scores = score_labels(truth, face_ids, people)
    identity_of = dict(zip(truth.face_ids.tolist(), truth.identities.tolist(), strict=True))
    merges, splits = find_mistakes(identity_of, faces, worst)
    return LabelReport(str(spec), len(truth), scores, merges, splits)


def find_mistakes(
    truth: dict[int, str], faces: dict[int, FaceRow], worst: int = 10
) -> tuple[list[Mistake], list[Mistake]]:
    """The ``worst`` merges (people holding several identities) and splits (identities spread
    over several people) among the faces ``truth`` labels (face id -> identity), worst first:
    by the number of faces outside the largest group. Faces in no person are people of their
    own."""
    ids = sorted(truth)
    predicted = [_person_key(faces[i]) for i in ids]
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
    return _worst(merges, worst), _worst(splits, worst)


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
