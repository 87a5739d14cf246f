"""Known people: reference photos with the names of the people in them.

A folder of known people holds a folder per name (``known/Grandma/*.jpg``: every photo in it,
at any depth, shows Grandma), or photos named as the ``face_recognition`` command line expects
(``known/john.jpg``, ``known/john_2.jpg``: "john"), or both. ``read_known_folder`` reads the
layout; the names and photos it finds are what ``identify`` compares faces with and what
``people add-known`` turns into named people.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.catalog.people import NEW, PeopleChange, PersonRow
from faceatlas.errors import UsageError
from faceatlas.faces.record import largest_face
from faceatlas.index import IndexConfig, index_paths
from faceatlas.outputs.search import recorded_model
from faceatlas.people import edit
from faceatlas.people.incremental import assign_new_faces
from faceatlas.people.suggest import average_linkage, person_means
from faceatlas.sources import iter_image_files

log = logging.getLogger(__name__)

_NUMBERED = re.compile(r"^(.+?)[_ -]\d+$")  # john_2, john 2, john-2 -> john


@dataclass(frozen=True, slots=True)
class KnownPhoto:
    """One reference photo: the name of the person it shows and its canonical path."""

    name: str
    path: str


def name_of_file(path: str | Path) -> str:
    """The name a photo directly in the known folder gives: its stem, without a ``_N`` count
    (``john_2.jpg`` -> "john")."""
    stem = Path(path).stem.strip()
    numbered = _NUMBERED.match(stem)
    return numbered.group(1) if numbered else stem


def read_known_folder(folder: str | Path) -> list[KnownPhoto]:
    """The reference photos of a known-people folder, sorted by name then path (``UsageError``
    when it is not a folder or holds no photo). A photo in a sub-folder is named for its top
    sub-folder; a photo directly in ``folder`` for its file name (``name_of_file``)."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"known people: {folder} is not a folder")
    photos = []
    for item in iter_image_files([root], segment_from_folder=True):
        name = item.segment if item.segment is not None else name_of_file(item.found_path)
        name = " ".join(name.split())
        if name:
            photos.append(KnownPhoto(name, item.path))
    if not photos:
        raise UsageError(
            f"known people: no photos in {folder} (a folder per name, or files named john.jpg)"
        )
    return sorted(photos, key=lambda photo: (photo.name.lower(), photo.path))


@dataclass(slots=True)
class KnownOutcome:
    """What ``add_known`` did for one name."""

    name: str
    person: PersonRow | None  # the named person now (None: no reference face was found)
    how: str  # "new" person, an existing person "took" the name, or "kept" it (named before)
    references: int  # reference faces pinned to the person
    joined: list[str] = field(default_factory=list)  # people merged into it
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (photo, why)
    took_from: str = ""  # the label of the person that took the name

    def describe(self) -> str:
        """One line for a person, e.g. ``Grandma: person_0004 took the name, 3 references``."""
        if self.person is None:
            return f"{self.name}: no face in its {len(self.skipped)} reference photo(s)"
        verb = {"new": "is a new person", "took": "was", "kept": "already named"}[self.how]
        text = f"{self.name}: {verb}"
        if self.how == "took":
            text += f" {self.took_from}"
        text += f", {self.references} reference face(s)"
        if self.joined:
            text += f"; {', '.join(self.joined)} joined"
        return text


def reference_faces(
    catalog: Catalog, photos: Sequence[KnownPhoto]
) -> tuple[dict[str, list[int]], dict[str, list[tuple[str, str]]]]:
    """Per name, the face id of each reference photo (its largest face), and per name the
    photos left out with why (no face, or it failed to read). The photos must be indexed."""
    faces = catalog.faces_in([photo.path for photo in photos])
    faceless = {photo.path for photo in photos if photo.path not in faces}
    errors = {row.path: row.error for row in catalog.images() if row.error} if faceless else {}
    chosen: dict[str, list[int]] = {}
    skipped: dict[str, list[tuple[str, str]]] = {}
    for photo in photos:
        found = faces.get(photo.path, [])
        if not found:
            why = errors.get(photo.path) or "no face found"
            skipped.setdefault(photo.name, []).append((photo.path, why))
            continue
        largest = largest_face(found)
        chosen.setdefault(photo.name, []).append(largest.face_id)
        if len(found) > 1:
            log.warning(
                "%s: %d faces; the largest is %s's reference", photo.path, len(found), photo.name
            )
    return chosen, skipped


