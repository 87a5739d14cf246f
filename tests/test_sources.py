"""Inputs beyond folders: TSV parsing details, lists of paths, .zip/.tar archives, segments from
folders and --largest-face-only."""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
import warnings
import zipfile

import numpy as np
import pytest
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.decode import ImageTooLarge
from faceatlas.index import IndexConfig, Inputs, index_inputs
from faceatlas.sources import (
    READ_CHUNK,
    TsvSpec,
    dry_run_tsv,
    iter_archive,
    iter_tsv,
    iter_tsv_rows,
    read_at_most,
    read_source,
)
from tests.conftest import data, faceatlas, lfw_people, link_tree
from tests.test_hostile_inputs import corrupt_deflate


def test_tsv_rows_crlf_header_names_negative_columns_and_a_huge_field(tmp_path):
    face = data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg").read_bytes()
    big = io.BytesIO()
    Image.new("RGB", (2600, 2600), (90, 120, 150)).save(big, "BMP")  # 20 MB: a 27 MB field
    tsv = tmp_path / "rows.tsv"
    tsv.write_bytes(
        b"klass\tname\tpixels\r\n"
        + b"a\tface\t" + base64.b64encode(face) + b"\r\n"
        + b"b\tbig\t" + base64.b64encode(big.getvalue()) + b"\r\n"
        + b"b\tlast\t" + base64.b64encode(face)  # no final newline
    )
    spec = TsvSpec(image_column="pixels", key_column="name", segment_column=-3)
    rows = [(r.row, r.key, r.segment, r.error, len(r.field)) for r in iter_tsv_rows(tsv, spec)]
    assert [r[:4] for r in rows] == [
        (0, "face", "a", None), (1, "big", "b", None), (2, "last", "b", None)
    ]
    items = list(iter_tsv(tsv, spec))
    assert items[0].data == face and items[1].data == big.getvalue() and items[2].data == face
    for item in items:  # the locator reads exactly the row's image again
        assert read_source(item.path, item.source) == item.data
    counted = dry_run_tsv([tsv], spec)
    assert (counted.rows, counted.images, counted.bad) == (3, 3, 0)
    with pytest.raises(ValueError, match="no column named 'image'"):
        list(iter_tsv_rows(tsv, TsvSpec(image_column="image")))
    with pytest.raises(ValueError, match="need a header"):
        TsvSpec(image_column="pixels", header=False)


def test_archives_and_lists_are_indexed_with_stable_keys_and_readable_again(tmp_path):
    images = lfw_people(min_images=2, max_people=2, per_person=2)
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        for path in images[:2]:
            zf.write(path, f"{path.parent.name}/{path.name}")
        zf.writestr("notes/readme.txt", "not an image: ignored")
    with tarfile.open(tmp_path / "b.tar.gz", "w:gz") as tf:
        for path in images[2:]:
            tf.add(path, f"{path.parent.name}/{path.name}")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip archive")
    photos = link_tree(images[:1], tmp_path / "listed")
    (tmp_path / "list.txt").write_text(
        f"# photos\n{photos / images[0].parent.name / images[0].name}\nlisted/missing.jpg\n"
    )
    (tmp_path / "list.csv").write_text(f"name,path\nx,{images[3]}\n")
    db = tmp_path / "c.db"
    args = [tmp_path / "a.zip", tmp_path / "b.tar.gz", tmp_path / "broken.zip",
            "--list", tmp_path / "list.txt",
            "--list", tmp_path / "list.csv", "--segment-from-folder", "--db", db, "-q"]
    first = faceatlas("index", *args, "--workers", "2")
    assert "indexed 8 new images" in first.stdout and "2 errors" in first.stdout
    with Catalog(db) as catalog:
        stored = {i.path: (i.status, i.segment, i.source) for i in catalog.images()}
    zipped = {f"{tmp_path / 'a.zip'}#{p.parent.name}/{p.name}": p for p in images[:2]}
    tarred = {f"{tmp_path / 'b.tar.gz'}#{p.parent.name}/{p.name}": p for p in images[2:]}
    for key, original in {**zipped, **tarred}.items():
        status, segment, source = stored[key]
        assert status == "ok" and segment == original.parent.name
        assert read_source(key, source) == original.read_bytes()
    assert stored[str(tmp_path / "listed" / "missing.jpg")][0] == "error"
    assert stored[os.path.realpath(images[3])][0] == "ok"
    assert stored[str(tmp_path / "broken.zip")][0] == "error"
    again = faceatlas("index", *args)
    assert "indexed 0 new images (8 already done)" in again.stdout


