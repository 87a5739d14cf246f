"""TSV rows of base64 images through the real CLI: bad rows, --dry-run, --range, kill -9 and
resume, per-segment clustering and export."""

from __future__ import annotations

import base64
import csv
from collections import Counter
from pathlib import Path

import pytest

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, Inputs, index_inputs
from faceatlas.people.cluster import cluster_catalog
from faceatlas.sources import TsvSpec, dry_run_tsv, iter_tsv, parse_range
from tests.conftest import faceatlas, kill_when_stored, lfw_people
from tests.fake_model import PALETTE, FakeModel, draw_faces

BAD_ROWS = {  # row -> words its recorded reason must contain
    12: "not base64",
    13: "not an image",
    14: "empty image field",
    15: "wrong column count: 2 instead of 3",
    16: "empty row",
}


def b64(path: Path) -> bytes:
    return base64.b64encode(path.read_bytes())


def write_tsv(path: Path, rows: list[bytes], header: bytes | None = None) -> Path:
    with path.open("wb") as handle:
        if header is not None:
            handle.write(header + b"\n")
        for row in rows:
            handle.write(row + b"\n")
    return path


def _images(db: Path) -> list:
    """The catalog's image records, by path."""
    with Catalog(db) as catalog:
        return catalog.images()


@pytest.fixture(scope="module")
def bulk(tmp_path_factory) -> dict:
    """A TSV (header id, segment, image) of 12 LFW images of two people, each person in two
    segments, then one bad row of each kind; indexed once."""
    root = tmp_path_factory.mktemp("bulk")
    images = lfw_people(min_images=6, max_people=2, per_person=6)
    rows, truth = [], {}
    for i, path in enumerate(images):
        segment = "segA" if i % 6 < 3 else "segB"
        rows.append(f"img{i:03d}\t{segment}\t".encode() + b64(path))
        truth[f"img{i:03d}"] = (path.parent.name, segment)
    rows += [
        b"img012\tsegA\t@@@ not base64 @@@",
        b"img013\tsegB\t" + base64.b64encode(b"plain text, not a picture"),
        b"img014\tsegB\t",
        b"img015\tsegB",
        b"",
    ]
    tsv = write_tsv(root / "part-0001.tsv", rows, header=b"id\tsegment\timage")
    db = root / "bulk.db"
    args = ["--tsv", tsv, "--header", "--image-column", "image", "--segment-column", "segment"]
    result = faceatlas("index", *args, "--key-column", "id", "--db", db, "--workers", "2", "-q",
                       "--largest-face-only")
    return {"tsv": tsv, "db": db, "args": args, "truth": truth, "stdout": result.stdout}


def test_bad_rows_are_recorded_with_row_and_reason_and_nothing_crashes(bulk):
    assert "indexed 17 new images" in bulk["stdout"]
    assert "12 faces" in bulk["stdout"] and "5 errors" in bulk["stdout"]
    with Catalog(bulk["db"]) as catalog:
        stats, errors = catalog.stats(), dict(catalog.errors())
    assert stats["images"] == 17 and stats["faces"] == 12 and stats["errors"] == 5
    # --largest-face-only: one face stored per image, the image keeps the count of all found
    counts = [i.face_count for i in _images(bulk["db"]) if i.status == "ok"]
    assert len(counts) == 12 and max(counts) >= 2  # this LFW set has a background face
    tsv = str(bulk["tsv"])
    expected_keys = {12: "img012", 13: "img013", 14: "img014", 15: f"{tsv}#15", 16: f"{tsv}#16"}
    for row, words in BAD_ROWS.items():
        reason = errors[expected_keys[row]]
        assert reason.startswith(f"row {row}: ") and words in reason, reason
    # each good row is stored once under its key column, with its segment
    stored = {i.path: i.segment for i in _images(bulk["db"]) if i.status == "ok"}
    assert stored == {key: segment for key, (_, segment) in bulk["truth"].items()}
    # a second run finds every row done, bad ones included
    again = faceatlas("index", *bulk["args"], "--key-column", "id", "--db", bulk["db"], "-q")
    assert "indexed 0 new images (17 already done)" in again.stdout


