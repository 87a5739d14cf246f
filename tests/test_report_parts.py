"""The report's parts on hand-made inputs: typical order, sheet cut, mistakes, projections."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits

from faceatlas.catalog.store import FaceRow, PersonRow
from faceatlas.outputs.report.content import Person, ReportError, shown_faces, typical_order
from faceatlas.outputs.report.labels import folder_labels, label_report
from faceatlas.outputs.report.projection import project, sample_rows


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


def face(face_id: int, image_id: int, path: str, person_id: int | None, box=(0, 0, 10, 10)):
    person = None if person_id is None else f"person_{person_id:04d}"
    return FaceRow(
        face_id, image_id, path, box, np.zeros((5, 2), np.float32), 1.0, person_id, person
    )


def test_worst_merges_and_splits_by_hand():
    # ann: 4 faces, 3 in person 1 and 1 in person 2; bob: 2 faces, both in person 1
    rows = [
        face(1, 1, "/x/ann/1.jpg", 1),
        face(2, 2, "/x/ann/2.jpg", 1),
        face(3, 3, "/x/ann/3.jpg", 1),
        face(4, 4, "/x/ann/4.jpg", 2),
        face(5, 5, "/x/bob/1.jpg", 1),
        face(6, 6, "/x/bob/2.jpg", 1),
        face(7, 7, "/x/cy/1.jpg", None),
    ]
    faces = {r.face_id: r for r in rows}
    report = label_report(folder_labels(rows), faces, worst=5)
    assert report.labelled == 7
    [merge] = report.merges
    assert merge.name == "person_0001" and merge.size == 5 and merge.wrong == 2
    assert [(g.name, g.face_ids) for g in merge.groups] == [("ann", [1, 2, 3]), ("bob", [5, 6])]
    [split] = report.splits
    assert split.name == "ann" and split.wrong == 1
    assert [g.name for g in split.groups] == ["person_0001", "person_0002"]
    # pairs: predicted together 10 (person 1), truly together 6 + 1; both 3 + 1
    assert report.scores.pairwise_precision == pytest.approx(4 / 10)
    assert report.scores.pairwise_recall == pytest.approx(4 / 7)
    with pytest.raises(ReportError, match="no labelled faces"):
        label_report({}, faces)


def test_the_labelled_face_is_the_one_nearest_the_centre(tmp_path):
    folder = tmp_path / "Ann_Smith"
    folder.mkdir()
    photo = folder / "Ann_Smith_0001.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    rows = [
        face(1, 1, str(photo), 1, box=(0, 0, 40, 40)),  # corner: a bystander
        face(2, 1, str(photo), 2, box=(80, 30, 120, 70)),  # centred: the labelled face
        face(3, 2, str(tmp_path / "Bo" / "b.jpg"), 3),  # alone in its photo: no size needed
    ]
    assert folder_labels(rows) == {2: "Ann_Smith", 3: "Bo"}


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
