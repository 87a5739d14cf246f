"""k-nearest-neighbour graph of face embeddings (faiss), the input of every graph clusterer.

Distances are Euclidean between unit vectors (0 = same direction, 2 = opposite), the scale all
faceatlas thresholds use; ``metric="cosine"`` reports ``1 - cos`` (= d**2 / 2) instead, with the
same neighbours. Three search methods; ``method="auto"`` picks exact up to ``EXACT_MAX`` faces
and IVF above:

- ``exact``: faiss flat inner-product search in blocks of rows, so no N x N matrix is ever held;
  cost O(N**2 D).
- ``ivf``: a faiss inverted-file index (k-means cells of ~``IVF_CELL`` faces, ``IVF_NPROBE``
  cells searched per face): cost O(N D (cells + NPROBE * CELL)). The near neighbours clustering
  needs (same person) almost always share a cell: 97 % of pairs closer than 0.3 are found on
  LFW-like data.
- ``hnsw``: a faiss HNSW graph index (Malkov & Yashunin 2018): higher recall (99.99 %), but on 2
  cores building it for all faces costs ~100x more than IVF (docs/clustering.md), so it is
  opt-in.

:func:`cached_knn_graph` keeps the graph in a file beside the catalog (``<db>.knn-<k>.npz``),
keyed by a fingerprint of the face ids and embeddings, so clustering again with another method or
threshold does not search again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from faceatlas.atomic import atomic_write
from faceatlas.errors import UsageError

log = logging.getLogger(__name__)

BLOCK = 8192  # query rows per search block: bounds memory to BLOCK x k results
EXACT_MAX = 50_000  # auto: exact search up to this many faces, IVF above
HNSW_M = 32  # links per HNSW node
HNSW_EF_CONSTRUCTION = 64
HNSW_EF_SEARCH = 96
IVF_CELL = 256  # faces per IVF cell, on average
IVF_NPROBE = 16  # cells searched per face
IVF_TRAIN = 40  # training faces per cell
IVF_NITER = 10  # k-means iterations when training the cells
METHODS = ("auto", "exact", "hnsw", "ivf")
METRICS = ("euclidean", "cosine")


@dataclass(slots=True)
class KnnGraph:
    """``neighbors[i]`` are the k nearest rows to row i (itself excluded), nearest first."""

    neighbors: np.ndarray  # (N, k) int64, -1 where fewer than k exist
    distances: np.ndarray  # (N, k) float32, inf where neighbors is -1
    method: str = "exact"  # how it was searched: "exact" or "hnsw"

    @property
    def k(self) -> int:
        return self.neighbors.shape[1]

    def __len__(self) -> int:
        return len(self.neighbors)

    def edges(
        self, threshold: float = np.inf, groups: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(source, target, distance) of edges shorter than ``threshold``, each pair once.

        With ``groups`` (each face's image id), edges between faces of one image are dropped:
        two faces in one photo are two people.
        """
        n = len(self.neighbors)
        rows = np.repeat(np.arange(n, dtype=np.int64), self.k)
        cols = self.neighbors.ravel()
        dist = self.distances.ravel()
        keep = (cols >= 0) & (dist < threshold)
        src, dst, dist = rows[keep], cols[keep], dist[keep]
        if groups is not None:
            groups = np.asarray(groups)
            apart = groups[src] != groups[dst]
            src, dst, dist = src[apart], dst[apart], dist[apart]
        lo, hi = np.minimum(src, dst), np.maximum(src, dst)
        _, first = np.unique(lo * n + hi, return_index=True)
        return lo[first], hi[first], dist[first]

    def truncate(self, k: int) -> KnnGraph:
        """The same graph with only the ``k`` nearest neighbours of each face."""
        if k > self.k:
            raise UsageError(f"cannot widen a {self.k}-NN graph to k={k}")
        return KnnGraph(self.neighbors[:, :k].copy(), self.distances[:, :k].copy(), self.method)


def pick_method(n: int, method: str = "auto") -> str:
    """``exact`` up to ``EXACT_MAX`` faces, ``ivf`` above, unless a method is named."""
    if method not in METHODS:
        raise UsageError(f"unknown kNN method {method!r}; choose one of {METHODS}")
    if method != "auto":
        return method
    return "exact" if n <= EXACT_MAX else "ivf"


def _check_unit(vectors: np.ndarray) -> None:
    norms = np.linalg.norm(vectors[: min(len(vectors), 4096)], axis=1)
    if len(norms) and np.abs(norms - 1).max() > 1e-3:
        raise UsageError("knn_graph needs unit-length embeddings (normalise them first)")