def test_dry_run_counts_exactly_without_the_model_or_the_catalog(bulk, tmp_path):
    db = tmp_path / "never.db"
    result = faceatlas("index", *bulk["args"], "--dry-run", "--db", db)
    assert result.stdout.startswith("dry run: 17 rows, 12 images, 5 bad rows")
    for line in ("1 not base64", "1 not an image", "1 empty image field", "1 empty row",
                 "1 wrong column count"):
        assert f"  {line}\n" in result.stdout
    assert not db.exists()
    spec = {"image_column": "image", "segment_column": "segment"}
    ranged = dry_run_tsv([bulk["tsv"]], TsvSpec(**spec, start=10, end=14))
    assert (ranged.rows, ranged.images, ranged.bad) == (4, 2, 2)
    tail = dry_run_tsv([bulk["tsv"]], TsvSpec(**spec, start=15))
    assert (tail.rows, tail.images, tail.bad) == (2, 0, 2)
    assert tail.reasons == {"wrong column count": 1, "empty row": 1}
    beyond = dry_run_tsv([bulk["tsv"]], TsvSpec(**spec, start=100, end=200))
    assert beyond.rows == 0


def test_range_indexes_exactly_those_rows(bulk, tmp_path):
    db = tmp_path / "range.db"
    faceatlas("index", "--tsv", bulk["tsv"], "--header", "--db", db, "--range", "4:7",
              "--workers", "1", "-q")
    keys = [i.path for i in _images(db)]
    assert keys == [f"{bulk['tsv']}#{row}" for row in (4, 5, 6)]
    with pytest.raises(ValueError, match="before its start"):
        TsvSpec(start=7, end=4)
    assert parse_range("4:7") == (4, 7) and parse_range(":3") == (0, 3)
    with pytest.raises(ValueError, match="START:END"):
        parse_range("12")


def test_per_segment_clustering_never_mixes_segments_and_exports_segment_folders(
    bulk, tmp_path
):
    db = tmp_path / "seg.db"
    db.write_bytes(bulk["db"].read_bytes())
    segment_of = {i.path: i.segment for i in _images(db)}

    def segments_per_person() -> list[set]:
        people: dict[int, set] = {}
        with Catalog(db) as catalog:
            for face in catalog.faces():
                if face.person_id is not None:
                    people.setdefault(face.person_id, set()).add(segment_of[face.image_path])
        return list(people.values())

    # control: across the whole catalog, one person's photos in two segments are grouped
    with Catalog(db) as catalog:
        cluster_catalog(catalog, method="chinese-whispers", threshold=0.55)
    assert any(len(s) > 1 for s in segments_per_person())
    faceatlas("cluster", "--db", db, "--method", "chinese-whispers", "--threshold", "0.55",
              "--per-segment")
    assert all(len(s) == 1 for s in segments_per_person())
    assert len(segments_per_person()) >= 4  # two people x two segments
    out = tmp_path / "out"
    faceatlas("export", out, "--db", db, "--min-faces", "1")
    with (out / "manifest.csv").open(newline="") as handle:
        manifest = list(csv.DictReader(handle))
    assert len(manifest) == 12
    for row in manifest:
        segment = bulk["truth"][row["image"]][1]
        assert row["person"].startswith(f"{segment}/person_")
        exported = out / row["file"]
        assert exported.is_file() and exported.read_bytes()[:3] == b"\xff\xd8\xff"
    assert {p.name for p in out.iterdir() if p.is_dir()} == {"segA", "segB"}


