"""The Ray engine on a local 2-CPU Ray gives the same catalog as the local engine."""

from __future__ import annotations

import base64

import pytest

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, Inputs, index_inputs
from faceatlas.sources import TsvSpec
from tests.conftest import faceatlas, lfw_people

pytest.importorskip("ray.data", reason="the ray extra is not installed")


def _catalog(db) -> list[tuple]:
    """Every image's record with each of its faces' box and embedding, in a stable order."""
    with Catalog(db) as catalog:
        images = {i.path: (i.path, i.status, i.error, i.segment, i.face_count)
                  for i in catalog.images()}
        matrix = catalog.face_matrix()
        vector = dict(zip(matrix.face_ids.tolist(), matrix.vectors, strict=True))
        faced = {row.image_path for row in catalog.faces()}
        rows = [(*images[r.image_path], *r.box, vector[r.face_id].tobytes())
                for r in catalog.faces()]
        rows += [(*image, None, None, None, None, None)
                 for path, image in images.items() if path not in faced]
    return sorted(rows, key=repr)


def test_ray_engine_gives_the_same_faces_as_the_local_engine(tmp_path):
    images = lfw_people(min_images=2, max_people=3, per_person=2)
    rows = [f"seg{i % 2}\t".encode() + base64.b64encode(p.read_bytes()) for i, p in
            enumerate(images)]
    rows += [b"seg0\tnot*base64", b"seg1\t" + base64.b64encode(b"text"), b"seg1"]
    tsv = tmp_path / "small.tsv"
    tsv.write_bytes(b"\n".join(rows) + b"\n")
    (tmp_path / "photos").mkdir()
    plain = tmp_path / "photos" / images[0].name
    plain.write_bytes(images[0].read_bytes())  # a plain file too: read by a Ray task
    with Catalog(tmp_path / "local.db") as catalog:  # the reference, in-process
        spec = TsvSpec(segment_column=0)
        inputs = Inputs(paths=(tmp_path / "photos",), tsv=(tsv,), tsv_spec=spec)
        index_inputs(catalog, inputs, IndexConfig(workers=2))
    args = ["--tsv", tsv, "--segment-column", "0", tmp_path / "photos", "--workers", "2", "-q"]
    result = faceatlas("index", *args, "--db", tmp_path / "ray.db", "--engine", "ray")
    assert f"indexed {len(rows) + 1} new images" in result.stdout
    local, ray = _catalog(tmp_path / "local.db"), _catalog(tmp_path / "ray.db")
    assert ray == local
    assert sum(1 for row in ray if row[1] == "error") == 3
    assert sum(1 for row in ray if row[5] is not None) >= len(images) + 1
    # resumable like the local engine: nothing left to do
    again = faceatlas("index", *args, "--db", tmp_path / "ray.db", "--engine", "ray")
    assert f"indexed 0 new images ({len(rows) + 1} already done)" in again.stdout
