"""The automatic cut on small real collections: near the best fixed cut, and the one-photo rule.

The collection shapes a user holds (a few people with many in-the-wild photos; portraits mixed
with crowd photos), indexed once per module with one worker. ``bench/cluster_shapes.py`` runs
the same comparison on many more shapes and draws (docs/clustering.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.graph import knn_graph
from faceatlas.metrics import cluster_scores
from faceatlas.people.cluster import cluster_catalog, cluster_vectors
from faceatlas.people.constraints import same_photo_conflicts
from faceatlas.people.segments import cluster_per_segment
from tests.conftest import data, faceatlas, link_tree

CUTS = [round(0.28 + 0.02 * i, 2) for i in range(10)]  # 0.28 .. 0.46
SLACK = 0.03  # the default may fall this far below the best fixed cut of the same faces
GROUP_PHOTOS = ("insightface", "retinaface")  # crowds of lookalikes (the t2.jpg)


def index(photos: list[Path], root: Path) -> Path:
    tree = link_tree(photos, root / "photos", depth=1)
    db = root / "faces.db"
    faceatlas("index", tree, "--db", db, "--quiet", "--workers", "1", "--no-search-index")
    return db


def collection(db: Path, folders: set[str] | None = None):
    """(vectors, photo ids, identity or "" per face) of the catalog's faces in path order,
    only those in ``folders`` when given; the central face of each photo carries its folder."""
    with Catalog(db) as catalog:
        matrix = catalog.face_matrix(order="path")
        path_of = {row.image_id: row.path for row in catalog.images()}
        central = {face for face, _ in catalog.central_faces()}
    folder = np.array([Path(path_of[i]).parent.name for i in matrix.image_ids.tolist()])
    keep = np.isin(folder, sorted(folders)) if folders else np.ones(len(folder), bool)
    labelled = np.isin(matrix.face_ids, sorted(central)) & ~np.isin(folder, GROUP_PHOTOS)
    identity = np.where(labelled, folder, "")
    return matrix.vectors[keep], matrix.image_ids[keep], identity[keep]


def scores(identity: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    kept = identity != ""
    s = cluster_scores(identity[kept], labels[kept])
    return s.pairwise_f, s.bcubed_f


def check_default_near_best_fixed(X: np.ndarray, groups: np.ndarray, identity: np.ndarray):
    graph = knn_graph(X, 30)
    labels, cut, auto = cluster_vectors(X, groups, graph=graph)  # the defaults: infomap, auto
    default = scores(identity, labels)
    fixed = [
        scores(identity, cluster_vectors(X, groups, threshold=t, graph=graph)[0]) for t in CUTS
    ]
    best_pairwise = max(f[0] for f in fixed)
    best_bcubed = max(f[1] for f in fixed)
    detail = f"auto {cut} -> {default}; fixed {dict(zip(CUTS, fixed, strict=True))}"
    assert default[0] >= best_pairwise - SLACK, detail
    assert default[1] >= best_bcubed - SLACK, detail
    assert "model curve" in auto["reason"]
    assert not len(same_photo_conflicts(labels, groups)[0])
    return default


@pytest.fixture(scope="module")
def celeba(tmp_path_factory) -> tuple[Path, list[str]]:
    """10 CelebA people (the first by number with 10-16 in-the-wild photos), indexed once."""
    root = data("celeba-dev")
    people = [p for p in sorted(root.iterdir()) if 10 <= len(list(p.glob("*.jpg"))) <= 16][:10]
    photos = [photo for person in people for photo in sorted(person.glob("*.jpg"))]
    return index(photos, tmp_path_factory.mktemp("celeba")), [p.name for p in people]


@pytest.mark.parametrize("people", [5, 10])
def test_default_is_near_the_best_fixed_cut_on_celeba_people(celeba, people):
    db, names = celeba
    X, groups, identity = collection(db, set(names[:people]))
    assert len(set(identity) - {""}) == people
    pairwise, bcubed = check_default_near_best_fixed(X, groups, identity)
    assert pairwise > 0.9 and bcubed > 0.9


@pytest.fixture(scope="module")
def portraits_and_crowds(tmp_path_factory) -> Path:
    """people-deepface's portraits and two folders of crowd photos, indexed once."""
    photos = sorted(data("people-deepface").rglob("*.jpg"))
    for folder in GROUP_PHOTOS:
        photos += sorted(data("group-photos", folder).glob("*.jpg"))
    return index(photos, tmp_path_factory.mktemp("crowds"))


def test_default_is_near_the_best_fixed_cut_on_portraits_and_crowds(portraits_and_crowds):
    X, groups, identity = collection(portraits_and_crowds)
    assert len(X) > 150 and len(set(identity) - {""}) == 13
    check_default_near_best_fixed(X, groups, identity)


@pytest.mark.parametrize("method", ["infomap", "chinese-whispers", "leader", "agglomerative"])
def test_no_person_holds_two_faces_of_one_real_photo(portraits_and_crowds, method):
    with Catalog(portraits_and_crowds) as catalog:
        summary = cluster_catalog(catalog, method=method)
        face_ids, people = catalog.assignments()
        photo_of = {row.face_id: row.image_id for row in catalog.faces()}
    photos = np.array([photo_of[f] for f in face_ids.tolist()])
    assert not len(same_photo_conflicts(people, photos)[0])
    assert summary.reason.startswith("cut ") and "auto: model curve" in summary.reason
    assert summary.threshold is not None and summary.quality
    assert summary.doubtful == sum(q.doubtful for q in summary.quality)


def test_per_segment_summary_gives_each_segment_its_cut(tmp_path):
    """people-fr with one segment per person folder: each segment's cut, and the reason."""
    tree = link_tree(sorted(data("people-fr").rglob("*.jpg")), tmp_path / "photos", depth=1)
    db = tmp_path / "fr.db"
    faceatlas("index", tree, "--db", db, "--quiet", "--workers", "1", "--segment-from-folder")
    with Catalog(db) as catalog:
        summary = cluster_per_segment(catalog)
        segments = [s for s in catalog.segments() if s is not None]
        fixed = cluster_per_segment(catalog, threshold=0.35)
    assert sorted(summary.segment_cuts) == sorted(segments) and len(segments) >= 4
    assert all(0.2 <= cut <= 0.5 for cut in summary.segment_cuts.values())
    assert summary.threshold is None and "auto per segment: model curve" in summary.reason
    assert set(fixed.segment_cuts.values()) == {0.35} and fixed.reason.startswith("cut 0.350")