def test_segment_from_folder_and_largest_face_only(tmp_path):
    photos = link_tree(lfw_people(min_images=2, max_people=2, per_person=1), tmp_path / "p")
    group = data("group-photos", "face_recognition", "two_people.jpg")
    (photos / "group").mkdir()
    (photos / "group" / group.name).symlink_to(group)
    config = IndexConfig(workers=1)
    with Catalog(tmp_path / "all.db") as catalog:
        index_inputs(catalog, Inputs(paths=(photos,), segment_from_folder=True), config)
        segments = {image.path: image.segment for image in catalog.images()}
        all_faces = catalog.faces()
    assert {s for s in segments.values()} == {p.name for p in photos.iterdir()}
    # the segment is the folder the photo was found in, also through a link
    assert segments.pop(str(group.resolve())) == "group"
    assert all(p.split("/")[-2] == s for p, s in segments.items())
    in_group = [f for f in all_faces if f.image_path.endswith(group.name)]
    assert len(in_group) >= 2
    largest = max(in_group, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    only = IndexConfig(workers=1, largest_face_only=True)
    with Catalog(tmp_path / "largest.db") as catalog:
        index_inputs(catalog, Inputs(paths=(photos / "group",)), only)
        kept = catalog.faces()
        (image,) = catalog.images()
        count = image.face_count
    assert len(kept) == 1 and count == len(in_group)
    assert kept[0].box == largest.box
    assert np.array_equal(kept[0].landmarks, largest.landmarks)


class _Counting(io.BytesIO):
    """A stream that counts the bytes handed out."""

    given = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.given += len(chunk)
        return chunk


def test_read_at_most_never_holds_more_than_the_limit_plus_one():
    assert read_at_most(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    assert read_at_most(io.BytesIO(b""), 10) == b""
    stream = _Counting(bytes(5 * READ_CHUNK))
    with pytest.raises(ImageTooLarge, match="archive member too large: over 1,000 bytes"):
        read_at_most(stream, 1000, "archive member")
    assert stream.given == 1001


def test_duplicate_member_names_first_wins_and_read_source_agrees(tmp_path):
    face = data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg").read_bytes()
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
        zf.writestr("a/x.jpg", face)
        zf.writestr("a/y.jpg", b"other")
        zf.writestr("a/x.jpg", b"later")
    with tarfile.open(tmp_path / "d.tar", "w") as tf:
        for name, content in (("x.jpg", face), ("x.jpg", b"later")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    for archive, name, number in (("d.zip", "a/x.jpg", 2), ("d.tar", "x.jpg", 1)):
        items = list(iter_archive(tmp_path / archive))
        key = f"{tmp_path / archive}#{name}"
        first, dup = items[0], items[-1]
        assert (first.path, first.data, first.error) == (key, face, None)
        assert dup.path == f"{key}#dup{number}" and dup.data is None
        assert dup.error == "duplicate member name (first seen as member 0)"
        assert read_source(first.path, first.source) == face


def test_damaged_members_are_recorded_and_read_source_raises_oserror(tmp_path):
    face = data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg").read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bad.jpg", face)
        zf.writestr("good.jpg", face)
    (tmp_path / "z.zip").write_bytes(corrupt_deflate(buffer.getvalue(), "bad.jpg"))
    bad, good = iter_archive(tmp_path / "z.zip")
    assert bad.error.startswith("unreadable archive member: invalid compressed data")
    assert good.data == face
    with pytest.raises(OSError, match="invalid compressed data"):
        read_source(bad.path, bad.source)
    with pytest.raises(OSError, match="is not in"):
        read_source(bad.path, json.dumps({"zip": str(tmp_path / "z.zip"), "member": "no.jpg"}))
    with pytest.raises(ValueError, match="damaged image source"):
        read_source(bad.path, json.dumps({"zip": str(tmp_path / "z.zip")}))
