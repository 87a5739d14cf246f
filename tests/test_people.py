"""People that last: numbers, names, corrections and undo (fake model: milliseconds), export by
name, and the whole story end to end with the real commands on real photos."""

from __future__ import annotations

import csv
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.catalog.migrations import MIGRATIONS
from faceatlas.cli import main
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.faces.record import Face, ImageResult
from faceatlas.faces.spec import ModelSpec
from faceatlas.outputs.export import export_people, plan_export
from faceatlas.people import edit
from tests.conftest import data, faceatlas

SPEC = ModelSpec(detector="fake", min_face=20, embedder="fake-colour", dim=8)


def _face(vector: np.ndarray, left: int = 0) -> Face:
    v = np.asarray(vector, np.float32)
    return Face((left, 0, left + 10, 10), np.zeros((5, 2), np.float32), 1.0, v / np.linalg.norm(v),
                1.0)  # fmt: skip


def _direction(person: int, rng: np.random.Generator, noise: float = 0.02) -> np.ndarray:
    base = np.zeros(8)
    base[person % 8] = 1.0 if person < 8 else -1.0
    return base + rng.normal(0, noise, 8)


def _catalog(path: Path, photos: dict[str, list[int]], seed: int = 0) -> Catalog:
    """A catalog whose photo NAME holds one face per listed person (near-orthogonal people)."""
    rng = np.random.default_rng(seed)
    catalog = Catalog(path)
    catalog.face_set_for(SPEC)
    _add(catalog, photos, rng)
    return catalog


def _add(catalog: Catalog, photos: dict[str, list[int]], rng=None) -> None:
    rng = rng or np.random.default_rng(len(photos))
    catalog.add_results(
        ImageResult(f"/p/{name}.jpg", 1, 1, "ok", 100, 100,
                    faces=[_face(_direction(p, rng), 20 * i) for i, p in enumerate(who)])
        for name, who in photos.items()
    )  # fmt: skip


def _group(catalog: Catalog, labels_of: dict[str, int] | None = None) -> None:
    """Group by the truth (person of each face), as a perfect method would."""
    matrix = catalog.face_matrix()
    truth = _truth(catalog)
    catalog.save_clustering("truth", {"threshold": 0.5}, matrix.face_ids,
                            np.array([truth[int(f)] for f in matrix.face_ids]))  # fmt: skip


def _truth(catalog: Catalog) -> dict[int, int]:
    matrix = catalog.face_matrix()
    return {int(f): int(np.argmax(np.abs(v))) + (8 if v[np.argmax(np.abs(v))] < 0 else 0)
            for f, v in zip(matrix.face_ids, matrix.vectors, strict=True)}  # fmt: skip


def _people(catalog: Catalog) -> dict[str, set[int]]:
    """label -> face ids."""
    faces = catalog.person_faces([p.person_id for p in catalog.people()])
    return {p.label: set(faces.get(p.person_id, [])) for p in catalog.people()}


def _face_of(catalog: Catalog, photo: str, position: int = 0) -> int:
    rows = [r for r in catalog.faces() if r.image_path == f"/p/{photo}.jpg"]
    return sorted(rows, key=lambda r: r.box[0])[position].face_id


PHOTOS = {"a1": [0], "a2": [0], "a3": [0], "b1": [1], "b2": [1], "c1": [2], "g1": [0, 1, 2]}


