"""The people routes: people and their faces, and the user's corrections to them.

Every change goes through the library the ``faceatlas people`` commands use
(:mod:`faceatlas.people.edit`), so it is recorded, undone by ``faceatlas people undo`` (or
``POST /api/people/undo``) and kept by every later grouping. Who may send a change (same
origin, token, read-only) is decided before the request is read (``guard.WritePolicy``); here
bodies are validated (pydantic), ids must be people and faces of the served face set (else 404),
and the library's refusals (``UsageError``) become 409 with its one line (see ``error_status``).
Writes run one at a time, each on a catalog connection of its own thread.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from faceatlas.catalog import Catalog
from faceatlas.catalog.people import PersonRow
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.people import edit
from faceatlas.people.suggest import dismiss_suggestion
from faceatlas.web.shapes import face_json, parse_id

if TYPE_CHECKING:
    from faceatlas.web.app import Searcher

SAMPLE_FACES = 6  # faces shown per person on the people page
MAX_ID = 2**62
MAX_NAME = 200
MAX_MERGE = 1000  # people merged at once
MAX_SUGGESTIONS = 500
NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"  # a name is one line of text
SUGGESTION_ID = re.compile(r"(\d{1,18})-(\d{1,18})")

Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    """A write's JSON body: only the fields named, of exactly their JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NameBody(Body):
    """``name``: the person's new name; ``null`` gives back its ``person_NNNN`` label."""

    name: Annotated[str, Field(max_length=MAX_NAME, pattern=NO_CONTROL)] | None


class MergeBody(Body):
    """Merge ``people`` into ``into`` (its id, number and name stay)."""

    into: Id
    people: Annotated[list[Id], Field(min_length=1, max_length=MAX_MERGE)]


class MoveBody(Body):
    """Put the face in person ``to`` (pinned there)."""

    to: Id


class RejectBody(Body):
    """Not ``person`` (default: the person the face is in)."""

    person: Id | None = None


class HideBody(Body):
    """``true`` hides the person (no folder, left out of listings), ``false`` shows it."""

    hidden: bool


def error_status(err: Exception) -> int:
    """The HTTP status of a user's mistake met by a request: 404 for a person that is not
    there, 409 for a change the library refuses (or no people yet). (A catalog that cannot be
    written now, ``StorageError``, is 503.)"""
    if isinstance(err, edit.UnknownPerson):
        return 404
    if isinstance(err, NoPeopleYet | UsageError):
        return 409
    raise TypeError(f"not a library error: {err!r}")


def answer(message: str, person: PersonRow | None) -> dict:
    """What every write answers: its line and the person it was about, as that is now."""
    return {"message": message, "person": None if person is None else edit.person_json(person)}


def person_of(catalog: Catalog, person_id: int) -> PersonRow:
    """The person ``person_id`` of the served face set, else 404."""
    found = catalog.person(person_id)
    if found is None:
        raise HTTPException(404, f"no person {person_id} in face set {catalog.face_set.name}")
    return found


def placement_of(catalog: Catalog, face_id: int) -> tuple[int, int | None, bool]:
    """(image id, person id or None, pinned) of face ``face_id`` of the served set, else 404."""
    found = catalog.placements([face_id]).get(face_id)
    if found is None:
        raise HTTPException(404, f"no face {face_id} in face set {catalog.face_set.name}")
    return found


def with_faces(catalog: Catalog, people: list[PersonRow], doubtful: set[int]) -> list[dict]:
    """People as the pages list them: ``person_json``, doubtful or not, a few faces each."""
    samples = catalog.person_faces([p.person_id for p in people], SAMPLE_FACES)
    rows = {r.face_id: r for r in catalog.faces(f for ids in samples.values() for f in ids)}
    return [
        edit.person_json(p)
        | {
            "doubtful": p.person_id in doubtful,
            "faces": [face_json(rows[f]) for f in samples.get(p.person_id, [])],
        }
        for p in people
    ]


