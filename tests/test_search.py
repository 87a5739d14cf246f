"""Look-alike search: the persisted faiss index, exact re-ranking, and `faceatlas search`."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import faiss
import numpy as np
import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult, normalise
from faceatlas.outputs.search import (
    FaceIndex,
    IndexParams,
    SearchError,
    faces_digest,
    index_files,
)
from tests.conftest import data, faceatlas, lfw_people, link_tree

IVF = IndexParams(flat_below=0)  # force the ANN index even on a small catalog


def search_catalog(people_run: Path, base: Path) -> Path:
    """people-fr + people-deepface + 18 LFW photos (no Obama among them), clustered; built once
    per session and shared by the search and web tests (read-only)."""
    root = base / "search_catalog"
    db = root / "search.db"
    if (root / "ready").exists():
        return db
    root.mkdir(exist_ok=True)
    shutil.copy(people_run / "faceatlas.db", db)
    photos = link_tree(lfw_people(min_images=4, max_people=6, per_person=3), root / "lfw")
    faceatlas("index", photos, "--db", db, "--quiet", "--workers", "2")
    faceatlas("cluster", "--db", db)
    (root / "ready").touch()
    return db


@pytest.fixture(scope="session")
def search_db(people_run, tmp_path_factory) -> Path:
    return search_catalog(people_run, tmp_path_factory.getbasetemp())


@pytest.fixture
def private_db(search_db, tmp_path) -> Path:
    copy = tmp_path / "search.db"
    shutil.copy(search_db, copy)
    return copy


def exact_neighbours(vectors: np.ndarray, ids: np.ndarray, query: np.ndarray, k: int):
    dist = np.linalg.norm(vectors.astype(np.float64) - query, axis=1)
    order = np.argsort(dist, kind="stable")[:k]
    return ids[order], dist[order]


def synthetic_catalog(
    path: Path,
    people: int,
    per_person: int,
    seed: int = 0,
    model: str = "synthetic",
    first: int = 0,
) -> None:
    """A catalog of clustered unit vectors (identity centre + noise), one face per image."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, 128))
    vectors = np.repeat(centres, per_person, axis=0) + 0.6 * rng.normal(
        size=(people * per_person, 128)
    )
    unit, _ = normalise(vectors)
    results = [
        ImageResult(
            path=f"/synthetic/{first + i}.jpg", size=1, mtime_ns=1, status="ok", model=model,
            faces=[Face((0, 0, 10, 10), np.zeros((5, 2), np.float32), 1.0, unit[i])],
        )
        for i in range(len(unit))
    ]
    with Catalog(path) as catalog:
        catalog.face_set_for(ModelConfig().spec())  # as if dlib's model had made them
        catalog.add_results(results)


def test_ivf_with_exact_rerank_matches_exact_search(tmp_path):
    db = tmp_path / "synthetic.db"
    synthetic_catalog(db, people=400, per_person=8)
    with Catalog(db) as catalog:
        graph = FaceIndex.open(catalog, params=IVF)
        exact = FaceIndex.open(catalog)
        matrix = catalog.face_matrix()
    assert (graph.kind, graph.status, exact.kind) == ("ivf", "built", "exact")
    queries = matrix.vectors[::16]
    found_graph = graph.search(queries, k=10)
    found_exact = exact.search(queries, k=10)
    recall, top1 = [], []
    for query, g, e in zip(queries, found_graph, found_exact, strict=True):
        ids, dist = exact_neighbours(matrix.vectors, matrix.face_ids, query, 10)
        assert [h.face_id for h in e] == list(ids)
        np.testing.assert_allclose([h.distance for h in e], dist, atol=1e-5)
        np.testing.assert_allclose([h.distance for h in g], sorted(h.distance for h in g))
        recall.append(len({h.face_id for h in g} & set(ids)) / 10)
        top1.append(g[0].face_id == ids[0])
        # re-ranked distances are the exact ones, not the 4-bit code approximations
        for hit in g:
            row = int(np.searchsorted(matrix.face_ids, hit.face_id))
            exact_d = np.linalg.norm(matrix.vectors[row].astype(np.float64) - query)
            assert abs(hit.distance - exact_d) < 1e-5
    assert np.mean(recall) >= 0.99
    assert all(top1)


