"""Known people from reference photos: `people add-known`, `run --known`, on real photos."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.errors import UsageError
from faceatlas.index import IndexConfig
from faceatlas.people import edit
from faceatlas.people.known import add_known, name_of_file, read_known_folder
from tests.conftest import data, faceatlas

CONFIG = IndexConfig(workers=1)


def link(target: Path, at: Path) -> Path:
    at.parent.mkdir(parents=True, exist_ok=True)
    at.symlink_to(target)
    return at


@pytest.fixture
def known(tmp_path) -> Path:
    """Obama from a photo the catalog lacks; a CelebA stranger nobody in it resembles."""
    folder = tmp_path / "known"
    link(data("people-fr-queries", "obama1.jpg"), folder / "Obama" / "a.jpg")
    link(data("celeba-dev", "7440", "003465.jpg"), folder / "stranger_1.jpg")
    return folder


def test_known_folder_layouts(tmp_path):
    assert [name_of_file(n) for n in ("john.jpg", "john_2.jpg", "mary ann 3.png", "r2d2.jpg")] == [
        "john", "john", "mary ann", "r2d2",
    ]  # fmt: skip
    photo = data("people-fr", "obama", "obama.jpg")
    folder = tmp_path / "k"
    link(photo, folder / "john.jpg")
    link(data("people-fr", "obama", "obama2.jpg"), folder / "john_2.jpg")
    link(data("people-fr", "biden", "biden.jpg"), folder / "Joe Biden" / "deeper" / "x.jpg")
    (folder / "notes.txt").write_text("not a photo")
    found = read_known_folder(folder)
    assert [(p.name, Path(p.path).name) for p in found] == [
        ("Joe Biden", "biden.jpg"), ("john", "obama.jpg"), ("john", "obama2.jpg"),
    ]  # fmt: skip
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no photos"):
        read_known_folder(tmp_path / "empty")
    with pytest.raises(UsageError, match="not a folder"):
        read_known_folder(photo)


def test_add_known_names_people_pins_references_and_survives_regrouping(people_catalog, known):
    with Catalog(people_catalog) as catalog:
        before = {p.person_id for p in catalog.people()}
        obama_faces = catalog.faces_in([str(data("people-fr", "obama", "obama.jpg").resolve())])
        holder = next(iter(obama_faces.values()))[0].person_id
        outcomes = {o.name: o for o in add_known(catalog, read_known_folder(known), CONFIG)}
        obama, stranger = outcomes["Obama"], outcomes["stranger"]
        # the person that held Obama's faces took the name; the stranger is a new person
        assert (obama.how, obama.person.person_id) == ("took", holder)
        assert stranger.how == "new" and stranger.person.person_id not in before
        assert stranger.person.size == 1
        refs = catalog.reference_faces()
        assert sorted(refs.values()) == ["Obama", "stranger"]
        for fid, name in refs.items():
            (person,) = catalog.find_people(name)
            assert (fid, True) in {(f, pin) for f, _, pin in catalog.members(person.person_id)}
        changes = len(catalog.changes())
        # again: nothing to do, nothing recorded
        again = add_known(catalog, read_known_folder(known), CONFIG)
        assert [o.how for o in again] == ["kept", "kept"] and len(catalog.changes()) == changes
    faceatlas("cluster", "--db", people_catalog, "--fresh")
    with Catalog(people_catalog) as catalog:
        (person,) = catalog.find_people("Obama")
        assert person.person_id == holder and person.size >= 3
        members = {f for f, _, _ in catalog.members(person.person_id)}
        assert set(catalog.reference_faces()) <= members | {
            f for f, _, _ in catalog.members(catalog.find_people("stranger")[0].person_id)
        }
        edit.undo(catalog)  # the last name given (stranger) is undone with its reference
        assert "stranger" not in catalog.reference_faces().values()
        assert not catalog.find_people("stranger")


def test_known_name_joins_the_parts_of_a_split_person(people_catalog, tmp_path):
    folder = tmp_path / "known"
    link(data("people-fr-queries", "obama1.jpg"), folder / "obama.jpg")
    with Catalog(people_catalog) as catalog:
        photo = str(data("people-fr", "obama", "obama.jpg").resolve())
        person = catalog.person(catalog.faces_in([photo])[photo][0].person_id)
        members = [f for f, _, _ in catalog.members(person.person_id)]
        assert len(members) >= 2, "Obama's person must have two faces to split"
        part = edit.split_person(catalog, person.person_id, members[1:]).created[0]
        (outcome,) = add_known(catalog, read_known_folder(folder), CONFIG)
        assert outcome.how == "took" and len(outcome.joined) == 1
        assert {outcome.took_from, *outcome.joined} == {person.label, part.label}
        assert outcome.person.name == "obama" and outcome.person.size == len(members) + 1


def test_add_known_cli_dry_run_changes_nothing(people_catalog, known):
    before = faceatlas("people", "list", "--json", "--db", people_catalog).stdout
    shown = faceatlas("people", "add-known", known, "--db", people_catalog, "--dry-run")
    assert "dry run" in shown.stdout and "Obama: was person_" in shown.stdout
    assert faceatlas("people", "list", "--json", "--db", people_catalog).stdout == before
    done = faceatlas("people", "add-known", known, "--db", people_catalog)
    assert done.stdout.splitlines() == shown.stdout.splitlines()[1:]
    names = {p["name"] for p in json.loads(
        faceatlas("people", "list", "--json", "--db", people_catalog).stdout)}  # fmt: skip
    assert {"Obama", "stranger"} <= names
    missing = faceatlas("people", "add-known", known / "nope", "--db", people_catalog, check=False)
    assert missing.returncode == 2


def test_run_known_exports_named_folders(tmp_path, known):
    out = tmp_path / "out"
    result = faceatlas("run", data("people-fr"), out, "--known", known, "--quiet")
    assert "Obama: " in result.stdout
    assert (out / "Obama").is_dir()
    assert any(p.name.startswith("obama") for p in (out / "Obama").iterdir())
    again = faceatlas("run", data("people-fr"), out, "--known", known, "--quiet")
    assert "Obama: already named" in again.stdout


def test_reference_photos_without_a_face_are_left_out_with_why(people_catalog, tmp_path):
    folder = tmp_path / "known"
    (folder / "Nobody").mkdir(parents=True)
    (folder / "Nobody" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.new("RGB", (320, 240), (90, 120, 150)).save(folder / "Nobody" / "wall.png")
    with Catalog(people_catalog) as catalog:
        (outcome,) = add_known(catalog, read_known_folder(folder), CONFIG)
        assert outcome.person is None and outcome.references == 0
        why = {Path(path).name: reason for path, reason in outcome.skipped}
        assert why["wall.png"] == "no face found"
        assert why["broken.jpg"] != "no face found" and why["broken.jpg"]
        assert outcome.describe() == "Nobody: no face in its 2 reference photo(s)"
        assert not catalog.find_people("Nobody")


def test_a_catalog_from_before_known_people_opens_and_works(people_catalog, known):
    """A catalog as the version before migration 6 left it (no reference or dismissed tables,
    changes recorded without references) is upgraded on open: its old change undoes, names
    come from reference photos, suggestions are dismissed."""
    with Catalog(people_catalog) as catalog:
        person = catalog.people()[0]
        edit.name_person(catalog, person.person_id, "Old Name")
    conn = sqlite3.connect(people_catalog, isolation_level=None)
    conn.execute("DROP TABLE reference_faces")
    conn.execute("DROP TABLE dismissed_pairs")
    conn.execute("DELETE FROM schema_migrations WHERE version = 6")
    conn.execute("UPDATE changes SET undo = json_remove(undo, '$.references')")
    conn.close()
    with Catalog(people_catalog) as catalog:
        assert catalog.find_people("Old Name")
        edit.undo(catalog)  # recorded before references existed
        assert catalog.person(person.person_id).name is None
        outcomes = {o.name: o for o in add_known(catalog, read_known_folder(known), CONFIG)}
        assert outcomes["Obama"].how == "took"
        assert sorted(catalog.reference_faces().values()) == ["Obama", "stranger"]
        others = [p.person_id for p in catalog.people() if p.name is None][:2]
        catalog.dismiss_pair(*others)
        assert tuple(sorted(others)) in catalog.dismissed_pairs()
