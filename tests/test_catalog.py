"""Catalog: migrations recorded, atomic nesting, embeddings round trip, replacement by path,
face sets kept apart, catalogs from before face sets carried over, read-only catalogs."""

from __future__ import annotations

import os
import sqlite3

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.catalog.migrations import MIGRATIONS
from faceatlas.errors import StorageError, UnknownFaceSet
from faceatlas.faces.record import Face, ImageResult
from faceatlas.faces.spec import ModelSpec

SPEC = ModelSpec(detector="hog", min_face=40, embedder="dlib-resnet-v1", dim=128, flip=True)
OTHER = ModelSpec(detector="fake", min_face=20, embedder="fake-colour", dim=48)


def open_catalog(path, spec: ModelSpec = SPEC) -> Catalog:
    """A catalog with ``spec``'s face set selected for writing."""
    catalog = Catalog(path)
    catalog.face_set_for(spec)
    return catalog


def _result(path: str, n_faces: int, seed: int = 0, size: int = 1, dim: int = 128) -> ImageResult:
    rng = np.random.default_rng(seed)
    faces = []
    for i in range(n_faces):
        v = rng.normal(size=dim).astype(np.float32)
        faces.append(Face(box=(i, i, i + 10, i + 10), landmarks=np.zeros((5, 2), np.float32),
                          score=1.0, embedding=v / np.linalg.norm(v), embedding_norm=1.4))
    return ImageResult(path=path, size=size, mtime_ns=7, status="ok" if faces else "no_face",
                       width=100, height=80, faces=faces, model="m")


