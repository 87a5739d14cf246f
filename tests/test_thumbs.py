"""Face thumbnails: cut once, cached by face id, readable from files and from TSV rows."""

from __future__ import annotations

import base64

from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.outputs.thumbs import face_thumbnail
from tests.conftest import data, faceatlas


def test_thumbnail_is_cut_once_and_cached(people_run, tmp_path):
    with Catalog(people_run / "faceatlas.db") as catalog:
        face = catalog.faces()[0]
    path = face_thumbnail(face, tmp_path / "thumbs", size=64)
    assert Image.open(path).size == (64, 64)
    stamp = path.stat().st_mtime_ns
    assert face_thumbnail(face, tmp_path / "thumbs", size=64) == path
    assert path.stat().st_mtime_ns == stamp


def test_thumbnail_of_a_face_stored_in_a_tsv_row(tmp_path):
    photo = data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg")
    tsv = tmp_path / "rows.tsv"
    tsv.write_text(f"class_a\tkey1\t{base64.b64encode(photo.read_bytes()).decode()}\n")
    db = tmp_path / "c.db"
    faceatlas("index", "--tsv", tsv, "--no-header", "--db", db, "--quiet")
    with Catalog(db) as catalog:
        (face,) = catalog.faces()
    assert face.image_source is not None  # the image lives in the TSV, not in a file
    crop = Image.open(face_thumbnail(face, tmp_path / "thumbs"))
    assert crop.size == (112, 112) and crop.getextrema() != ((0, 0), (0, 0), (0, 0))