def test_index_is_saved_reused_extended_and_rebuilt(private_db, tmp_path):
    index_file, meta_file = index_files(private_db)
    with Catalog(private_db) as catalog:
        first = FaceIndex.open(catalog, params=IVF)
        n = len(first)
        assert first.status == "built" and index_file.is_file() and meta_file.is_file()
        assert json.loads(meta_file.read_text())["count"] == n
        assert FaceIndex.open(catalog, params=IVF).status == "loaded"
        # search-time parameters do not invalidate the saved index, build parameters do
        assert FaceIndex.open(catalog, params=IndexParams(flat_below=0, probe=0.5)).status == (
            "loaded"
        )

    more = link_tree(lfw_people(min_images=30, max_people=1, per_person=2), tmp_path / "more")
    faceatlas("index", more, "--db", private_db, "--quiet", "--workers", "1")
    with Catalog(private_db) as catalog:
        extended = FaceIndex.open(catalog, params=IVF)
        exact = FaceIndex.open(catalog)
        assert extended.status == "extended" and len(extended) > n
        assert extended.ann.ntotal == len(extended)
        newest = int(catalog.face_matrix().face_ids[-1])
        # the new face is found through the extended index, as by exact search
        hit = extended.search(extended.vector(newest)[None], k=1)[0][0]
        assert hit.face_id == newest and hit.distance < 1e-6
        assert [h.face_id for h in extended.similar(newest, 5)] == [
            h.face_id for h in exact.similar(newest, 5)
        ]
        assert FaceIndex.open(catalog, params=IVF).status == "loaded"

    with Catalog(private_db) as catalog:  # an image leaves the catalog
        catalog.remove_images([catalog.faces()[0].image_path])
        assert FaceIndex.open(catalog, params=IVF).status == "built"

    # tampering behind the catalog's back: same face ids, a different embedding
    with sqlite3.connect(private_db) as conn:
        conn.execute(
            "UPDATE faces SET embedding = (SELECT embedding FROM faces ORDER BY id LIMIT 1)"
            " WHERE id = (SELECT MAX(id) FROM faces)"
        )
    with Catalog(private_db) as catalog:
        assert FaceIndex.open(catalog, params=IVF).status == "built"
        assert FaceIndex.open(catalog, params=IndexParams(flat_below=0, lists=8)).status == "built"


def test_index_is_retrained_once_the_catalog_outgrows_its_lists(tmp_path):
    db = tmp_path / "growing.db"
    synthetic_catalog(db, people=50, per_person=4)
    with Catalog(db) as catalog:
        assert FaceIndex.open(catalog, params=IVF).status == "built"  # lists from 200 faces
    synthetic_catalog(db, people=50, per_person=4, seed=1, first=200)
    with Catalog(db) as catalog:
        assert FaceIndex.open(catalog, params=IVF).status == "extended"  # 400 <= 4 x 200
    synthetic_catalog(db, people=100, per_person=5, seed=2, first=400)
    with Catalog(db) as catalog:
        rebuilt = FaceIndex.open(catalog, params=IVF)  # 900 > 4 x 200: new lists
        assert rebuilt.status == "built" and rebuilt.ann.ntotal == 900
        assert FaceIndex.open(catalog, params=IVF).status == "loaded"