def test_schema_is_migrated_and_recorded(tmp_path):
    path = tmp_path / "c.db"
    Catalog(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    Catalog(path).close()  # reopening applies nothing twice
    assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_nested_atomic_rolls_back_inner_only(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        with catalog.atomic():
            catalog.add_results([_result("/a.jpg", 1)])
            with pytest.raises(RuntimeError), catalog.atomic():
                catalog.add_results([_result("/b.jpg", 1)])
                raise RuntimeError("inner fails")
        assert set(catalog.known_images()) == {"/a.jpg"}


def test_embeddings_round_trip_and_replace_by_path(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        first = _result("/a.jpg", 3, seed=1)
        catalog.add_results([first, _result("/b.jpg", 0)])
        matrix = catalog.face_matrix()
        assert matrix.vectors.shape == (3, 128) and matrix.vectors.dtype == np.float32
        np.testing.assert_array_equal(matrix.vectors[1], first.faces[1].embedding)
        assert catalog.stats()["status"] == {"ok": 1, "no_face": 1, "error": 0}
        catalog.add_results([_result("/a.jpg", 2, seed=2, size=9)])  # the file changed
        assert len(catalog.face_matrix()) == 2
        assert catalog.known_images()["/a.jpg"] == (9, 7)


def test_many_embeddings_load_as_one_matrix(tmp_path):
    n = 20_000
    big = _result("/x.jpg", n, seed=3)
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([big])
    with Catalog(tmp_path / "c.db") as catalog:  # the set last written is the default
        matrix = catalog.face_matrix()
    np.testing.assert_array_equal(matrix.vectors, np.stack([f.embedding for f in big.faces]))
    assert matrix.face_ids.tolist() == list(range(1, n + 1))


def test_clustering_ranks_people_by_size(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([_result("/a.jpg", 5)])
        ids = catalog.face_matrix().face_ids
        catalog.save_clustering("test", {}, ids, np.array([7, 3, 3, 3, -1]))
        people = catalog.people()
        assert [(p.rank, p.size) for p in people] == [(1, 3), (2, 1)]
        rows = {r.face_id: r.person for r in catalog.export_rows()}
        assert list(rows.values()) == ["person_0002", "person_0001", "person_0001",
                                       "person_0001", None]


def test_path_order_is_the_same_whatever_order_results_were_stored_in(tmp_path):
    results = [_result(f"/photos/{name}.jpg", 2, seed=i) for i, name in enumerate("cab")]
    with open_catalog(tmp_path / "one.db") as one, open_catalog(tmp_path / "two.db") as two:
        one.add_results(results)
        two.add_results(results[::-1])  # as if the workers had finished the other way round
        by_id = [c.face_matrix().vectors for c in (one, two)]
        by_path = [c.face_matrix(order="path").vectors for c in (one, two)]
        assert not np.array_equal(*by_id)
        np.testing.assert_array_equal(*by_path)
        with pytest.raises(ValueError, match="order"):
            one.face_matrix(order="size")


def test_face_sets_of_two_models_never_mix_nor_erase_each_other(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([_result("/a.jpg", 2), _result("/b.jpg", 0)])
        catalog.save_clustering("t", {}, catalog.face_matrix().face_ids, np.array([0, 0]))
        first = catalog.face_set
        catalog.face_set_for(OTHER)
        assert catalog.known_images() == {}  # the other model has scanned nothing yet
        catalog.add_results([_result("/a.jpg", 3, dim=48)])
        assert catalog.face_matrix().vectors.shape == (3, 48)
        assert catalog.people() == [] and catalog.clustering() is None
        assert catalog.stats()["faces"] == 3
        catalog.use(first.name)
        assert catalog.face_matrix().vectors.shape == (2, 128)  # untouched by the second set
        assert set(catalog.known_images()) == {"/a.jpg", "/b.jpg"}
        assert [p.size for p in catalog.people()] == [2]
        assert catalog.face_set_for(SPEC) == first  # the same spec finds its set again
        assert [s.name for s in catalog.face_sets()] == [SPEC.label, OTHER.label]
    with Catalog(tmp_path / "c.db", model=OTHER.label) as catalog:
        assert catalog.face_set.dim == 48
    with pytest.raises(UnknownFaceSet, match="no face set 'nope'"):
        Catalog(tmp_path / "c.db", model="nope")


def test_a_changed_file_drops_what_every_face_set_had_of_it(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([_result("/a.jpg", 2)])
        catalog.face_set_for(OTHER)
        catalog.add_results([_result("/a.jpg", 1, size=5, dim=48)])  # a new version of the file
        catalog.use(SPEC.label)
        assert catalog.known_images() == {} and len(catalog.face_matrix()) == 0


def _old_catalog(path) -> None:
    """A catalog as faceatlas wrote it before face sets (schema version 2), with data."""
    conn = sqlite3.connect(path, isolation_level=None)
    for _, migrate in MIGRATIONS[:2]:
        migrate(conn)
    conn.execute("CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                 " applied_at TEXT NOT NULL)")
    conn.executemany("INSERT INTO schema_migrations VALUES (?, ?, 'then')",
                     [(i + 1, name) for i, (name, _) in enumerate(MIGRATIONS[:2])])
    conn.execute("INSERT INTO images(id, path, size, mtime_ns, width, height, status, error,"
                 " face_count, indexed_at) VALUES (1, '/p/a.jpg', 1, 7, 100, 80, 'ok', NULL, 2,"
                 " 'then'), (2, '/p/b.jpg', 1, 7, 0, 0, 'error', 'not an image', 0, 'then')")
    vectors = np.eye(2, 128, dtype=np.float32)
    conn.executemany("INSERT INTO faces(image_id, left, top, right, bottom, score, landmarks,"
                     " embedding, embedding_norm, model) VALUES (1, 0, 0, 9, 9, 1, x'', ?, 1,"
                     " 'dlib-resnet-v1')", [(v.tobytes(),) for v in vectors])
    conn.execute("INSERT INTO clusterings VALUES (1, 'infomap', '{}', 'then')")
    conn.execute("INSERT INTO people VALUES (1, 1, 1, 2, NULL)")
    conn.execute("INSERT INTO assignments VALUES (1, 1), (2, 1)")
    conn.close()


def test_a_catalog_from_before_face_sets_opens_with_its_faces_people_and_errors(tmp_path):
    path = tmp_path / "old.db"
    _old_catalog(path)
    with Catalog(path) as catalog:
        assert catalog.face_set.name == "dlib-resnet-v1" and catalog.face_set.spec.legacy
        assert catalog.stats()["status"] == {"ok": 1, "no_face": 0, "error": 1}
        assert catalog.errors() == [("/p/b.jpg", "not an image")]
        assert len(catalog.face_matrix()) == 2 and [p.size for p in catalog.people()] == [2]
        assert set(catalog.known_images()) == {"/p/a.jpg", "/p/b.jpg"}
        # the first index run with the same embedder adopts the set: nothing is indexed again
        assert catalog.face_set_for(SPEC).face_set_id == 1
        assert set(catalog.known_images()) == {"/p/a.jpg", "/p/b.jpg"}


def test_a_read_only_catalog_can_be_read_but_not_written(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as catalog:
        catalog.add_results([_result("/a.jpg", 2)])
    with Catalog(path, read_only=True) as catalog:
        assert catalog.read_only and len(catalog.face_matrix()) == 2
        assert catalog.stats()["faces"] == 2
        with pytest.raises(StorageError, match="read-only"):
            catalog.add_results([_result("/b.jpg", 1)])


def test_batches_follow_sqlite_variable_limit(tmp_path):
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([_result(f"/{i}.jpg", 1, seed=i) for i in range(30)])
        catalog.batch = 7  # as if SQLite allowed only a few host parameters
        ids = catalog.face_matrix().face_ids
        assert [r.face_id for r in catalog.faces(ids)] == ids.tolist()
        assert len(catalog.known_among([f"/{i}.jpg" for i in range(40)])) == 30


def test_a_file_name_that_is_not_utf8_is_stored_losslessly(tmp_path):
    name = b"/photos/caf\xe9.jpg".decode("utf-8", "surrogateescape")  # as os.listdir gives it
    with open_catalog(tmp_path / "c.db") as catalog:
        catalog.add_results([_result(name, 1), _result("/photos/ok.jpg", 1)])
        catalog.annotate_images([(name, "seg", None, 3)])
        assert set(catalog.known_images()) == {name, "/photos/ok.jpg"}
        assert catalog.known_among([name]) == {name: (1, 7)}
        assert {row.image_path for row in catalog.faces()} == {name, "/photos/ok.jpg"}
        assert catalog.image_sources([name]) == {name: ("seg", None)}
        assert os.fsencode(catalog.images()[0].path) == b"/photos/caf\xe9.jpg"
        assert catalog.remove_images([name]) == 1
