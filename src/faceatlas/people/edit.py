"""The user's corrections to people: name, merge, split, move, reject, hide, forget, undo.

Each function decides what a correction moves where and hands it to the catalog as one
``PeopleChange`` (one transaction, recorded with what undoing it restores). Faces the user places
are *pinned* there: every later grouping keeps them (see :mod:`faceatlas.catalog.merge`).

    from faceatlas.catalog import Catalog
    from faceatlas.people import edit

    with Catalog("photos.db") as catalog:
        edit.name_person(catalog, "person_0003", "Obama")
        edit.merge_people(catalog, "Obama", ["person_0011"])
        edit.reject_faces(catalog, [812], "Obama")  # not Obama: never joins him again
        edit.undo(catalog)  # the reject is undone

A person is referred to as its folder label (``person_0003``), its id, or its name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.catalog.people import NEW, ChangeRow, PeopleChange, PersonRow
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.people.cluster import cluster_vectors

SPLIT_STEP = 0.9  # split: each try cuts this much tighter than the last
SPLIT_TRIES = 12
RESERVED_NAMES = {"unknown", "manifest.csv"}  # names export uses for itself
_LABEL = re.compile(r"person_\d+", re.IGNORECASE)


class UnknownPerson(UsageError):
    """A PERSON argument that names nobody of the face set (or more than one person)."""


@dataclass(slots=True)
class EditResult:
    """What one correction did, in a line (``message``) and in numbers."""

    kind: str
    message: str
    person: PersonRow | None = None  # the person the change was about, as it is now
    created: list[PersonRow] = field(default_factory=list)  # people it made
    moved: int = 0  # faces that changed person
    left_out: int = 0  # faces sent to nobody to keep a rule (one photo, rejection)


@dataclass(slots=True)
class PersonFace:
    """One face of a person, as ``show_person`` lists it."""

    face_id: int
    image_path: str
    box: tuple[int, int, int, int]
    distance: float  # from the person's centre (renormalised mean of its unit embeddings)
    pinned: bool  # the user put it there

    def to_json(self) -> dict:
        return {
            "face_id": self.face_id,
            "path": self.image_path,
            "box": list(self.box),
            "distance": round(self.distance, 6),
            "pinned": self.pinned,
        }


def person_json(person: PersonRow) -> dict:
    """The JSON shape of a person in listings."""
    return {
        "person_id": person.person_id,
        "number": person.number,
        "label": person.label,
        "name": person.name,
        "size": person.size,
        "hidden": person.hidden,
    }


def resolve_person(catalog: Catalog, ref: str | int) -> PersonRow:
    """The one person ``ref`` names: ``person_0003``, an id, or a name."""
    if catalog.clustering() is None:
        raise NoPeopleYet()
    found = catalog.find_people(str(ref))
    if not found:
        raise UnknownPerson(
            f"no person {ref!r} in face set {catalog.face_set.name}; "
            "see `faceatlas people list`"
        )
    if len(found) > 1:
        which = ", ".join(f"{p.label} (id {p.person_id})" for p in found)
        raise UnknownPerson(f"{ref!r} names more than one person: {which}; use the label")
    return found[0]


def list_people(catalog: Catalog, hidden: bool = True) -> list[PersonRow]:
    """The face set's people, largest first (``hidden=False``: without hidden ones)."""
    if catalog.clustering() is None:
        raise NoPeopleYet()
    return catalog.people(hidden=hidden)