def people_router(searcher: Searcher) -> APIRouter:
    """The people routes of the app serving ``searcher``'s catalog and face set."""
    router = APIRouter()

    @router.get("/api/people")
    def people(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        offset: Annotated[int, Query(ge=0)] = 0,
        hidden: Annotated[bool, Query(description="include hidden people")] = False,
    ) -> dict:
        """People of the current grouping, doubtful ones first (the grouping's quality score
        flags them: check these), then largest first; each with a few faces."""
        with searcher.catalog() as catalog:
            doubtful = searcher.doubtful(catalog)
            everyone = sorted(
                catalog.people(hidden=hidden), key=lambda p: p.person_id not in doubtful
            )
            shown = with_faces(catalog, everyone[offset : offset + limit], doubtful)
        return {"total": len(everyone), "people": shown}

    @router.get("/api/people/suggestions")
    def suggestions(
        limit: Annotated[int, Query(ge=1, le=MAX_SUGGESTIONS)] = 50,
    ) -> dict:
        """Pairs of people whose faces lie close: they may be one person (nearest first).
        Accept one with ``POST /api/people/merge``; dismiss it and it does not come back."""
        with searcher.catalog() as catalog:
            if catalog.clustering() is None:
                return {"suggestions": []}
            found = searcher.suggestions(catalog)[:limit]
            people = {p.person_id: p for s in found for p in (s.first, s.second)}
            shown = {
                p["person_id"]: p
                for p in with_faces(catalog, list(people.values()), searcher.doubtful(catalog))
            }
        return {
            "suggestions": [
                s.to_json() | {"people": [shown[s.first.person_id], shown[s.second.person_id]]}
                for s in found
            ]
        }

    @router.get("/api/people/{person_id}")
    def person(person_id: str) -> dict:
        """One person: all their faces (``pinned``: the user put it there; ``reference``: a
        face of a known person's reference photo) and the photos they appear in."""
        pid = parse_id(person_id, "person")
        with searcher.catalog() as catalog:
            found = person_of(catalog, pid)
            doubtful = pid in searcher.doubtful(catalog)
            members = catalog.members(pid)
            pinned = {fid: pin for fid, _, pin in members}
            rows = catalog.faces(list(pinned))
            references = catalog.reference_faces(list(pinned))
        images = sorted({(r.image_id, Path(r.image_path).name) for r in rows})
        return edit.person_json(found) | {
            "doubtful": doubtful,
            "faces": [
                face_json(r)
                | {"pinned": pinned.get(r.face_id, False), "reference": r.face_id in references}
                for r in rows
            ],
            "images": [
                {"image_id": i, "file": name, "url": f"/api/images/{i}"} for i, name in images
            ],
        }

    @router.post("/api/people/{person_id}/name")
    def name(person_id: str, body: NameBody) -> dict:
        """Name a person (``null``: back to ``person_NNNN``). Names are unique: a name another
        person has is refused (409; merge them instead)."""
        pid = parse_id(person_id, "person")
        with searcher.writing() as catalog:
            person_of(catalog, pid)
            result = edit.name_person(catalog, pid, body.name)
        return answer(result.message, result.person)

    @router.post("/api/people/merge")
    def merge(body: MergeBody) -> dict:
        """Merge ``people`` into ``into``: one person with ``into``'s id and number."""
        with searcher.writing() as catalog:
            for pid in (body.into, *body.people):
                person_of(catalog, pid)
            result = edit.merge_people(catalog, body.into, body.people)
        return answer(result.message, result.person)

    @router.post("/api/faces/{face_id}/move")
    def move(face_id: str, body: MoveBody) -> dict:
        """Put a face in person ``to``, pinned there (every later grouping keeps it)."""
        fid = parse_id(face_id, "face")
        with searcher.writing() as catalog:
            placement_of(catalog, fid)
            person_of(catalog, body.to)
            result = edit.move_faces(catalog, [fid], body.to)
        return answer(result.message, result.person)

    @router.post("/api/faces/{face_id}/reject")
    def reject(face_id: str, body: RejectBody | None = None) -> dict:
        """Not this person: the face leaves ``person`` (default: the one it is in) and never
        joins it again. Answers with that person as it is now."""
        fid = parse_id(face_id, "face")
        with searcher.writing() as catalog:
            _, was_in, _ = placement_of(catalog, fid)
            named = None if body is None else body.person
            if named is not None:
                person_of(catalog, named)
            result = edit.reject_faces(catalog, [fid], named)
            left = named if named is not None else was_in
            return answer(result.message, None if left is None else catalog.person(left))

    @router.post("/api/people/{person_id}/hide")
    def hide(person_id: str, body: HideBody) -> dict:
        """Hide a person (``hidden: true``: no folder, left out of the people list) or show it."""
        pid = parse_id(person_id, "person")
        with searcher.writing() as catalog:
            person_of(catalog, pid)
            result = edit.hide_person(catalog, pid, body.hidden)
        return answer(result.message, result.person)

    @router.post("/api/people/undo")
    def undo() -> dict:
        """Undo the last change not undone yet (made here or by ``faceatlas people``); 409 when
        there is none. Answers with the person it was about, if there is one."""
        with searcher.writing() as catalog:
            change = edit.undo(catalog)
            about = next(
                (
                    found
                    for key in ("person_id", "into_id", "to_id")
                    if isinstance(change.detail.get(key), int)
                    and (found := catalog.person(change.detail[key])) is not None
                ),
                None,
            )
            said = edit.describe_change(change)
            return answer(f"undid {change.kind} of {change.at}: {said}", about)

    @router.post("/api/people/suggestions/{suggestion_id}/dismiss")
    def dismiss(suggestion_id: str) -> dict:
        """The two people of a suggestion (``12-40``) are not one: it is not suggested again."""
        ids = SUGGESTION_ID.fullmatch(suggestion_id)
        if ids is None:
            raise HTTPException(404, "no such suggestion")
        with searcher.writing() as catalog:
            first, second = (person_of(catalog, int(i)) for i in ids.groups())
            dismiss_suggestion(catalog, suggestion_id)
        return answer(f"{first.label} and {second.label} will not be suggested again", None)

    return router