def add_known(
    catalog: Catalog,
    photos: Sequence[KnownPhoto],
    config: IndexConfig | None = None,
    show_progress: bool = False,
) -> list[KnownOutcome]:
    """Make each name of ``photos`` a named person of the catalog's face set.

    The reference photos are indexed with the face set's own model (``config`` sets only how:
    workers, limits), and the faces new to the catalog join its people (``assign_new_faces``;
    a face set never grouped is grouped first). Then, per name, the person that already has
    the name keeps it; else the person holding most of its reference faces takes it (unless it
    has another name); else a new person is made. Other unnamed people whose faces lie, on
    average, within the model's cut of the references (average linkage, as merge suggestions)
    join it. Each reference face is pinned to the person and marked a reference (a must-link
    every later grouping keeps). Each name is one recorded change (``undo``).
    """
    config = config or IndexConfig()
    if catalog.face_set is not None:
        config = replace(config, model=recorded_model(catalog))
    index_paths(catalog, [photo.path for photo in photos], config, show_progress=show_progress)
    assign_new_faces(catalog)
    chosen, skipped = reference_faces(catalog, photos)
    outcomes = []
    for name in sorted({photo.name for photo in photos}, key=str.lower):
        refs = chosen.get(name, [])
        outcome = KnownOutcome(name, None, "new", len(refs), skipped=skipped.get(name, []))
        if refs:
            _name_references(catalog, outcome, refs)
        outcomes.append(outcome)
    return outcomes


def _name_references(catalog: Catalog, outcome: KnownOutcome, refs: list[int]) -> None:
    """Pin ``refs`` to the person called ``outcome.name`` (found, taken or made): one change."""
    name = outcome.name
    placed = catalog.placements(refs)
    named = [p for p in catalog.find_people(name) if p.name and p.name.lower() == name.lower()]
    target = named[0] if named else None
    if target is not None:
        outcome.how = "kept"
    else:
        holders = Counter(
            pid for _, pid, _ in placed.values()
            if pid is not None and catalog.person(pid).name is None
        )  # fmt: skip
        if holders:
            target = catalog.person(holders.most_common(1)[0][0])
            only_references = {f for f, _, _ in catalog.members(target.person_id)} <= set(refs)
            if not only_references:  # else: a person the references formed just now
                outcome.how, outcome.took_from = "took", target.label
    if target is not None:
        near = _near_people(catalog, refs, exclude=target.person_id)
        if near:
            outcome.joined = [catalog.person(pid).label for pid in near]
            edit.merge_people(catalog, target.person_id, near)
            target = catalog.person(target.person_id)
    if target is not None and target.name == name and _in_place(catalog, target, refs, name):
        outcome.person = target
        return
    assign: dict[int, tuple[int | tuple[str, int] | None, bool]] = {}
    to: int | tuple[str, int] = (NEW, 0) if target is None else target.person_id
    if target is not None:
        ref_photos = {placed[f][0]: f for f in refs}
        for fid, image_id, pinned in catalog.members(target.person_id):
            if image_id in ref_photos and fid != ref_photos[image_id] and not pinned:
                assign[fid] = (None, False)  # the reference is this person in that photo
    for fid in refs:
        assign[fid] = (to, True)
    refused = set() if target is None else {f for f, _ in catalog.rejections(target.person_id)}
    rename = {} if target is None or target.name == name else {target.person_id: name}
    change = PeopleChange(
        "known",
        {"name": name, "references": sorted(refs), "person_id": to if target else None},
        assign=assign,
        new_people=[name] if target is None else [],
        rename=rename,
        unreject=[(f, target.person_id) for f in refs if f in refused] if target else [],
        references=dict.fromkeys(refs, name),
    )
    created = catalog.apply_change(change)
    outcome.person = catalog.person(created[0] if created else target.person_id)


def _in_place(catalog: Catalog, person: PersonRow, refs: list[int], name: str) -> bool:
    """Whether every face of ``refs`` is pinned to ``person`` and marked ``name``'s reference."""
    pinned = {fid for fid, _, pin in catalog.members(person.person_id) if pin}
    marked = catalog.reference_faces(refs)
    return all(f in pinned and marked.get(f) == name for f in refs)


def _near_people(catalog: Catalog, refs: list[int], exclude: int) -> list[int]:
    """Unnamed, shown people (not ``exclude``) whose faces lie, on average, within the model's
    cut of the reference faces ``refs`` (average linkage, as merge suggestions)."""
    unnamed = {p.person_id for p in catalog.people(hidden=False) if p.name is None}
    unnamed.discard(exclude)
    if not unnamed:
        return []
    matrix, person = catalog.grouped_faces()
    ids, means, _ = person_means(matrix.vectors, person, unnamed)
    centre = catalog.face_vectors(refs).vectors.astype(np.float64).mean(axis=0)
    distance = average_linkage(centre, means)
    return [int(pid) for pid, d in zip(ids, distance, strict=True) if d < catalog.face_set.spec.cut]
