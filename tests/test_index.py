"""Indexing through the real CLI: broken files, kill -9 and resume, incremental runs, EXIF."""

from __future__ import annotations

import json
import os
import re

import numpy as np
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.faces.pipeline import ModelConfig
from tests.conftest import data, faceatlas, kill_when_stored, lfw_people, link_tree
from tests.images import broken_corpus, encoded


def _stats(db) -> dict:
    return json.loads(faceatlas("stats", "--db", db, "--json").stdout)


def test_broken_files_are_recorded_and_the_run_goes_on(tmp_path):
    good = data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg")
    expected = broken_corpus(tmp_path / "photos", good)
    (tmp_path / "photos" / "good.jpg").write_bytes(good.read_bytes())
    (tmp_path / "photos" / "readme.txt").write_text("not an image suffix: ignored")
    db = tmp_path / "c.db"
    result = faceatlas("index", tmp_path / "photos", "--db", db, "--workers", "2", "--quiet")
    assert "1 faces" in result.stdout and f"{len(expected)} errors" in result.stdout
    stats = _stats(db)
    assert stats["images"] == len(expected) + 1 and stats["faces"] == 1
    assert stats["errors"] == len(expected)
    reasons = {os.path.basename(e["path"]): e["reason"] for e in stats["error_samples"]}
    for name, words in expected.items():
        assert words in reasons[name], (name, reasons[name])
    # a second run does not retry recorded failures unless asked
    again = faceatlas("index", tmp_path / "photos", "--db", db, "--quiet")
    assert "indexed 0 new images" in again.stdout
    retry = faceatlas("index", tmp_path / "photos", "--db", db, "--quiet", "--retry-errors")
    assert f"indexed {len(expected)} new images" in retry.stdout


def _image_count(db) -> int:
    with Catalog(db) as catalog:
        return catalog.stats()["images"]


def test_kill_9_mid_run_then_resume_indexes_every_image_once(tmp_path):
    photos = link_tree(lfw_people(min_images=4, max_people=12, per_person=4), tmp_path / "photos")
    total = sum(1 for _ in photos.rglob("*.jpg"))
    db = tmp_path / "c.db"
    args = ["index", photos, "--db", db, "--workers", "2", "--quiet"]
    stored = kill_when_stored(args, db, _image_count, 3)
    assert 3 <= stored < total
    with Catalog(db) as catalog:
        kept = catalog.stats()["images"]
        assert catalog.integrity_check() == "ok"
    resumed = faceatlas("index", photos, "--db", db, "--workers", "2", "--quiet")
    assert f"indexed {total - kept} new images ({kept} already done)" in resumed.stdout
    reference = tmp_path / "reference.db"  # the same files, never interrupted
    faceatlas("index", photos, "--db", reference, "--workers", "2", "--quiet")
    assert _faces_by_path(db) == _faces_by_path(reference)
    assert len(_faces_by_path(db)) == total


def _faces_by_path(db) -> dict[str, list[bytes]]:
    """path -> its faces' embeddings, checking each image's face_count on the way."""
    with Catalog(db) as catalog:
        counts = {image.path: image.face_count for image in catalog.images()}
        matrix = catalog.face_matrix()
        vector = dict(zip(matrix.face_ids.tolist(), matrix.vectors, strict=True))
        faces = sorted((row.image_path, row.box[0], vector[row.face_id].tobytes())
                       for row in catalog.faces())
    found: dict[str, list[bytes]] = {path: [] for path in counts}
    for path, _, embedding in faces:
        found[path].append(embedding)
    assert all(counts[p] == len(found[p]) for p in found)
    return found


def test_second_run_processes_only_the_new_photo(tmp_path):
    photos = tmp_path / "photos"
    first = sorted(data("people-fr").rglob("*.jp*g"))[:4]
    link_tree(first[:3], photos)
    out = tmp_path / "out"
    one = faceatlas("run", photos, out, "--quiet")
    assert "indexed 3 new images (0 already done)" in one.stdout
    link_tree(first[3:], photos)
    two = faceatlas("run", photos, out, "--quiet")
    assert "indexed 1 new images (3 already done)" in two.stdout
    assert _stats(out / "faceatlas.db")["images"] == 4


def test_run_does_not_index_its_own_output(tmp_path):
    photos = link_tree(sorted(data("people-fr").rglob("*.jp*g"))[:2], tmp_path / "photos")
    out = photos / "people"  # OUT inside PHOTOS: its links must not be indexed again
    faceatlas("run", photos, out, "--quiet", "--min-faces", "1")
    second = faceatlas("run", photos, out, "--quiet", "--min-faces", "1")
    assert "indexed 0 new images (2 already done)" in second.stdout


def test_exif_rotated_photo_gives_upright_box(tmp_path):
    upright = Image.open(data("people-fr", "obama", "obama2.jpg"))
    upright = upright.convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 counter-clockwise to display"
    sideways = upright.transpose(Image.Transpose.ROTATE_270)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "rotated.jpg").write_bytes(
        encoded(sideways, "JPEG", exif=exif.tobytes(), quality=95))
    db = tmp_path / "c.db"
    faceatlas("index", tmp_path / "photos", "--db", db, "--quiet")
    with Catalog(db) as catalog:
        (image,) = catalog.images()
        width, height = image.width, image.height
        boxes = [row.box for row in catalog.faces()]
    assert (width, height) == upright.size
    expected = ModelConfig().build().analyze(np.asarray(upright))
    assert len(boxes) == len(expected) == 1
    assert np.abs(np.subtract(boxes[0], expected[0].box)).max() <= 3
    # and the test bites: the raw sideways pixels hide the face from the frontal detector
    assert ModelConfig().build().analyze(np.asarray(sideways)) == []


def test_index_help_explains_and_shows_an_example():
    text = faceatlas("index", "--help").stdout
    for words in ("--workers", "--detector", "--min-face", "Example"):
        assert words in text


def test_unknown_detector_is_a_clear_error(tmp_path):
    result = faceatlas("index", tmp_path, "--detector", "magic", check=False)
    assert result.returncode == 2 and "magic" in result.stderr


def test_missing_catalog_is_a_clear_error(tmp_path):
    result = faceatlas("cluster", "--db", tmp_path / "none.db", check=False)
    assert result.returncode == 1 and re.search(r"no catalog at .*none\.db", result.stderr)