def knn_graph(
    vectors: np.ndarray, k: int = 30, method: str = "auto", metric: str = "euclidean"
) -> KnnGraph:
    """kNN graph of unit ``vectors``: exact (blocked faiss flat) or approximate (IVF, HNSW).

    >>> X = np.array([[1, 0], [0.8, 0.6], [0, 1]], dtype=np.float32)
    >>> knn_graph(X, k=1).neighbors.ravel().tolist()
    [1, 0, 1]
    """
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if k < 1:
        raise UsageError(f"k must be >= 1, got {k}")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    _check_unit(vectors)
    n = len(vectors)
    method = pick_method(n, method)
    k_eff = max(0, min(k, n - 1))
    neighbors = np.full((n, k), -1, dtype=np.int64)
    distances = np.full((n, k), np.inf, dtype=np.float32)
    if k_eff == 0:
        return KnnGraph(neighbors, distances, method)
    started = time.monotonic()
    index = _index(vectors, method, k_eff)
    index.add(vectors)
    for start in range(0, n, BLOCK):
        block = vectors[start : start + BLOCK]
        sims, ids = index.search(block, k_eff + 1)
        own = np.arange(start, start + len(block))[:, None]
        not_self = (ids != own) & (ids >= 0)
        # keep the first k_eff real non-self hits of each row (self is usually first, maybe absent)
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :k_eff]
        ids = np.take_along_axis(ids, order, axis=1)
        sims = np.take_along_axis(sims, order, axis=1)
        valid = np.take_along_axis(not_self, order, axis=1)
        dist = np.sqrt(np.clip(2.0 - 2.0 * sims, 0, 4))
        neighbors[start : start + len(block), :k_eff] = np.where(valid, ids, -1)
        distances[start : start + len(block), :k_eff] = np.where(valid, dist, np.inf)
    log.info("%s %d-NN graph of %d faces in %.1f s", method, k, n, time.monotonic() - started)
    if metric == "cosine":
        distances = distances**2 / 2
    return KnnGraph(neighbors, distances, method)


def _index(vectors: np.ndarray, method: str, k: int) -> faiss.Index:
    """An empty (trained) faiss inner-product index for ``method``."""
    n, dim = vectors.shape
    if method == "exact":
        return faiss.IndexFlatIP(dim)
    if method == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, 2 * (k + 1))
        return index
    cells = max(1, n // IVF_CELL)
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = IVF_NITER
    rows = np.random.default_rng(0).choice(n, min(n, cells * IVF_TRAIN), replace=False)
    index.train(vectors[np.sort(rows)])
    index.nprobe = min(cells, IVF_NPROBE)
    return index


def fingerprint(face_ids: np.ndarray, vectors: np.ndarray) -> str:
    """A short hash of the face ids and their embeddings: changes when any face changes."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(face_ids, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return digest.hexdigest()


def cache_path(db_path: str | Path, k: int) -> Path:
    """Where the k-NN graph of the catalog ``db_path`` is kept: ``<db>.knn-<k>.npz``."""
    return Path(f"{db_path}.knn-{k}.npz")


def cached_knn_graph(
    db_path: str | Path | None,
    face_ids: np.ndarray,
    vectors: np.ndarray,
    k: int = 30,
    method: str = "auto",
    metric: str = "euclidean",
) -> KnnGraph:
    """:func:`knn_graph`, reusing the copy beside the catalog when the faces are unchanged.

    The file holds Euclidean distances; ``metric="cosine"`` is derived from them. A stale or
    unreadable cache is rebuilt and replaced; ``db_path=None`` (or ``:memory:``) never caches.
    """
    if db_path is None or str(db_path) == ":memory:":
        return knn_graph(vectors, k, method, metric)
    wanted = pick_method(len(vectors), method)
    path = cache_path(db_path, k)
    key = fingerprint(face_ids, vectors)
    graph = _load(path, key, wanted)
    if graph is None:
        graph = knn_graph(vectors, k, wanted)
        with atomic_write(path) as fh:
            np.savez(
                fh,
                fingerprint=np.array(key),
                method=np.array(graph.method),
                neighbors=graph.neighbors,
                distances=graph.distances,
            )
    else:
        log.info("reused the %d-NN graph in %s", k, path)
    if metric == "cosine":
        return KnnGraph(graph.neighbors, graph.distances**2 / 2, graph.method)
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose one of {METRICS}")
    return graph


def _load(path: Path, key: str, method: str) -> KnnGraph | None:
    """The cached graph at ``path`` if it matches ``key`` and ``method``, else None."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            if str(data["fingerprint"]) != key or str(data["method"]) != method:
                return None
            return KnnGraph(data["neighbors"], data["distances"], str(data["method"]))
    except (OSError, ValueError, KeyError) as err:
        log.warning("ignoring unreadable kNN cache %s: %s", path, err)
        return None
