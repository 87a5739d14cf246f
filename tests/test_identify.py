"""`faceatlas identify`: known people named in photos, checked against face_recognition's CLI on
the same real photos, and through a catalog of named people."""

from __future__ import annotations

import doctest
import importlib.util
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceatlas.identify as identify_module
import faceatlas.people.threshold as threshold_module
from faceatlas.catalog import Catalog
from faceatlas.errors import UsageError
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult
from faceatlas.identify import KnownFaces, Verdict, identify, identify_photos
from faceatlas.people.edit import name_person
from faceatlas.people.known import KnownPhoto, name_of_file, read_known_folder
from faceatlas.people.threshold import DLIB_STRANGERS, MISNAMED, identification_cut
from faceatlas.sources import iter_image_files
from tests.conftest import data, faceatlas

PEER = "face_recognition.face_recognition_cli"
CUT = 0.4  # dlib's ResNet's same-person cut, the default tolerance


def flat_known(root: Path, dest: Path, leave_out: tuple[str, ...] = ()) -> Path:
    """The per-person folders of ``root`` as face_recognition's CLI wants them: links
    ``obama_1.jpg``, ``obama_2.jpg``, ... in one folder."""
    dest.mkdir()
    for person in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in leave_out):
        for number, photo in enumerate(sorted(person.iterdir()), start=1):
            (dest / f"{person.name}_{number}{photo.suffix}").symlink_to(photo)
    return dest


def names_by_photo(stdout: str, name_of=lambda name: name) -> dict[str, Counter]:
    """photo file name -> Counter of the names its lines give (``name_of`` maps each)."""
    found: dict[str, Counter] = defaultdict(Counter)
    for line in stdout.splitlines():
        if line.startswith("WARNING"):  # the peer's warnings go to stdout
            continue
        path, name = line.split(",")[:2]
        found[Path(path).name][name_of(name)] += 1
    return dict(found)


def face(width: int, value: float) -> Face:
    return Face((0, 0, width, width), np.zeros((5, 2)), 1.0, np.array([value, 0.0], np.float32))


# ---------------------------------------------------------------------- the library, no model


def test_docstring_example():
    assert doctest.testmod(identify_module).failed == 0


def test_default_tolerance_drops_as_reference_faces_grow():
    assert doctest.testmod(threshold_module).failed == 0
    counts = (1, 15, 60, 500, 5000)
    cuts = [identification_cut(0.4, n, "dlib-resnet-v1") for n in counts]
    assert cuts[0] == 0.4 and cuts == sorted(cuts, reverse=True) and cuts[-1] < 0.31
    for n, cut in zip(counts, cuts, strict=True):  # expected stranger hits stay <= MISNAMED
        assert n * DLIB_STRANGERS.cdf(cut) <= MISNAMED * 1.01
    assert identification_cut(1.1, 5000, "arcface") == 1.1  # no stranger curve measured


def test_nearest_reference_within_tolerance_names_the_face():
    known = KnownFaces(("ann", "ann", "bob"), np.eye(3, dtype=np.float32))
    queries = np.array([[0, 0.6, 0.8], [0.8, 0.6, 0], [0, 0, -1]], dtype=np.float32)
    verdicts = identify(known, queries, tolerance=np.sqrt(2 - 2 * 0.8))  # on the boundary
    assert [v.name for v in verdicts] == ["bob", "ann", None]
    assert verdicts[0].distance == pytest.approx(np.sqrt(0.4), abs=1e-6)
    assert verdicts[2].distance == pytest.approx(np.sqrt(2), abs=1e-6)
    assert identify(known, np.zeros((0, 3), np.float32), 0.4) == []
    with pytest.raises(UsageError, match="tolerance"):
        identify(known, queries, tolerance=0)


def test_a_reference_photo_gives_its_largest_face_and_warns_about_the_rest():
    photos = [KnownPhoto(n, f"/k/{n}.jpg") for n in ("ann", "bob", "cat", "dan")]
    results = [
        ImageResult("/k/ann.jpg", 1, 1, "ok", faces=[face(50, 1.0), face(90, -1.0)]),
        ImageResult("/k/bob.jpg", 1, 1, "no_face", faces=[]),
        ImageResult("/k/cat.jpg", 1, 1, "error", error="cannot decode image"),
        ImageResult("/k/dan.jpg", 1, 1, "ok", faces=[face(60, 1.0)]),
    ]
    warnings: list[str] = []
    known = KnownFaces.from_results(photos, results, warnings.append)
    assert known.names == ("ann", "dan")
    assert known.vectors[:, 0].tolist() == [-1.0, 1.0]  # ann's largest face
    assert warnings == [
        "known photo /k/ann.jpg: 2 faces; the largest is taken as ann",
        "known photo /k/bob.jpg: no face found; left out",
        "known photo /k/cat.jpg: cannot decode image; left out",
    ]
    with pytest.raises(UsageError, match="no face found in any"):
        KnownFaces.from_results(photos[1:3], results[1:3], warnings.append)


# ------------------------------------------------------------- real photos, the default model