def test_a_regroup_keeps_ids_numbers_and_names_and_numbers_never_come_back(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        _group(catalog)
        first = {p.label: p.person_id for p in catalog.people()}
        assert list(first) == ["person_0001", "person_0002", "person_0003"]  # by size
        edit.name_person(catalog, "person_0002", "Bea")
        matrix = catalog.face_matrix()
        truth = _truth(catalog)
        # the same grouping under other labels: the same people
        catalog.save_clustering("x", {}, matrix.face_ids,
                                np.array([7 - truth[int(f)] for f in matrix.face_ids]))
        assert {p.label: p.person_id for p in catalog.people()} == {
            "person_0001": first["person_0001"], "Bea": first["person_0002"],
            "person_0003": first["person_0003"]}  # fmt: skip
        # person 3 dissolves (its faces to nobody): its number is never given again
        labels = np.array([truth[int(f)] if truth[int(f)] != 2 else -1 for f in matrix.face_ids])
        catalog.save_clustering("x", {}, matrix.face_ids, labels)
        assert [p.label for p in catalog.people()] == ["person_0001", "Bea"]
        catalog.save_clustering("x", {}, matrix.face_ids, np.array([truth[int(f)] for f in
                                                                    matrix.face_ids]))
        assert [p.label for p in catalog.people()] == ["person_0001", "Bea", "person_0004"]
        assert catalog.stats()["people"] == 3


def test_named_people_keep_their_faces_and_never_merge(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        _group(catalog)
        edit.name_person(catalog, "person_0001", "Ann")
        edit.name_person(catalog, "person_0002", "Bea")
        before = _people(catalog)
        matrix = catalog.face_matrix()
        everyone = np.zeros(len(matrix), np.int64)  # a grouping that joins everybody
        catalog.save_clustering("x", {}, matrix.face_ids, everyone)
        after = _people(catalog)  # the group went to Ann (most overlap): she only gains
        assert after["Ann"] >= before["Ann"] and after["Bea"] == before["Bea"]
        assert before["person_0003"] - after["Ann"] == {_face_of(catalog, "g1", 2)}  # one photo
        # a grouping that drops every face: the named people keep theirs, the other goes
        catalog.save_clustering("x", {}, matrix.face_ids, np.full(len(matrix), -1))
        assert set(_people(catalog)) == {"Ann", "Bea"}


def test_pins_rejections_and_one_photo_hold_against_any_grouping(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        _group(catalog)
        a1, g_a = _face_of(catalog, "a1"), _face_of(catalog, "g1", 0)
        edit.move_faces(catalog, [a1], "person_0002")  # pinned to B (say the user knows)
        edit.reject_faces(catalog, [g_a])  # not person 1
        matrix = catalog.face_matrix()
        truth = _truth(catalog)
        catalog.save_clustering("x", {}, matrix.face_ids,
                                np.array([truth[int(f)] for f in matrix.face_ids]))
        people = _people(catalog)
        assert a1 in people["person_0002"] and g_a not in people["person_0001"]
        # a face pinned in a photo keeps the photo's other faces out of its person
        g_b, g_c = _face_of(catalog, "g1", 1), _face_of(catalog, "g1", 2)
        edit.move_faces(catalog, [g_b], "person_0002")
        catalog.save_clustering("x", {}, matrix.face_ids, np.zeros(len(matrix), np.int64))
        people = _people(catalog)
        assert {a1, g_b} <= people["person_0002"] and not {g_a, g_c} & people["person_0002"]


def test_corrections_and_undo(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        _group(catalog)
        start = _people(catalog)
        steps = []

        def step(result):
            steps.append(_people(catalog))
            return result

        step(edit.name_person(catalog, "person_0002", "Bea"))
        assert edit.resolve_person(catalog, "bea").label == "Bea"  # any case
        assert edit.resolve_person(catalog, str(catalog.people()[1].person_id)).label == "Bea"
        with pytest.raises(UsageError, match="already has that name"):
            edit.name_person(catalog, "person_0001", "BEA")
        with pytest.raises(UsageError, match="looks like a label"):
            edit.name_person(catalog, "person_0001", "person_0009")
        merged = step(edit.merge_people(catalog, "person_0003", ["Bea"]))
        assert merged.person.label == "Bea" and merged.person.size == 4  # the name moves over
        assert merged.left_out == 1  # g1 held both: one stays out
        split = step(edit.split_person(catalog, "Bea", [_face_of(catalog, "b1")]))
        assert split.created[0].label == "person_0004"
        with pytest.raises(UsageError, match="one photo"):
            edit.move_faces(catalog, [_face_of(catalog, "g1", 0), _face_of(catalog, "g1", 1)],
                            "Bea")  # fmt: skip
        step(edit.move_faces(catalog, [_face_of(catalog, "a1")], "person_0004"))
        step(edit.reject_faces(catalog, [_face_of(catalog, "a2")]))
        step(edit.hide_person(catalog, "person_0004"))
        assert {p.label for p in edit.list_people(catalog, hidden=False)} == {"person_0001", "Bea"}
        forgotten = _face_of(catalog, "a3")
        step(edit.forget_faces(catalog, [forgotten]))
        assert not catalog.faces([forgotten])
        assert [c.kind for c in catalog.changes()] == [
            "forget", "hide", "reject", "move", "split", "merge", "name"]  # fmt: skip
        for expected in [*steps[-2::-1], start]:  # undo, one by one, back to the start
            edit.undo(catalog)
            assert _people(catalog) == expected
        assert catalog.faces([forgotten])[0].face_id == forgotten  # back, embedding and all
        assert [p.label for p in catalog.people()] == ["person_0001", "person_0002",
                                                       "person_0003"]  # fmt: skip
        with pytest.raises(UsageError, match="nothing to undo"):
            edit.undo(catalog)


def test_split_at_a_tighter_cut(tmp_path):
    rng = np.random.default_rng(3)
    with _catalog(tmp_path / "c.db", {}) as catalog:
        near = _direction(0, rng, 0.0)
        other = near + np.eye(8)[1] * 0.45  # a look-alike: within 0.5 but not 0.3
        catalog.add_results(
            ImageResult(f"/p/s{i}.jpg", 1, 1, "ok", 100, 100,
                        faces=[_face((near if i < 4 else other) + rng.normal(0, 0.01, 8))])
            for i in range(6)
        )  # fmt: skip
        catalog.save_clustering("chinese-whispers", {"threshold": 0.5},
                                catalog.face_matrix().face_ids, np.zeros(6, np.int64))
        result = edit.split_person(catalog, "person_0001")
        assert sorted(p.size for p in catalog.people()) == [2, 4]
        assert result.person.size == 4 and result.created[0].label == "person_0002"


def test_no_people_yet_and_unknown_people(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        with pytest.raises(NoPeopleYet):
            edit.list_people(catalog)
        _group(catalog)
        with pytest.raises(edit.UnknownPerson, match="no person 'Zed'"):
            edit.name_person(catalog, "Zed", "Zoe")
        with pytest.raises(UsageError, match="no face 999"):
            edit.move_faces(catalog, [999], "person_0001")


def test_a_catalog_from_before_persistent_people_keeps_its_folder_names(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")  # fmt: skip
    for version, (name, migrate) in enumerate(MIGRATIONS[:3], start=1):
        migrate(conn)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (version, name))
    conn.execute("INSERT INTO face_sets VALUES (1, 'm', ?, 8, 'then')", (SPEC.to_json(),))
    conn.execute("INSERT INTO images(id, path, size, mtime_ns) VALUES (1, '/p/a.jpg', 1, 1)")
    for i in range(3):
        conn.execute("INSERT INTO faces(id, image_id, left, top, right, bottom, score, landmarks,"
                     " embedding, embedding_norm, model, face_set_id) VALUES (?, 1, 0, 0, 1, 1,"
                     " 1, x'', ?, 1, 'm', 1)", (i + 1, np.eye(8, dtype=np.float32)[i].tobytes()))
    conn.execute("INSERT INTO clusterings VALUES (1, 'infomap', '{\"threshold\": 0.4}', 'then', 1)")
    conn.execute("INSERT INTO people VALUES (5, 1, 1, 2, NULL), (6, 1, 2, 1, 'Zoe')")
    conn.execute("INSERT INTO assignments VALUES (1, 5), (2, 5), (3, 6)")
    conn.close()
    with Catalog(path) as catalog:
        assert [(p.label, p.number, p.size) for p in catalog.people()] == [
            ("person_0001", 1, 2), ("Zoe", 2, 1)]  # fmt: skip
        assert catalog.clustering()["last_face_id"] == 3
        catalog.save_clustering("x", {}, np.array([1, 2, 3]), np.array([0, 1, 2]))
        assert [p.label for p in catalog.people()] == ["person_0001", "Zoe", "person_0003"]


def _manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_export_by_name_renames_folders_and_hides(tmp_path):
    with _catalog(tmp_path / "c.db", PHOTOS) as catalog:
        _group(catalog)
        out = tmp_path / "out"  # the catalog's photos are /p/...: links to nothing, that's fine
        export_people(catalog, out, min_faces=1)
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == [
            "person_0001", "person_0002", "person_0003"]  # fmt: skip
        (out / "person_0002" / "notes.txt").write_text("mine")
        edit.name_person(catalog, "person_0002", "Bea/Bee")
        edit.hide_person(catalog, "person_0003")
        before = sorted(str(p) for p in out.rglob("*"))
        plan = plan_export(catalog, out, min_faces=1)
        assert sorted(str(p) for p in out.rglob("*")) == before  # a plan touches nothing
        assert plan.renamed == [("person_0002", "Bea_Bee")]
        assert plan.removed == ["person_0003/c1.jpg", "person_0003/g1.jpg"] and plan.added == []
        export_people(catalog, out, min_faces=1)
        assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["Bea_Bee", "person_0001"]
        assert (out / "Bea_Bee" / "notes.txt").read_text() == "mine"  # the user's file followed
        assert {r["person"] for r in _manifest(out)} == {"Bea_Bee", "person_0001"}


def test_people_commands(tmp_path):
    db = tmp_path / "c.db"
    with _catalog(db, PHOTOS) as catalog:
        _group(catalog)
        face = _face_of(catalog, "a1")
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(main, ["people", *args, "--db", str(db)])
        assert result.exit_code == 0, result.output
        return result.output

    assert "person_0001" in run("list")
    assert "Obama" in run("name", "person_0001", "Obama")
    assert f"face {face}" in run("show", "Obama")
    assert "merged person_0002 into Obama" in run("merge", "Obama", "person_0002")
    assert "moved 1 faces to person_0003" in run("move", str(face), "--to", "person_0003")
    assert "not person_0003" in run("reject", str(face))
    assert "hidden" in run("hide", "person_0003")
    assert "undid hide" in run("undo")
    assert "reject" in run("history")
    bad = runner.invoke(main, ["people", "name", "Nobody", "X", "--db", str(db)])
    assert bad.exit_code != 0 and "Error: no person 'Nobody'" in bad.output
    help_text = runner.invoke(main, ["people", "--help"]).output
    for command in ("list", "show", "name", "merge", "split", "move", "reject", "hide", "unhide",
                    "forget", "undo"):  # fmt: skip
        assert command in help_text
        assert "Example" in runner.invoke(main, ["people", command, "--help"]).output


# -- end to end, real photos and the real commands ---------------------------------------------


def _pick(person: str, *indices: int) -> list[Path]:
    photos = sorted(data("people-deepface", person).iterdir())
    return [photos[i] for i in indices]


def _link(paths: list[Path], root: Path) -> None:
    for path in paths:
        target = root / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)


def _folders(out: Path) -> dict[str, set[str]]:
    """person folder -> the photo files (by their real path) in it."""
    found: dict[str, set[str]] = {}
    for row in _manifest(out):
        found.setdefault(row["person"], set()).add(os.path.realpath(row["image"]))
    return found


@pytest.fixture(scope="module")
def grown(tmp_path_factory):
    """`faceatlas run` on four people, one named, then again with photos added."""
    root = tmp_path_factory.mktemp("grown")
    photos, out = root / "photos", root / "out"
    first = (_pick("Angelina", 0, 1, 2, 3, 4) + _pick("Jennifer", 0, 1, 2, 3)
             + _pick("Mark", 0, 1, 2) + _pick("Jack", 0, 1, 2))  # fmt: skip
    _link(first, photos)
    faceatlas("run", photos, out, "--quiet", "--min-faces", "1")
    before = _folders(out)
    angelina = {os.path.realpath(p) for p in first[:5]}
    holder = max(sorted(before), key=lambda f: len(before[f] & angelina))
    faceatlas("people", "name", holder, "Angelina Jolie", "--db", out / "faceatlas.db")
    added = _pick("Angelina", 5, 6) + _pick("Elon", 0, 1, 2)
    _link(added, photos)
    dry = faceatlas("run", photos, out, "--dry-run", "--min-faces", "1").stdout
    faceatlas("run", photos, out, "--quiet", "--min-faces", "1")
    return {"out": out, "before": before, "holder": holder, "added": added, "dry": dry,
            "after": _folders(out)}  # fmt: skip


def test_a_grown_folder_keeps_numbers_names_and_faces(grown):
    before, after, holder = grown["before"], grown["after"], grown["holder"]
    assert "index" in grown["dry"] and "5 photos to index" in grown["dry"]
    assert f"rename {holder}/ -> Angelina Jolie/" in grown["dry"]
    angelina = {os.path.realpath(p) for p in grown["added"][:2]}
    assert after["Angelina Jolie"] == before[holder] | angelina  # gained the new photos
    elon = {os.path.realpath(p) for p in grown["added"][2:]}
    # one folder holds every photo of the new person (img67 shows someone else too)
    (elon_folder,) = [f for f, imgs in after.items() if imgs >= elon]
    known = [int(f[7:]) for f in before if f.startswith("person_")]
    assert elon_folder.startswith("person_") and int(elon_folder[7:]) > max(known)
    for folder, images in before.items():  # every other person: same number, same faces
        if folder not in (holder, "unknown"):
            assert after[folder] == images, folder


@pytest.fixture
def grown_db(grown, tmp_path) -> Path:
    copy = tmp_path / "c.db"
    shutil.copy(grown["out"] / "faceatlas.db", copy)
    return copy


def _labels(db: Path) -> dict[str, set[int]]:
    with Catalog(db) as catalog:
        return _people(catalog)


def test_corrections_survive_a_fresh_regroup_and_undo_restores(grown_db):
    db = grown_db
    start = _labels(db)
    people = sorted((label for label in start if label != "Angelina Jolie"),
                    key=lambda label: -len(start[label]))  # fmt: skip
    big, second = people[0], people[1]
    faceatlas("people", "merge", big, second, "--db", db)
    merged = _labels(db)[big]
    moved = sorted(start["Angelina Jolie"])[0]
    faceatlas("people", "move", moved, "--to", big, "--db", db)
    rejected = sorted(merged)[0]
    faceatlas("people", "reject", rejected, "--db", db)
    split_off = sorted(merged - {rejected})[:1]
    faceatlas("people", "split", big, "--faces", *map(str, split_off), "--db", db)
    corrected = _labels(db)
    faceatlas("cluster", "--fresh", "--db", db)
    again = _labels(db)
    assert "Angelina Jolie" in again
    assert moved in again[big] and rejected not in again[big]
    assert merged - {rejected} - set(split_off) <= again[big] | {moved}
    (piece,) = [label for label, faces in corrected.items() if faces == set(split_off)]
    assert again[piece] >= set(split_off) and not again[piece] & again[big]
    for _ in range(4):  # split, reject, move, merge
        faceatlas("people", "undo", "--db", db)
    undone = _labels(db)
    assert piece not in undone and undone["Angelina Jolie"] == again["Angelina Jolie"] | {moved}
    assert undone[second] == start[second] and undone[big] == again[big] - start[second] - {moved}