def test_refreshed_reads_only_the_new_faces_and_reopens_after_other_changes(tmp_path):
    db = tmp_path / "live.db"
    synthetic_catalog(db, people=50, per_person=4)
    with Catalog(db) as catalog:
        graph, exact = FaceIndex.open(catalog, params=IVF), FaceIndex.open(catalog)
        assert graph.refreshed(catalog) is graph  # nothing changed
    synthetic_catalog(db, people=25, per_person=4, seed=1, first=200)  # 100 faces added
    with Catalog(db) as catalog:
        grown, grown_exact = graph.refreshed(catalog), exact.refreshed(catalog)
        truth = FaceIndex.open(catalog, params=IndexParams(flat_below=10**9))
        queries = catalog.face_matrix().vectors[::7]
    assert (grown.status, grown.added, len(grown), grown.ann.ntotal) == ("extended", 100, 300, 300)
    assert graph.ann.ntotal == 200  # a copy was extended: searches in flight are undisturbed
    assert (grown_exact.status, len(grown_exact)) == ("exact", 300)
    for index in (grown, grown_exact):
        found = [[h.face_id for h in hits] for hits in index.search(queries, k=5)]
        assert found == [[h.face_id for h in hits] for hits in truth.search(queries, k=5)]

    with Catalog(db) as catalog:  # an image leaves the catalog: the summary changes
        catalog.remove_images([catalog.faces()[0].image_path])
        reopened = grown.refreshed(catalog)
    assert reopened.status == "built" and len(reopened) == 299


def test_similar_leaves_the_face_out_and_checks_ids(search_db):
    with Catalog(search_db) as catalog:
        index = FaceIndex.open(catalog)
        matrix = catalog.face_matrix()
    face = int(matrix.face_ids[5])
    hits = index.similar(face, k=4)
    assert len(hits) == 4 and face not in [h.face_id for h in hits]
    ids, dist = exact_neighbours(matrix.vectors, matrix.face_ids, matrix.vectors[5], 5)
    assert [h.face_id for h in hits] == list(ids[1:])
    np.testing.assert_allclose([h.distance for h in hits], dist[1:], atol=1e-5)
    assert len(index.similar(face, k=10_000)) == len(matrix) - 1
    with pytest.raises(SearchError, match="no face 987654"):
        index.similar(987654)
    with pytest.raises(ValueError, match="k must be"):
        index.search(matrix.vectors[:1], k=0)


def test_search_cli_finds_obama(search_db):
    query = data("people-fr-queries", "obama1.jpg")
    found = json.loads(faceatlas("search", query, "--db", search_db, "--json", "-k", "5").stdout)
    assert len(found) == 1
    (face,) = found
    assert len(face["box"]) == 4 and face["box"][0] < face["box"][2]
    matches = face["matches"]
    assert len(matches) == 5
    assert all(
        set(m) == {"face_id", "image_id", "path", "box", "person_id", "person", "distance"}
        for m in matches
    )
    assert face["name"] == matches[0]["person"]  # the nearest is within the cut: it names him
    assert "/people-fr/obama/" in matches[0]["path"]
    assert matches[0]["distance"] < 0.4
    assert [m["distance"] for m in matches] == sorted(m["distance"] for m in matches)
    # both Obama photos of people-fr come first, grouped as one person
    assert {Path(m["path"]).parent.name for m in matches[:2]} == {"obama"}
    assert matches[0]["person"] == matches[1]["person"] is not None

    face_id = matches[0]["face_id"]
    lines = faceatlas("search", "--face-id", face_id, "--db", search_db).stdout.splitlines()
    assert lines[0].startswith("face 1 at (")
    assert lines[0].endswith(f"face {face_id}: {matches[0]['person']}")  # its verdict
    # the header, the default k = 10 matches, and one line where the same person ends
    (cut_line,) = [n for n, line in enumerate(lines) if "probably not the same person" in line]
    assert len(lines) == 12 and cut_line >= 2
    distances = [float(line.split()[1]) for line in lines[1:] if "probably not" not in line]
    assert max(distances[: cut_line - 1]) <= 0.4 < min(distances[cut_line - 1 :])
    # the nearest other face to this Obama photo is the other Obama photo, never itself
    assert "people-fr/obama/" in lines[1] and f"(face {matches[1]['face_id']})" in lines[1]
    assert not any(line.endswith(f"(face {face_id})") for line in lines)