def test_identify_agrees_with_face_recognition(tmp_path):
    """Both tools, default settings, the same photos: the same people in every query photo.

    face_recognition prints every known photo within its tolerance (0.6 on dlib's raw scale)
    for each face, so several lines per face; faceatlas prints one, the nearest person within
    the model's cut (0.4 between unit vectors). Its lines cannot be split by face, so each query
    photo's *set* of names is compared, and the count of unknown faces (one line each in both)."""
    if importlib.util.find_spec("face_recognition") is None or (
        importlib.util.find_spec("face_recognition_models") is None
    ):
        pytest.skip("face_recognition 1.3.0 not installed (scripts/test installs it)")
    queries = data("people-fr-queries")
    flat = flat_known(data("people-fr"), tmp_path / "known")
    peer = subprocess.run(
        [sys.executable, "-m", PEER, str(flat), str(queries)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ours = faceatlas("identify", queries, "--known", flat)
    per_folder = faceatlas("identify", queries, "--known", data("people-fr"))
    assert per_folder.stdout == ours.stdout  # either layout of the known folder
    assert "tolerance 0.4" in ours.stderr and ours.stderr.count("\n") == 1

    theirs = names_by_photo(peer.stdout, name_of=name_of_file)
    mine = names_by_photo(ours.stdout)
    assert sorted(mine) == sorted(theirs) == sorted(p.name for p in queries.iterdir())
    for photo in mine:
        assert set(mine[photo]) == set(theirs[photo]), photo
        assert mine[photo]["unknown_person"] == theirs[photo]["unknown_person"], photo
    assert mine["obama_and_biden.jpg"] == Counter(obama=1, biden=1, unknown_person=1)
    assert mine["kit_with_rose.jpg"] == Counter(kit_harington=1, rose_leslie=1)


def test_a_person_left_out_of_known_is_unknown(tmp_path):
    flat = flat_known(data("people-fr"), tmp_path / "known", leave_out=("obama",))
    photos = [data("people-fr-queries", name) for name in ("obama1.jpg", "obama_and_biden.jpg")]
    model = ModelConfig()
    found = list(identify_photos(iter_image_files(photos), model, read_known_folder(flat), CUT))
    assert [v.name for v in found[0].verdicts] == [None]
    assert Counter(v.name for v in found[1].verdicts) == Counter({None: 2, "biden": 1})
    assert [photo.item.path for photo in found] == [str(p.resolve()) for p in photos]
    assert all(isinstance(v, Verdict) and v.distance > CUT for v in found[0].verdicts)


def test_show_distance_cpus_and_a_bad_file(tmp_path):
    queries = tmp_path / "queries"
    queries.mkdir()
    for name in ("obama1.jpg", "kit_with_rose.jpg", "johnsnow_test1.jpg"):
        (queries / name).symlink_to(data("people-fr-queries", name))
    (queries / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.new("RGB", (320, 240), (90, 140, 200)).save(queries / "sky.png")
    known = data("people-fr")
    also_known = data("people-fr", "biden", "biden.jpg")  # a reference photo asked about too
    args = ("identify", "queries", also_known, "--known", known, "--show-distance")
    one = faceatlas(*args, "--cpus", "1", cwd=tmp_path)
    two = faceatlas(*args, "--cpus", "2", cwd=tmp_path)
    assert one.stdout == two.stdout  # input order, whatever the workers finish first
    lines = [line.split(",") for line in one.stdout.splitlines()]
    assert [Path(path).name for path, *_ in lines] == [
        "johnsnow_test1.jpg", "kit_with_rose.jpg", "kit_with_rose.jpg", "obama1.jpg", "sky.png",
        "biden.jpg",
    ]  # fmt: skip
    assert lines[0][0] == "queries/johnsnow_test1.jpg"  # as given: relative to the current folder
    assert lines[-1][0] == str(also_known)
    assert {tuple(line[1:2]) for line in lines[1:3]} == {("kit_harington",), ("rose_leslie",)}
    assert lines[3][1] == "obama" and lines[4] == ["queries/sky.png", "no_persons_found", "None"]
    assert lines[5][1] == "biden" and float(lines[5][2]) < 0.01  # its own reference face
    assert all(0 <= float(line[2]) <= CUT for line in lines if line[1] != "no_persons_found")
    for run in (one, two):
        warnings = [line for line in run.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "queries/broken.jpg" in warnings[0], run.stderr


def test_known_folder_errors_are_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    photo = data("people-fr-queries", "obama1.jpg")
    for args, says in (
        (("--known", empty), "no photos in"),
        (("--known", data("people-fr"), "--db", tmp_path / "x.db"), "drop --db or --known"),
        (("--cpus", "0"), "--cpus"),
    ):
        run = faceatlas("identify", photo, *args, check=False)
        assert run.returncode == 2 and run.stdout == "", run
        assert run.stderr.startswith("Error: ") and run.stderr.count("\n") == 1, run.stderr
        assert says in run.stderr


# ----------------------------------------------------------------------------- catalog mode


def test_named_people_of_a_catalog(people_catalog):
    query = data("people-fr-queries", "obama1.jpg")
    unnamed = faceatlas("identify", query, "--db", people_catalog, check=False)
    assert unnamed.returncode == 2 and unnamed.stdout == ""
    assert unnamed.stderr.count("\n") == 1 and "faceatlas people name" in unnamed.stderr
    with Catalog(people_catalog) as catalog:
        holders = {f.person_id for f in catalog.faces() if "/people-fr/obama/" in f.image_path}
        assert len(holders) == 1 and None not in holders
        name_person(catalog, holders.pop(), "Barack Obama")
    named = faceatlas("identify", query, "--db", people_catalog)
    assert named.stdout == f"{query},Barack Obama\n"
    assert named.stderr == "tolerance 0.4 (the model's same-person cut)\n"
    flags = faceatlas("identify", query, "--db", people_catalog, "--detector", "cnn", check=False)
    assert flags.returncode == 2 and "--detector" in flags.stderr