def test_kill_9_mid_tsv_then_resume_indexes_every_row_once(tmp_path):
    images = lfw_people(min_images=4, max_people=5, per_person=4) * 2  # 40 rows
    tsv = write_tsv(tmp_path / "rows.tsv", [b"x\t" + b64(p) for p in images])
    total = len(images)
    db = tmp_path / "c.db"
    args = ["index", "--tsv", tsv, "--db", db, "--workers", "2", "--quiet"]
    kill_when_stored(args, db, lambda db: len(_images(db)), 1)  # the first commit: kill at once
    kept = len(_images(db))
    assert 1 <= kept < total
    resumed = faceatlas("index", "--tsv", tsv, "--db", db, "--workers", "2", "--quiet")
    assert f"indexed {total - kept} new images ({kept} already done)" in resumed.stdout
    with Catalog(db) as catalog:
        images = catalog.images()
        faces = Counter(face.image_path for face in catalog.faces())
        assert catalog.integrity_check() == "ok"
    assert sorted(i.path for i in images) == sorted(f"{tsv}#{row}" for row in range(total))
    assert all(image.face_count == faces[image.path] for image in images)


def test_duplicate_keys_first_row_wins_later_ones_are_bad_rows(tmp_path):
    images = lfw_people(min_images=2, max_people=1, per_person=2)
    first, other = (base64.b64encode(p.read_bytes()) for p in images)
    tsv = write_tsv(
        tmp_path / "dup.tsv",
        [b"a\t" + first, b"b\t" + other, b"a\t" + other, b"c\t@@", b"c\t" + first, b"a\t"],
    )
    spec = TsvSpec(key_column=0, image_column=1)
    items = list(iter_tsv(tsv, spec))
    assert [i.path for i in items] == [
        "a", "b", f"{tsv}#a#dup2", "c", f"{tsv}#c#dup4", f"{tsv}#a#dup5"
    ]
    assert items[0].data == images[0].read_bytes() and items[0].error is None
    assert items[2].error == "row 2: duplicate key (first seen in row 0)" and items[2].data is None
    assert items[3].error.startswith("row 3: not base64")  # a bad row keeps its key: first wins
    assert items[4].error == "row 4: duplicate key (first seen in row 3)"
    assert items[5].error == "row 5: duplicate key (first seen in row 0)"
    counted = dry_run_tsv([tsv], spec)
    assert (counted.rows, counted.images, counted.bad) == (6, 2, 4)
    assert counted.reasons == {"duplicate key": 3, "not base64": 1}
    # without a key column, a row's key is its number: never a duplicate
    assert not any(i.error for i in iter_tsv(tsv, TsvSpec(image_column=1, end=3)))
    # a range sees only its rows: row 2 is then the first "a"
    ranged = iter_tsv(tsv, TsvSpec(key_column=0, image_column=1, start=2))
    assert next(ranged).path == "a"


def test_a_key_repeated_in_another_file_is_a_duplicate_in_every_run(tmp_path):
    photos = [draw_faces(tmp_path / f"{i}.png", [PALETTE[i]]) for i in range(3)]
    rows = [b"a\t" + b64(photos[0]), b"b\t" + b64(photos[1])]
    one = write_tsv(tmp_path / "one.tsv", rows)
    two = write_tsv(tmp_path / "two.tsv", [b"c\t" + b64(photos[2]), b"a\t" + b64(photos[2])])
    spec = TsvSpec(key_column=0, image_column=1)
    config = IndexConfig(model=FakeModel(), workers=1)
    with Catalog(tmp_path / "c.db") as catalog:
        inputs = Inputs(tsv=(one, two), tsv_spec=spec)
        first = index_inputs(catalog, inputs, config)
        assert (first.processed, first.errors) == (4, 1)
        assert catalog.errors() == [(f"{two}#a#dup1", f"duplicate key (first seen in {one})")]
        a = next(r for r in catalog.faces() if r.image_path == "a")
        assert catalog.image_sources(["a"])["a"][1] == a.image_source and one.name in a.image_source
        again = index_inputs(catalog, inputs, config)
        assert (again.processed, again.skipped) == (0, 4)