def show_person(catalog: Catalog, ref: str | int) -> tuple[PersonRow, list[PersonFace]]:
    """A person and its faces, farthest from its centre first (the likeliest mistakes)."""
    person = resolve_person(catalog, ref)
    members = catalog.members(person.person_id)
    if not members:
        return person, []
    pinned = {fid: pin for fid, _, pin in members}
    matrix = catalog.face_vectors(list(pinned))
    centre = matrix.vectors.astype(np.float64).mean(axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    distance = np.linalg.norm(matrix.vectors - centre, axis=1)
    rows = {r.face_id: r for r in catalog.faces(matrix.face_ids.tolist())}
    faces = [
        PersonFace(int(f), rows[int(f)].image_path, rows[int(f)].box, float(d), pinned[int(f)])
        for f, d in zip(matrix.face_ids, distance, strict=True)
    ]
    faces.sort(key=lambda face: (-face.distance, face.face_id))
    return person, faces


def name_person(catalog: Catalog, ref: str | int, name: str | None) -> EditResult:
    """Give a person a name (or a new one; None: back to ``person_NNNN``). Names are unique
    within a face set (ignoring case): two people of one name are merged, not named."""
    person = resolve_person(catalog, ref)
    if name is not None:
        name = _check_name(catalog, name, person)
    catalog.apply_change(
        PeopleChange(
            "name",
            {"person": person.label, "person_id": person.person_id, "name": name},
            rename={person.person_id: name},
        )
    )
    now = catalog.person(person.person_id)
    return EditResult("name", f"{person.label} is now {now.label}", now)


def hide_person(catalog: Catalog, ref: str | int, hidden: bool = True) -> EditResult:
    """Hide a person (no folder, left out of listings that skip hidden people) or show it
    again. A hidden person keeps its faces through regroups, like a named one."""
    person = resolve_person(catalog, ref)
    kind = "hide" if hidden else "unhide"
    catalog.apply_change(
        PeopleChange(kind, {"person": person.label, "person_id": person.person_id},
                     hide={person.person_id: hidden})
    )  # fmt: skip
    now = catalog.person(person.person_id)
    return EditResult(kind, f"{now.label} is {'hidden' if hidden else 'shown'}", now)


def merge_people(catalog: Catalog, into: str | int, others: Sequence[str | int]) -> EditResult:
    """Merge ``others`` into ``into``: one person, with ``into``'s id and number (and its name,
    else the first name among ``others``). The faces moved are pinned there.

    Where both sides hold a face of one photo, one of them is not this person: the one the
    user pinned stays, else ``into``'s, and the other goes to nobody. A face ``into``
    rejected stays out; faces the others rejected are rejected by ``into`` too.
    """
    target = resolve_person(catalog, into)
    sources = [resolve_person(catalog, ref) for ref in others]
    if not sources:
        raise UsageError("name at least one person to merge into the first")
    if any(s.person_id == target.person_id for s in sources) or len(
        {s.person_id for s in sources}
    ) < len(sources):
        raise UsageError("a person cannot be merged with itself")
    kept = [(fid, img, pin) for fid, img, pin in catalog.members(target.person_id)]
    incoming = [m for s in sources for m in catalog.members(s.person_id)]
    refused = {f for f, p in catalog.rejections(target.person_id)}
    assign: dict[int, tuple[int | None, bool]] = {}
    held = {img: (fid, pin) for fid, img, pin in kept}
    left_out = 0
    # pinned faces first, so a pinned face wins its photo over an unpinned one
    for fid, img, pin in sorted(incoming, key=lambda m: (not m[2], m[0])):
        if fid in refused:
            assign[fid] = (None, False)
            left_out += 1
            continue
        if img in held:
            other, other_pin = held[img]
            if pin and other_pin:
                raise UsageError(
                    f"faces {other} and {fid} are pinned to the two people and share a photo: "
                    f"they cannot be one person; move or reject one of them first"
                )
            if pin and not other_pin:  # the pinned newcomer wins the photo
                assign[other] = (None, False)
                held[img] = (fid, pin)
                assign[fid] = (target.person_id, True)
            else:
                assign[fid] = (None, False)
            left_out += 1
            continue
        held[img] = (fid, pin)
        assign[fid] = (target.person_id, True)
    rename = {}
    if target.name is None:
        named = [s.name for s in sources if s.name]
        if named:
            rename[target.person_id] = named[0]
    ends_in = {fid for fid, _, _ in kept if assign.get(fid, (target.person_id,))[0] is not None}
    ends_in |= {fid for fid, (to, _) in assign.items() if to is not None}
    transfer = [  # "not B" becomes "not A", except for the faces the merged person holds
        (f, target.person_id)
        for s in sources
        for f, _ in catalog.rejections(s.person_id)
        if f not in ends_in
    ]
    labels = [s.label for s in sources]
    for source in sources:  # the names they had leave with them (recorded for undo)
        rename[source.person_id] = None
    catalog.apply_change(
        PeopleChange(
            "merge",
            {"into": target.label, "into_id": target.person_id, "merged": labels,
             "merged_ids": [s.person_id for s in sources]},
            assign=assign,
            rename=rename,
            reject=transfer,
            drop=[s.person_id for s in sources],
        )
    )  # fmt: skip
    now = catalog.person(target.person_id)
    moved = sum(1 for t, _ in assign.values() if t is not None)
    message = f"merged {', '.join(labels)} into {now.label}: {now.size} faces"
    if left_out:
        message += f" ({left_out} left out: a photo held both, or {now.label} rejected them)"
    return EditResult("merge", message, now, moved=moved, left_out=left_out)


def move_faces(catalog: Catalog, face_ids: Iterable[int], to: str | int) -> EditResult:
    """Put faces in a person (pinned there: every later grouping keeps them).

    A face of the person from the same photo as a moved face leaves it (to nobody), unless
    the user pinned it, which refuses the move. Moving a face to a person that rejected it
    lifts the rejection.
    """
    target = resolve_person(catalog, to)
    faces = _faces(catalog, face_ids)
    photos: dict[int, int] = {}
    for fid, (img, _, _) in faces.items():
        if img in photos:
            raise UsageError(f"faces {photos[img]} and {fid} are in one photo: not one person")
        photos[img] = fid
    assign: dict[int, tuple[int | None, bool]] = {}
    left_out = 0
    for fid, img, pin in catalog.members(target.person_id):
        if fid in faces or img not in photos:
            continue
        if pin:
            raise UsageError(
                f"{target.label} holds face {fid} of the same photo as face {photos[img]}, "
                "put there by you; move or reject it first"
            )
        assign[fid] = (None, False)
        left_out += 1
    for fid in faces:
        assign[fid] = (target.person_id, True)
    refused = {f for f, _ in catalog.rejections(target.person_id)}
    catalog.apply_change(
        PeopleChange(
            "move",
            {"faces": sorted(faces), "to": target.label, "to_id": target.person_id},
            assign=assign,
            unreject=[(f, target.person_id) for f in faces if f in refused],
        )
    )
    now = catalog.person(target.person_id)
    message = f"moved {len(faces)} faces to {now.label}"
    if left_out:
        message += f" ({left_out} of its faces from the same photos left it)"
    return EditResult("move", message, now, moved=len(faces), left_out=left_out)


def reject_faces(
    catalog: Catalog, face_ids: Iterable[int], person: str | int | None = None
) -> EditResult:
    """"Not this person": each face leaves ``person`` (default: the person it is in) and never
    joins it again, whatever the grouping. The face then belongs to nobody until a grouping
    finds it another person."""
    faces = _faces(catalog, face_ids)
    named = None if person is None else resolve_person(catalog, person)
    reject: list[tuple[int, int]] = []
    assign: dict[int, tuple[int | None, bool]] = {}
    for fid, (_, pid, _) in faces.items():
        target = named.person_id if named else pid
        if target is None:
            raise UsageError(f"face {fid} is in no person: say which with --from PERSON")
        reject.append((fid, target))
        if pid == target:
            assign[fid] = (None, False)
    labels = sorted({catalog.person(p).label for _, p in reject})
    catalog.apply_change(
        PeopleChange(
            "reject",
            {"faces": sorted(faces), "from": labels, "from_ids": sorted({p for _, p in reject})},
            assign=assign,
            reject=reject,
        )
    )
    return EditResult(
        "reject",
        f"{len(faces)} faces are not {', '.join(labels)}; {len(assign)} left",
        named and catalog.person(named.person_id),
        moved=len(assign),
    )


def forget_faces(catalog: Catalog, face_ids: Iterable[int]) -> EditResult:
    """Not a face (a false detection): delete it from the catalog (``undo`` brings it back).

    Indexing the same, unchanged photo again does not find it again; a changed photo is
    analysed anew."""
    faces = _faces(catalog, face_ids)
    catalog.apply_change(PeopleChange("forget", {"faces": sorted(faces)}, forget=sorted(faces)))
    return EditResult("forget", f"forgot {len(faces)} faces (not faces)", moved=len(faces))


def split_person(
    catalog: Catalog,
    ref: str | int,
    face_ids: Iterable[int] | None = None,
    threshold: float | None = None,
) -> EditResult:
    """Split a person: ``face_ids`` become a new person, or (without them) the person is cut
    into sub-people at a tighter cut than its grouping's (``threshold``, or the loosest of
    ``SPLIT_TRIES`` cuts, each ``SPLIT_STEP`` times the last, that splits it).

    The largest part keeps the person (id, number, name); the others become new people, their
    faces pinned there, so no grouping joins them again.
    """
    person = resolve_person(catalog, ref)
    members = catalog.members(person.person_id)
    if face_ids is not None:
        chosen = {int(f) for f in face_ids}
        outside = chosen - {fid for fid, _, _ in members}
        if outside:
            raise UsageError(f"faces {sorted(outside)} are not in {person.label}")
        if not chosen or len(chosen) == len(members):
            raise UsageError("name some, not all, of the person's faces to split off")
        parts = [sorted(chosen)]
        cut = None
    else:
        parts, cut = _sub_people(catalog, person, members, threshold)
    assign = {f: ((NEW, i), True) for i, part in enumerate(parts) for f in part}
    detail = {"person": person.label, "person_id": person.person_id,
              "faces": sorted(assign), "cut": cut}  # fmt: skip
    created = catalog.apply_change(
        PeopleChange("split", detail, assign=assign, new_people=[None] * len(parts))
    )
    made = [catalog.person(pid) for pid in created]
    now = catalog.person(person.person_id)
    at = "" if cut is None else f" at cut {cut:.3f}"
    message = (
        f"split {len(assign)} faces off {now.label}{at}: "
        + ", ".join(f"{p.label} ({p.size})" for p in made)
        + f"; {now.label} keeps {now.size}"
    )
    return EditResult("split", message, now, made, moved=len(assign))


def undo(catalog: Catalog) -> ChangeRow:
    """Undo the face set's last change (``UsageError`` when there is none)."""
    return catalog.undo_change()


def describe_change(change: ChangeRow) -> str:
    """What a recorded change did, in words (``people history``, ``undo``, the web page)."""
    return ", ".join(
        f"{key} {value}"
        for key, value in change.detail.items()
        if not key.endswith(("_id", "_ids")) and value is not None
    )


def _sub_people(
    catalog: Catalog,
    person: PersonRow,
    members: list[tuple[int, int, bool]],
    threshold: float | None,
) -> tuple[list[list[int]], float]:
    """All parts but the largest of ``person`` cut tighter, and the cut used."""
    if len(members) < 2:
        raise UsageError(f"{person.label} has {len(members)} face: nothing to split")
    clustering = catalog.clustering() or {}
    method = clustering.get("method", "agglomerative")
    if method == "kmeans":
        method = "agglomerative"
    last = clustering.get("params", {}).get("threshold")
    start = float(last) if isinstance(last, (int, float)) else 0.4
    cuts = [threshold] if threshold is not None else [
        start * SPLIT_STEP**i for i in range(1, SPLIT_TRIES + 1)
    ]  # fmt: skip
    matrix = catalog.face_vectors([fid for fid, _, _ in members])
    for cut in cuts:
        labels, _, _ = cluster_vectors(
            matrix.vectors, matrix.image_ids, method=method, threshold=float(cut),
            k=max(1, min(10, len(matrix) - 1)),
        )  # fmt: skip
        labels = np.where(labels < 0, labels.max(initial=0) + 1 + np.arange(len(labels)), labels)
        uniq, counts = np.unique(labels, return_counts=True)
        if len(uniq) < 2:
            continue
        largest = uniq[np.lexsort((uniq, -counts))[0]]
        order = uniq[np.lexsort((uniq, -counts))]
        parts = [
            matrix.face_ids[labels == label].tolist() for label in order if label != largest
        ]
        return parts, float(cut)
    raise UsageError(
        f"{person.label} stays whole at every cut down to {min(cuts):.3f}; "
        "split off faces with --faces ID..."
    )


def _faces(catalog: Catalog, face_ids: Iterable[int]) -> dict[int, tuple[int, int | None, bool]]:
    """face id -> (image id, person id, pinned) of the given faces; all must be in the set."""
    wanted = sorted({int(f) for f in face_ids})
    if not wanted:
        raise UsageError("name at least one face id")
    if catalog.clustering() is None:
        raise NoPeopleYet()
    found = catalog.placements(wanted)
    missing = [f for f in wanted if f not in found]
    if missing:
        raise UsageError(f"no face {missing[0]} in face set {catalog.face_set.name}")
    return found


def _check_name(catalog: Catalog, name: str, person: PersonRow) -> str:
    name = " ".join(name.split())
    if not name:
        raise UsageError("a name cannot be empty")
    if not name.isprintable():
        raise UsageError("a name cannot hold control characters")
    if _LABEL.fullmatch(name) or name.lower() in RESERVED_NAMES or name.isdigit():
        raise UsageError(f"{name!r} looks like a label or id; choose another name")
    for other in catalog.find_people(name):
        if other.person_id != person.person_id and other.name:
            raise UsageError(
                f"{other.label} already has that name (id {other.person_id}); "
                f"merge the two people instead ({other.label} and {person.label})"
            )
    return name
