"""Merge suggestions on a real catalog: a person split in two is suggested back, once."""

from __future__ import annotations

import json

import pytest

from faceatlas.catalog import Catalog
from faceatlas.catalog.people import PersonRow
from faceatlas.errors import UsageError
from faceatlas.people import edit
from faceatlas.people.suggest import dismiss_suggestion, doubtful_people, merge_suggestions
from tests.conftest import faceatlas


def split_largest(catalog: Catalog) -> tuple[PersonRow, PersonRow, str]:
    """The largest person cut in two halves (every other face): both halves and the id of the
    suggestion that should join them."""
    largest = catalog.people()[0]
    members = [f for f, _, _ in catalog.members(largest.person_id)]
    part = edit.split_person(catalog, largest.person_id, members[::2]).created[0]
    low, high = sorted((largest.person_id, part.person_id))
    return largest, part, f"{low}-{high}"


def test_a_split_person_is_suggested_until_dismissed(people_catalog):
    with Catalog(people_catalog) as catalog:
        largest, part, pair = split_largest(catalog)
        found = {s.suggestion_id: s for s in merge_suggestions(catalog)}
        assert pair in found, f"split halves not suggested: {list(found)}"
        shown = found[pair].to_json()
        assert {p["person_id"] for p in shown["people"]} == {largest.person_id, part.person_id}
        distances = [s.distance for s in merge_suggestions(catalog)]
        assert distances == sorted(distances)
        edit.name_person(catalog, largest.person_id, "Left")
        edit.name_person(catalog, part.person_id, "Right")
        assert pair not in {s.suggestion_id for s in merge_suggestions(catalog)}  # both named
        edit.name_person(catalog, part.person_id, None)
        assert pair in {s.suggestion_id for s in merge_suggestions(catalog)}
        dismiss_suggestion(catalog, pair)
        assert pair not in {s.suggestion_id for s in merge_suggestions(catalog)}
        for bad in ("12", "a-b", "1-1", "999998-999999"):
            with pytest.raises(UsageError):
                dismiss_suggestion(catalog, bad)
        assert isinstance(doubtful_people(catalog), set)


def test_people_sharing_a_photo_are_never_suggested(people_catalog):
    with Catalog(people_catalog) as catalog:
        largest, part, pair = split_largest(catalog)
        assert pair in {s.suggestion_id for s in merge_suggestions(catalog)}
        by_photo: dict[int, list[int]] = {}
        for face in catalog.faces():
            by_photo.setdefault(face.image_id, []).append(face.face_id)
        first, second = next(faces for faces in by_photo.values() if len(faces) >= 2)[:2]
        edit.move_faces(catalog, [first], largest.person_id)
        edit.move_faces(catalog, [second], part.person_id)  # now both hold a face of one photo
        assert pair not in {s.suggestion_id for s in merge_suggestions(catalog)}


def test_cli_lists_and_dismisses_suggestions(people_catalog):
    with Catalog(people_catalog) as catalog:
        _, _, pair = split_largest(catalog)
    listed = json.loads(faceatlas("people", "suggestions", "--json", "--db", people_catalog).stdout)
    assert pair in [s["id"] for s in listed]
    text = faceatlas("people", "suggestions", "--db", people_catalog).stdout
    assert any(line.startswith(pair + " ") for line in text.splitlines())
    faceatlas("people", "dismiss", pair, "--db", people_catalog)
    listed = json.loads(faceatlas("people", "suggestions", "--json", "--db", people_catalog).stdout)
    assert pair not in [s["id"] for s in listed]
    bad = faceatlas("people", "dismiss", "12", "--db", people_catalog, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("Error: not a suggestion id")
