"""The index loop, the catalog and grouping with a fake model: milliseconds, no dlib."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, index_paths
from faceatlas.people.cluster import cluster_catalog
from tests.fake_model import PALETTE, FakeModel, draw_faces

SRC = Path(__file__).resolve().parents[1] / "src" / "faceatlas"


def _photos(root: Path) -> Path:
    """Five photos: people 0-2 alone and together; photo e shows people 1 and 2."""
    layout = {"a": [0], "b": [0], "c": [1], "d": [2], "e": [1, 2]}
    for name, who in layout.items():
        draw_faces(root / f"{name}.png", [PALETTE[i] for i in who])
    return root


def test_index_loop_and_grouping_with_a_fake_model(tmp_path):
    photos = _photos(tmp_path / "photos")
    config = IndexConfig(model=FakeModel(dim=24), workers=1)
    with Catalog(tmp_path / "c.db") as catalog:
        summary = index_paths(catalog, [photos], config)
        assert (summary.processed, summary.faces) == (5, 6)
        assert catalog.face_set.spec == FakeModel(dim=24).spec()
        assert summary.ignored == {}
        assert catalog.face_matrix().vectors.shape == (6, 24)  # any dimension
        again = index_paths(catalog, [photos], config)
        assert (again.processed, again.skipped) == (0, 5)
        clustered = cluster_catalog(catalog, method="chinese-whispers", threshold=0.1)
        assert clustered.people == 3
        people = {row.image_path.rsplit("/", 1)[1] + str(row.box[0]): row.person
                  for row in catalog.faces()}
        assert people["a.png10"] == people["b.png10"] != people["c.png10"]
        assert people["c.png10"] == people["e.png10"] and people["d.png10"] == people["e.png60"]


def test_a_photo_reached_through_links_is_one_image(tmp_path):
    photos = _photos(tmp_path / "photos")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "again.png").symlink_to(photos / "a.png")  # a link to a photo
    (linked / "folder").symlink_to(photos, target_is_directory=True)  # a linked folder
    (photos / "loop").symlink_to(photos, target_is_directory=True)  # a loop
    config = IndexConfig(model=FakeModel(), workers=1)
    with Catalog(tmp_path / "c.db") as catalog:
        summary = index_paths(catalog, [linked, photos, linked / "folder" / "b.png"], config)
        assert summary.processed == 5
        assert sorted(catalog.known_images()) == sorted(
            os.path.realpath(p) for p in photos.glob("*.png")
        )
        again = index_paths(catalog, [photos / "loop" / "loop"], config)
        assert (again.processed, again.skipped) == (0, 5)


def test_no_sql_outside_the_catalog():
    sql = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|PRAGMA|CREATE TABLE)\b")
    offenders = [
        f"{path.relative_to(SRC)}:{n}"
        for path in SRC.rglob("*.py")
        if path.parent.name != "catalog"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if sql.search(line) or "sqlite3.connect" in line or "._conn" in line
    ]
    assert offenders == []


def test_fake_embeddings_separate_people():
    pipeline = FakeModel().build()
    rgb = np.full((200, 200, 3), 255, np.uint8)
    rgb[80:120, 10:50] = PALETTE[0]
    rgb[80:120, 60:100] = PALETTE[1]
    a, b = pipeline.analyze(rgb)
    assert np.linalg.norm(a.embedding - b.embedding) > 0.5


def test_odd_names_and_folders_too_deep_to_read_are_recorded(tmp_path):
    photos = _photos(tmp_path / "photos")
    odd = os.fsdecode(os.fsencode(photos) + b"/caf\xe9.png")  # not UTF-8
    os.rename(photos / "a.png", odd)
    deep = os.open(photos, os.O_RDONLY)
    try:  # a folder whose path is longer than PATH_MAX, made step by step
        for _ in range(25):
            os.mkdir("d" * 200, dir_fd=deep)
            inner = os.open("d" * 200, os.O_RDONLY, dir_fd=deep)
            os.close(deep)
            deep = inner
    finally:
        os.close(deep)
    with Catalog(tmp_path / "c.db") as catalog:
        summary = index_paths(catalog, [photos], IndexConfig(model=FakeModel(), workers=1))
        assert (summary.processed, summary.errors) == (6, 1)
        (error,) = catalog.errors()
        assert "cannot read folder" in error[1] and len(error[0]) > 4096
        assert os.path.realpath(odd) in catalog.known_images()
        assert len([r for r in catalog.faces() if r.image_path == os.path.realpath(odd)]) == 1


def test_files_that_are_not_images_are_counted(tmp_path):
    photos = _photos(tmp_path / "photos")
    (photos / "clip.mp4").write_bytes(b"\0" * 10)  # a video is indexed (this one: an error)
    (photos / "notes.txt").write_text("hello")
    (photos / "README").write_text("hello")
    with Catalog(tmp_path / "c.db") as catalog:
        summary = index_paths(catalog, [photos], IndexConfig(model=FakeModel(), workers=1))
    assert summary.ignored == {".txt": 1, "(no suffix)": 1}
    assert (summary.videos, summary.errors) == (1, 1)
