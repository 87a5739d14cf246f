"""The report's parts on hand-made inputs: typical order, sheet cut, mistakes, projections."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow, PersonRow
from faceatlas.outputs.report import write_report
from faceatlas.outputs.report.content import Person, ReportError, shown_faces, typical_order
from faceatlas.outputs.report.labels import find_mistakes
from faceatlas.outputs.report.projection import project, sample_rows
from faceatlas.people.cluster import cluster_catalog
from tests.fake_model import FakeModel


def unit(*rows: list[float]) -> np.ndarray:
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_typical_order_puts_the_outlier_last_and_leaves_inputs_alone():
    vectors = unit([1, 0, 0], [0.9, 0.1, 0], [0, 0, 1], [0.95, 0.05, 0], [0, 1, 0], [0, 0.9, 0.1])
    labels = np.array([0, 0, 0, 0, 1, 1])
    ids = np.array([10, 11, 12, 13, 14, 15])
    before = vectors.copy(), labels.copy(), ids.copy()
    order = typical_order(vectors, labels, ids)
    assert order[0][0].tolist()[-1] == 12  # [0,0,1] is the stranger among the four
    assert order[0][0].tolist()[0] == 13  # the middle of the three alike faces
    assert np.all(np.diff(order[0][1]) >= 0)
    # person 1: two faces equally far from their centroid (up to rounding)
    assert sorted(order[1][0].tolist()) == [14, 15]
    assert order[1][1][0] == pytest.approx(order[1][1][1], abs=1e-6)
    for a, b in zip(before, (vectors, labels, ids), strict=True):
        assert np.array_equal(a, b)


def test_unassigned_faces_are_in_no_order():
    order = typical_order(unit([1, 0], [0, 1], [1, 1]), np.array([-1, 0, 0]), np.array([1, 2, 3]))
    assert [o[0].tolist() for o in order] == [[2, 3]]  # a tie: the lower id first
    assert typical_order(unit([1, 0]), np.array([-1]), np.array([1])) == []


def test_sheet_keeps_the_least_typical_faces_visible():
    person = Person(PersonRow(1, 1, None, 10), np.arange(100, 110), np.linspace(0, 1, 10))
    head, tail, hidden = shown_faces(person, 6)
    assert head.tolist() == [100, 101, 102, 103] and tail.tolist() == [108, 109] and hidden == 4
    head, tail, hidden = shown_faces(person, 10)
    assert len(head) == 10 and len(tail) == 0 and hidden == 0


def face(face_id: int, person_id: int | None) -> FaceRow:
    person = None if person_id is None else f"person_{person_id:04d}"
    landmarks = np.zeros((5, 2), np.float32)
    return FaceRow(
        face_id, face_id, f"/x/{face_id}.jpg", (0, 0, 9, 9), landmarks, 1.0, person_id, person
    )


def test_worst_merges_and_splits_by_hand():
    # ann: 4 faces, 3 in person 1 and 1 in person 2; bob: 2 faces, both in person 1;
    # cy: one face in no person; dee: 2 faces in no person (each a person of its own)
    rows = [face(1, 1), face(2, 1), face(3, 1), face(4, 2), face(5, 1), face(6, 1)]
    rows += [face(7, None), face(8, None), face(9, None)]
    truth = dict(zip(range(1, 10), ["ann"] * 4 + ["bob"] * 2 + ["cy"] + ["dee"] * 2, strict=True))
    merges, splits = find_mistakes(truth, {r.face_id: r for r in rows}, worst=5)
    [merge] = merges
    assert merge.name == "person_0001" and merge.size == 5 and merge.wrong == 2
    assert [(g.name, g.face_ids) for g in merge.groups] == [("ann", [1, 2, 3]), ("bob", [5, 6])]
    ann, dee = splits  # ann: 1 face outside person 1; dee: 1 face outside its first "person"
    assert ann.name == "ann" and ann.wrong == 1
    assert [g.name for g in ann.groups] == ["person_0001", "person_0002"]
    assert dee.name == "dee" and dee.wrong == 1 and len(dee.groups) == 2
    assert find_mistakes(truth, {r.face_id: r for r in rows}, worst=1)[1] == [ann]


def test_projections_give_one_point_per_sampled_face():
    rng = np.random.default_rng(1)
    centres = unit(*rng.normal(size=(3, 16)).tolist())
    vectors = unit(*(np.repeat(centres, 20, axis=0) + 0.05 * rng.normal(size=(60, 16))).tolist())
    for method in ("pca", "tsne"):
        with threadpool_limits(1):  # OpenMP threads crawl on a loaded 2-core machine
            projection = project(vectors, method)
        assert projection.xy.shape == (60, 2) and not projection.sampled
        assert np.isfinite(projection.xy).all()
    # PCA separates three tight groups: each point is nearer its own group's mean
    xy = project(vectors, "pca").xy
    means = np.stack([xy[i * 20 : (i + 1) * 20].mean(0) for i in range(3)])
    nearest = np.linalg.norm(xy[:, None] - means[None], axis=2).argmin(1)
    assert (nearest == np.repeat(np.arange(3), 20)).all()
    sampled = project(vectors, "pca", limit=25)
    assert sampled.sampled and len(sampled.rows) == 25 and sampled.total == 60
    assert np.array_equal(sample_rows(60, 25), sample_rows(60, 25))  # deterministic
    with pytest.raises(ReportError, match="choose one of"):
        project(vectors, "mds")


def test_umap_is_optional_with_a_clear_error(monkeypatch):
    vectors = unit(*np.random.default_rng(2).normal(size=(40, 8)).tolist())
    monkeypatch.setitem(sys.modules, "umap", None)  # as if umap-learn were not installed
    with pytest.raises(ReportError, match=r"faceatlas\[umap\]"):
        project(vectors, "umap")


def test_umap_map():
    pytest.importorskip("umap", reason="umap-learn is the optional extra faceatlas[umap]")
    vectors = unit(*np.random.default_rng(2).normal(size=(40, 8)).tolist())
    projection = project(vectors, "umap")
    assert projection.xy.shape == (40, 2) and np.isfinite(projection.xy).all()


def test_a_catalog_without_faces_gives_an_empty_report(tmp_path):
    with Catalog(tmp_path / "empty.db") as catalog:
        catalog.face_set_for(FakeModel().spec())  # indexed photos had no face
        cluster_catalog(catalog)
        summary = write_report(catalog, tmp_path / "r")
    assert (summary.faces, summary.people, summary.map_points, summary.thumbnails) == (0, 0, 0, 0)
    page = (tmp_path / "r" / "index.html").read_text()
    assert "All <b>0</b> faces." in page and "0 faces belong to no person" in page