def test_search_cli_errors(search_db, tmp_path):
    """Clear messages and exit codes (in-process: the same click command, without the 5 s
    start-up of a subprocess)."""
    notes = tmp_path / "notes.jpg"
    notes.write_text("not a photo")
    empty = tmp_path / "empty.db"
    Catalog(empty).close()
    cases = [
        (["search", str(notes), "--db", str(search_db)], 1, "not an image"),
        (["search", "--db", str(search_db)], 2, "give either PHOTO or --face-id"),
        (["search", str(notes), "--face-id", "1", "--db", str(search_db)], 2, "give either"),
        (["search", "--face-id", "987654", "--db", str(search_db)], 1, "no face 987654"),
        (["search", "--face-id", "1", "--db", str(tmp_path / "none.db")], 1, "no catalog"),
        (["search", "--face-id", "1", "--db", str(empty)], 1, "no faces yet"),
        (["serve", "--db", str(tmp_path / "none.db")], 1, "no catalog"),
    ]
    runner = CliRunner()
    for args, code, message in cases:
        result = runner.invoke(main, args)
        assert (result.exit_code, message in result.output) == (code, True), (args, result.output)
    assert not (tmp_path / "none.db").exists()


def assert_index_matches_catalog(db: Path) -> int:
    """The saved index holds exactly the catalog's faces; returns their number."""
    index_file, meta_file = index_files(db)
    meta = json.loads(meta_file.read_text())
    with Catalog(db) as catalog:
        matrix = catalog.face_matrix()
        assert FaceIndex.open(catalog).status == "loaded"
    assert meta["count"] == len(matrix) == faiss.read_index(str(index_file)).ntotal
    assert meta["last_face"] == int(matrix.face_ids[-1])
    assert meta["digest"] == faces_digest(matrix, len(matrix))
    return len(matrix)


def test_index_command_brings_the_search_index_up_to_date(tmp_path):
    """`faceatlas index` builds the graph once the catalog reaches 10,000 faces, then extends
    it by the new faces; --no-search-index leaves it to `search`/`serve`."""
    db = tmp_path / "big.db"
    synthetic_catalog(db, people=1250, per_person=8, model="dlib-resnet-v1")  # 10,000 faces
    photos = lfw_people(min_images=30, max_people=1, per_person=3)
    meta_file = index_files(db)[1]

    first = faceatlas("index", photos[0], "--db", db, "--quiet", "--workers", "1")
    built = assert_index_matches_catalog(db)
    assert built > 10_000 and f"search index: built over {built:,} faces" in first.stdout

    second = faceatlas("index", photos[1], "--db", db, "--quiet", "--workers", "1")
    grown = assert_index_matches_catalog(db)
    assert grown > built
    assert f"search index: extended by {grown - built:,} faces to {grown:,}" in second.stdout

    saved = meta_file.read_bytes()
    third = faceatlas(
        "index", photos[2], "--db", db, "--quiet", "--workers", "1", "--no-search-index"
    )
    assert "indexed 1 new images" in third.stdout and "search index" not in third.stdout
    assert meta_file.read_bytes() == saved
    with Catalog(db) as catalog:
        assert FaceIndex.open(catalog).status == "extended"  # left to the next search


def test_run_reports_the_search_index_unless_told_not_to(tmp_path):
    photos = data("people-fr")
    first = faceatlas("run", photos, tmp_path / "out", "--quiet", "--workers", "1").stdout
    assert "search index: none needed (" in first and "faces are searched exactly)" in first
    again = faceatlas("run", photos, tmp_path / "out", "--quiet", "--no-search-index").stdout
    assert "indexed 0 new images" in again and "search index" not in again
