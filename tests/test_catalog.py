"""Catalog: migrations recorded, atomic nesting, embeddings round trip, replacement by path."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.catalog.migrations import MIGRATIONS
from faceatlas.faces.record import Face, ImageResult


def _result(path: str, n_faces: int, seed: int = 0, size: int = 1) -> ImageResult:
    rng = np.random.default_rng(seed)
    faces = []
    for i in range(n_faces):
        v = rng.normal(size=128).astype(np.float32)
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
    with Catalog(tmp_path / "c.db") as catalog:
        with catalog.atomic():
            catalog.add_results([_result("/a.jpg", 1)])
            with pytest.raises(RuntimeError), catalog.atomic():
                catalog.add_results([_result("/b.jpg", 1)])
                raise RuntimeError("inner fails")
        assert set(catalog.known_images()) == {"/a.jpg"}


def test_embeddings_round_trip_and_replace_by_path(tmp_path):
    with Catalog(tmp_path / "c.db") as catalog:
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
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(n, 128)).astype(np.float32)
    with Catalog(tmp_path / "c.db") as catalog, catalog.atomic() as conn:
        conn.execute("INSERT INTO images(id, path, size, mtime_ns, status, indexed_at)"
                     " VALUES (1, '/x', 1, 1, 'ok', 'now')")
        conn.executemany(
            "INSERT INTO faces(image_id, left, top, right, bottom, score, landmarks, embedding,"
            " embedding_norm, model) VALUES (1, 0, 0, 1, 1, 1, x'', ?, 1, 'm')",
            ((v.tobytes(),) for v in vectors),
        )
    with Catalog(tmp_path / "c.db") as catalog:
        matrix = catalog.face_matrix()
    np.testing.assert_array_equal(matrix.vectors, vectors)
    assert matrix.face_ids.tolist() == list(range(1, n + 1))


def test_clustering_ranks_people_by_size(tmp_path):
    with Catalog(tmp_path / "c.db") as catalog:
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
    with Catalog(tmp_path / "one.db") as one, Catalog(tmp_path / "two.db") as two:
        one.add_results(results)
        two.add_results(results[::-1])  # as if the workers had finished the other way round
        by_id = [c.face_matrix().vectors for c in (one, two)]
        by_path = [c.face_matrix(order="path").vectors for c in (one, two)]
        assert not np.array_equal(*by_id)
        np.testing.assert_array_equal(*by_path)
        with pytest.raises(ValueError, match="order"):
            one.face_matrix(order="size")
