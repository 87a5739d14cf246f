"""kNN graph: exact vs brute force, HNSW and IVF recall, auto choice, cache beside the catalog."""

from __future__ import annotations

import numpy as np
import pytest

from faceatlas import graph as graph_module
from faceatlas.graph import (
    KnnGraph,
    cache_path,
    cached_knn_graph,
    fingerprint,
    knn_graph,
    pick_method,
)


def unit(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    X = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def brute_force(X: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(D, np.inf)
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(D, order, axis=1)


def test_exact_graph_matches_brute_force_across_blocks(monkeypatch):
    monkeypatch.setattr(graph_module, "BLOCK", 37)  # several blocks, last one partial
    X = unit(200)
    g = knn_graph(X, k=5, method="exact")
    nb, dist = brute_force(X, 5)
    assert g.method == "exact"
    np.testing.assert_array_equal(g.neighbors, nb)
    np.testing.assert_allclose(g.distances, dist, atol=1e-4)
    assert (g.neighbors != np.arange(200)[:, None]).all()  # never itself


def test_small_input_pads_missing_neighbours():
    g = knn_graph(unit(3), k=5)
    assert g.neighbors.shape == (3, 5)
    assert (g.neighbors[:, 2:] == -1).all() and np.isinf(g.distances[:, 2:]).all()
    assert (g.neighbors[:, :2] >= 0).all()


@pytest.mark.parametrize("method", ["hnsw", "ivf"])
def test_approximate_recall_of_near_neighbours(method):
    # people: tight groups of 5, as faces are; the neighbours that matter are the close ones
    rng = np.random.default_rng(1)
    centres = unit(600, d=32, seed=2)
    X = np.repeat(centres, 5, axis=0) + 0.05 * rng.standard_normal((3000, 32)).astype(np.float32)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    exact = knn_graph(X, k=4, method="exact")
    approx = knn_graph(X, k=4, method=method)
    assert approx.method == method
    recall = np.mean(
        [len(set(a) & set(e)) / 4 for a, e in zip(approx.neighbors, exact.neighbors, strict=True)]
    )
    assert recall > 0.95


def test_auto_picks_exact_for_small_and_ivf_for_large():
    assert pick_method(1000) == "exact"
    assert pick_method(graph_module.EXACT_MAX + 1) == "ivf"
    assert pick_method(10, "hnsw") == "hnsw"
    with pytest.raises(ValueError, match="unknown kNN method"):
        pick_method(10, "annoy")


def test_cosine_metric_is_half_squared_euclidean():
    X = unit(50)
    e, c = knn_graph(X, k=4), knn_graph(X, k=4, metric="cosine")
    np.testing.assert_array_equal(e.neighbors, c.neighbors)
    np.testing.assert_allclose(c.distances, e.distances**2 / 2, rtol=1e-5)
    sims = np.einsum("ij,ij->i", X, X[c.neighbors[:, 0]])
    np.testing.assert_allclose(c.distances[:, 0], 1 - sims, atol=1e-5)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="unit-length"):
        knn_graph(unit(10) * 2, k=2)
    with pytest.raises(ValueError, match="metric"):
        knn_graph(unit(10), k=2, metric="manhattan")


def test_edges_are_unique_thresholded_and_respect_groups():
    X = np.array([[1, 0], [0.99, 0.14], [0.98, -0.2], [0, 1]], dtype=np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    g = knn_graph(X, k=3)
    src, dst, dist = g.edges(0.5)
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 2)]
    assert (dist < 0.5).all()
    src, dst, _ = g.edges(0.5, groups=np.array([7, 7, 8, 9]))  # 0 and 1 share a photo
    assert sorted(zip(src.tolist(), dst.tolist(), strict=True)) == [(0, 2), (1, 2)]


def test_cache_is_written_beside_the_catalog_and_reused(tmp_path, monkeypatch):
    db = tmp_path / "photos.db"
    X, ids = unit(120), np.arange(120, dtype=np.int64) * 3
    first = cached_knn_graph(db, ids, X, k=6)
    path = cache_path(db, 6)
    assert path == tmp_path / "photos.db.knn-6.npz" and path.exists()

    def no_search(*args, **kwargs):
        raise AssertionError("searched again although the faces did not change")

    monkeypatch.setattr(graph_module, "knn_graph", no_search)
    again = cached_knn_graph(db, ids, X, k=6)
    np.testing.assert_array_equal(again.neighbors, first.neighbors)
    cosine = cached_knn_graph(db, ids, X, k=6, metric="cosine")
    np.testing.assert_allclose(cosine.distances, first.distances**2 / 2, rtol=1e-5)


def test_cache_is_rebuilt_when_faces_change(tmp_path):
    db = tmp_path / "photos.db"
    X, ids = unit(100), np.arange(100, dtype=np.int64)
    cached_knn_graph(db, ids, X, k=4)
    stamp = np.load(cache_path(db, 4))["fingerprint"].item()
    changed = cached_knn_graph(db, ids[:-1], X[:-1], k=4)  # one face deleted
    assert len(changed) == 99
    assert np.load(cache_path(db, 4))["fingerprint"].item() != stamp
    assert fingerprint(ids, X) != fingerprint(ids, X[::-1].copy())


def test_truncate():
    g = knn_graph(unit(40), k=8)
    t = g.truncate(3)
    np.testing.assert_array_equal(t.neighbors, g.neighbors[:, :3])
    with pytest.raises(ValueError):
        g.truncate(9)
    assert isinstance(t, KnnGraph)
