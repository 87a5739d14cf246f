"""`faceatlas run` / `export` on real photos: people found, manifest, modes, idempotence."""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import pytest

from faceatlas.metrics import cluster_scores
from tests.conftest import data, faceatlas, link_tree


def _manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _tree(out: Path) -> list[tuple[str, str]]:
    """Every exported entry under OUT (relative path, what it points to)."""
    return sorted(
        (str(p.relative_to(out)), os.readlink(p) if p.is_symlink() else "file")
        for p in out.rglob("*")
        if p.is_file() and p.parent != out
    )


def test_run_puts_each_persons_photos_together(people_run):
    rows = _manifest(people_run)
    assert len(rows) >= 70  # every photo has at least its labeled face
    truth = [Path(r["image"]).parent.name for r in rows]
    # each unknown face is its own group: it was not put with anyone
    predicted = [r["person"] if r["person"] != "unknown" else f"u{r['face_id']}" for r in rows]
    scores = cluster_scores(truth, predicted)
    assert scores.pairwise_f >= 0.9, scores
    assert scores.bcubed_f >= 0.9, scores


def test_manifest_columns_and_folders(people_run):
    rows = _manifest(people_run)
    assert list(rows[0]) == ["image", "face_id", "box", "person", "file"]
    for row in rows:
        left, top, right, bottom = map(int, row["box"].split(","))
        assert 0 <= left < right and 0 <= top < bottom
        exported = people_run / row["file"]
        assert exported.is_symlink() and exported.resolve() == Path(row["image"]).resolve()
        assert exported.parent.name == row["person"]
    folders = sorted(p.name for p in people_run.iterdir() if p.is_dir())
    assert folders[0] == "person_0001" and "unknown" in folders
    sizes = [len({r["face_id"] for r in rows if r["person"] == f}) for f in folders
             if f != "unknown"]
    assert sizes == sorted(sizes, reverse=True)  # person_0001 is the largest


def test_group_photo_gives_one_row_per_face(tmp_path):
    photo = data("group-photos", "ultra-light-imgs", "6.jpg")
    out = tmp_path / "out"
    faceatlas("run", link_tree([photo], tmp_path / "photos"), out, "--quiet")
    rows = _manifest(out)
    assert len(rows) >= 10
    assert {r["image"] for r in rows} == {os.path.realpath(photo)}  # the photo, not the link
    assert len({r["box"] for r in rows}) == len(rows)
    # two faces in one photo are two people: none share a person folder
    people = [r["person"] for r in rows if r["person"] != "unknown"]
    assert len(people) == len(set(people))


def test_export_again_gives_the_same_result(people_catalog, tmp_path):
    out = tmp_path / "out"
    faceatlas("export", out, "--db", people_catalog)
    (out / "notes.txt").write_text("mine")  # something of the user's in OUT
    first_tree, first_manifest = _tree(out), (out / "manifest.csv").read_bytes()
    faceatlas("export", out, "--db", people_catalog)
    assert _tree(out) == first_tree
    assert (out / "manifest.csv").read_bytes() == first_manifest
    assert (out / "notes.txt").read_text() == "mine"
    # a stricter export removes the folders the previous one wrote, and only those
    faceatlas("export", out, "--db", people_catalog, "--min-faces", "100")
    assert {p.name for p in out.iterdir()} == {"unknown", "manifest.csv", "notes.txt"}


@pytest.mark.parametrize("mode", ["copy", "hardlink"])
def test_copy_and_hardlink_leave_originals_untouched(tmp_path, mode):
    originals = sorted(data("people-fr", "obama").glob("*.jpg"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for path in originals:  # private copies, so hard links stay on one file system
        (photos / path.name).write_bytes(path.read_bytes())
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.iterdir()}
    out = tmp_path / "out"
    faceatlas("run", photos, out, "--mode", mode, "--quiet")
    exported = [out / r["file"] for r in _manifest(out)]
    assert exported and all(p.is_file() and not p.is_symlink() for p in exported)
    if mode == "hardlink":
        assert all(p.stat().st_nlink == 2 for p in exported)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in photos.iterdir()}
    assert after == before


def test_small_people_go_to_unknown(people_catalog, tmp_path):
    out = tmp_path / "out"
    faceatlas("export", out, "--db", people_catalog, "--min-faces", "6")
    rows = _manifest(out)
    for person in {r["person"] for r in rows} - {"unknown"}:
        assert sum(r["person"] == person for r in rows) >= 6
    assert any(r["person"] == "unknown" for r in rows)
