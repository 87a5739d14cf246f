"""Look-alike search: the k faces in the catalog nearest to a query face, in milliseconds.

Small catalogs are searched exactly (a faiss flat scan beats any graph below ``flat_below``
faces). Larger ones get a faiss HNSW graph over 8-bit scalar-quantised vectors, persisted beside
the catalog (``<db>.faiss`` + ``<db>.faiss.json``); the graph proposes ``rerank`` x k candidates
and those are re-ranked with the exact float32 embeddings, so the distances returned are exact
and the top hit is right whenever the graph found it.

The metadata file holds a digest of the indexed faces (ids, image ids and embeddings, in face id
order). On open, the index is reused when the catalog still starts with exactly those faces,
extended when faces were only added after them, and rebuilt otherwise (faces removed, images
re-indexed, other parameters). The catalog itself is never written. ``update_index`` does
exactly that and reports it, for the end of ``faceatlas index``.

Distances are Euclidean between unit vectors (0..2), the scale of every faceatlas threshold.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceMatrix
from faceatlas.faces.record import Face

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".faiss"
META_SUFFIX = ".faiss.json"
META_VERSION = 1
STORAGES = ("SQ8", "Flat")
RERANK_BLOCK = 128  # queries re-ranked at once: their candidates stay in the CPU cache


class SearchError(Exception):
    """Search cannot run as asked (empty catalog, unknown face, mismatched model)."""


@dataclass(frozen=True, slots=True)
class IndexParams:
    """How the ANN index is built and searched; validated once here.

    ``flat_below``: catalogs with fewer faces are searched exactly, no index file is written.
    ``m``, ``ef_construction``, ``ef_search``: HNSW graph degree and beam widths.
    ``storage``: how the graph stores vectors ("SQ8": 8 bits per dimension, "Flat": float32).
    ``rerank``: candidates taken from the graph per requested neighbour, re-ranked exactly.
    """

    flat_below: int = 10_000
    m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    storage: str = "SQ8"
    rerank: int = 4

    def __post_init__(self) -> None:
        if self.flat_below < 0:
            raise ValueError(f"flat_below must be >= 0, got {self.flat_below}")
        for name in ("m", "ef_construction", "ef_search", "rerank"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.storage not in STORAGES:
            raise ValueError(f"unknown storage {self.storage!r}; choose one of {STORAGES}")

    @property
    def built_with(self) -> dict:
        """The parameters that shape the saved graph (the others only affect searching)."""
        return {"factory": self.factory, "ef_construction": self.ef_construction}

    @property
    def factory(self) -> str:
        """The faiss index_factory string of the graph index."""
        return f"HNSW{self.m},{self.storage}"


class Hit(NamedTuple):
    """One neighbour: a face id and its exact distance to the query (a tuple: cheap to make
    by the thousand)."""

    face_id: int
    distance: float


@dataclass(slots=True)
class Match:
    """A neighbour with what a person wants to see about it."""

    face_id: int
    image_id: int
    path: str
    box: tuple[int, int, int, int]
    distance: float
    person_id: int | None
    person: str | None

    def to_json(self) -> dict:
        """The public JSON shape of a match (CLI ``--json``)."""
        return {
            "path": self.path,
            "face_id": self.face_id,
            "distance": round(self.distance, 6),
            "person": self.person,
        }


@dataclass(slots=True)
class FaceResult:
    """One query face (its box in the query photo, or None) and its matches, nearest first."""

    box: tuple[int, int, int, int] | None
    matches: list[Match]

    def to_json(self) -> dict:
        return {
            "box": None if self.box is None else list(self.box),
            "matches": [m.to_json() for m in self.matches],
        }


def index_files(db_path: str | Path) -> tuple[Path, Path]:
    """(index file, metadata file) kept beside the catalog file."""
    db_path = Path(db_path)
    return (
        db_path.with_name(db_path.name + INDEX_SUFFIX),
        db_path.with_name(db_path.name + META_SUFFIX),
    )


def catalog_model(catalog: Catalog, model: str | None = None) -> str:
    """The embedding model to search: ``model`` if given and present, else the only one."""
    models = catalog.models()
    if not models:
        raise SearchError("the catalog has no faces yet; run `faceatlas index` first")
    if model is not None:
        if model not in models:
            raise SearchError(f"no faces of model {model!r} in the catalog (has {models})")
        return model
    if len(models) > 1:
        raise SearchError(f"the catalog holds several embedding models {models}; pick one")
    return models[0]


def faces_digest(matrix: FaceMatrix, count: int) -> str:
    """Digest of the first ``count`` faces: ids, image ids and embeddings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(matrix.face_ids[:count], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.image_ids[:count], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.vectors[:count], dtype=np.float32).tobytes())
    return digest.hexdigest()


def build_hnsw(vectors: np.ndarray, params: IndexParams) -> faiss.Index:
    """A faiss HNSW index (L2 on unit vectors) over ``vectors``, rows numbered 0..N-1."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(vectors.shape[1], params.factory, faiss.METRIC_L2)
    faiss.downcast_index(index).hnsw.efConstruction = params.ef_construction
    if not index.is_trained:
        # unit vectors: every coordinate lies in [-1, 1]; a sample fixes the SQ ranges well
        sample = vectors[:: max(1, len(vectors) // 100_000)]
        index.train(sample)
    index.add(vectors)
    return index


class FaceIndex:
    """Nearest faces of one embedding model in a catalog: exact below a size, HNSW above.

    ``status`` says what ``open`` did: "exact" (no graph), "loaded", "extended" or "built";
    ``added`` how many faces it put into the graph.
    """

    def __init__(
        self,
        matrix: FaceMatrix,
        model: str,
        params: IndexParams,
        graph: faiss.Index | None,
        status: str,
        added: int = 0,
    ) -> None:
        self.matrix = matrix
        self.model = model
        self.params = params
        self.graph = graph
        self.status = status
        self.added = added
        self.vectors = np.ascontiguousarray(matrix.vectors, dtype=np.float32)
        self._flat: faiss.Index | None = None
        if graph is None:
            self._flat = faiss.IndexFlatIP(self.vectors.shape[1])
            self._flat.add(self.vectors)

    def __len__(self) -> int:
        return len(self.matrix)

    @property
    def kind(self) -> str:
        return "exact" if self.graph is None else "hnsw"

    @classmethod
    def open(
        cls,
        catalog: Catalog,
        model: str | None = None,
        params: IndexParams | None = None,
        index_path: str | Path | None = None,
    ) -> FaceIndex:
        """Load, extend or build the index of ``catalog``'s faces (and save it beside it).

        ``index_path`` overrides where the index file goes (its metadata gets ``.json`` added).
        """
        params = params or IndexParams()
        model = catalog_model(catalog, model)
        matrix = catalog.face_matrix(model)
        if len(matrix) < params.flat_below:
            return cls(matrix, model, params, None, "exact")
        if index_path is not None:
            files: tuple[Path, Path] | None = (Path(index_path), Path(f"{index_path}.json"))
        elif catalog.path != ":memory:":
            files = index_files(catalog.path)
        else:
            files = None
        started = time.monotonic()
        graph, kept = _reuse(files, matrix, model, params)
        if graph is None:
            graph, status = build_hnsw(matrix.vectors, params), "built"
        elif kept < len(matrix):
            graph.add(np.ascontiguousarray(matrix.vectors[kept:], dtype=np.float32))
            status = "extended"
        else:
            status = "loaded"
        if files is not None and status != "loaded":
            _save(files, graph, matrix, model, params)
        log.info(
            "face index %s: %d faces, %s, %.1f s", status, len(matrix), params.factory,
            time.monotonic() - started,
        )
        return cls(matrix, model, params, graph, status, added=len(matrix) - kept)

    # -- queries ------------------------------------------------------------------------------

    def vector(self, face_id: int) -> np.ndarray:
        """The stored unit embedding of ``face_id``."""
        row = self._row(face_id)
        if row is None:
            raise SearchError(f"no face {face_id} of model {self.model!r} in the catalog")
        return self.vectors[row]

    def __contains__(self, face_id: object) -> bool:
        return isinstance(face_id, int | np.integer) and self._row(face_id) is not None

    def _row(self, face_id: int) -> int | None:
        """Row of ``face_id`` (face ids are sorted: catalog order), or None."""
        ids = self.matrix.face_ids
        row = int(np.searchsorted(ids, int(face_id)))
        return row if row < len(ids) and ids[row] == int(face_id) else None

    def search(
        self, queries: np.ndarray, k: int = 10, exclude: Sequence[int | None] | None = None
    ) -> list[list[Hit]]:
        """The ``k`` nearest faces to each unit query row, nearest first, exact distances.

        ``exclude[i]``, if given, is a face id left out of query i's results (the query itself).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.vectors.shape[1]:
            raise SearchError(
                f"query has {queries.shape[1]} dimensions, the index {self.vectors.shape[1]}"
            )
        if len(self) == 0 or len(queries) == 0:
            return [[] for _ in queries]
        wanted = min(len(self), k + (exclude is not None))
        skip = np.full(len(queries), -1, dtype=np.int64)
        if exclude is not None:
            skip[:] = [-1 if e is None else int(e) for e in exclude]
        results: list[list[Hit]] = []
        for start in range(0, len(queries), RERANK_BLOCK):
            block = queries[start : start + RERANK_BLOCK]
            rows = self._candidates(block, wanted)
            results += self._rerank(block, rows, skip[start : start + RERANK_BLOCK], k)
        return results

    def _rerank(
        self, queries: np.ndarray, rows: np.ndarray, skip: np.ndarray, k: int
    ) -> list[list[Hit]]:
        """The k nearest of each query's candidate rows by exact distance: the norm of the
        difference (not 2 - 2 cos, which loses all precision near 0)."""
        valid = rows >= 0
        rows = np.where(valid, rows, 0)
        face_ids = self.matrix.face_ids[rows]
        valid &= face_ids != skip[:, None]
        diff = self.vectors[rows] - queries[:, None, :]
        dist = np.sqrt(np.einsum("qcd,qcd->qc", diff, diff).astype(np.float64))
        dist[~valid] = np.inf
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        dist = np.take_along_axis(dist, order, axis=1)
        face_ids = np.take_along_axis(face_ids, order, axis=1)
        inf = float("inf")
        return [
            [Hit(f, d) for f, d in zip(fs, ds, strict=True) if d != inf]
            for fs, ds in zip(face_ids.tolist(), dist.tolist(), strict=True)
        ]

    def similar(self, face_id: int, k: int = 10) -> list[Hit]:
        """The ``k`` faces nearest to stored face ``face_id`` (itself left out)."""
        return self.search(self.vector(face_id)[None], k, exclude=[int(face_id)])[0]

    def _candidates(self, queries: np.ndarray, wanted: int) -> np.ndarray:
        """Row numbers of candidate neighbours, (nq, c) with -1 padding."""
        if self.graph is None:
            _, rows = self._flat.search(queries, wanted)
            return rows
        count = min(len(self), wanted * self.params.rerank)
        ef = max(self.params.ef_search, count)
        _, rows = self.graph.search(queries, count, params=faiss.SearchParametersHNSW(efSearch=ef))
        return rows


def describe(catalog: Catalog, hits: list[Hit]) -> list[Match]:
    """Matches (path, box, person ...) for ``hits``, in the same order."""
    rows = {row.face_id: row for row in catalog.faces(h.face_id for h in hits)}
    missing = [h.face_id for h in hits if h.face_id not in rows]
    if missing:
        raise SearchError(f"faces {missing} left the catalog since the index was loaded")
    return [
        Match(
            face_id=h.face_id,
            image_id=rows[h.face_id].image_id,
            path=rows[h.face_id].image_path,
            box=rows[h.face_id].box,
            distance=h.distance,
            person_id=rows[h.face_id].person_id,
            person=rows[h.face_id].person,
        )
        for h in hits
    ]


def search_faces(
    catalog: Catalog, index: FaceIndex, faces: list[Face], k: int = 10
) -> list[FaceResult]:
    """Matches for each face found in a query photo (same order as ``faces``)."""
    if not faces:
        return []
    hits = index.search(np.stack([f.embedding for f in faces]), k)
    return [
        FaceResult(box=face.box, matches=describe(catalog, face_hits))
        for face, face_hits in zip(faces, hits, strict=True)
    ]


def search_face_id(catalog: Catalog, index: FaceIndex, face_id: int, k: int = 10) -> FaceResult:
    """Matches for a face already in the catalog (itself left out)."""
    hits = index.similar(face_id, k)
    (row,) = catalog.faces([face_id])
    return FaceResult(box=row.box, matches=describe(catalog, hits))


@dataclass(frozen=True, slots=True)
class IndexUpdate:
    """What ``update_index`` did: ``status`` as ``FaceIndex.status`` ("empty" for a catalog
    without faces), the faces indexed, how many went into the graph, and the seconds taken."""

    status: str
    faces: int
    added: int
    seconds: float

    def describe(self) -> str:
        """One line for a person: what happened to the saved index."""
        if self.status == "empty":
            return "nothing to index yet (no faces)"
        if self.status == "exact":
            return f"none needed ({self.faces:,} faces are searched exactly)"
        if self.status == "loaded":
            return f"up to date ({self.faces:,} faces)"
        if self.status == "extended":
            return f"extended by {self.added:,} faces to {self.faces:,} in {self.seconds:.1f} s"
        return f"built over {self.faces:,} faces in {self.seconds:.1f} s"


def update_index(
    catalog: Catalog, model: str | None = None, params: IndexParams | None = None
) -> IndexUpdate:
    """Bring the saved search index beside ``catalog`` up to date, as ``FaceIndex.open`` decides
    (reuse, extend or rebuild; nothing is written below ``params.flat_below`` faces)."""
    if not catalog.models():
        return IndexUpdate("empty", 0, 0, 0.0)
    started = time.monotonic()
    index = FaceIndex.open(catalog, model, params)
    update = IndexUpdate(index.status, len(index), index.added, time.monotonic() - started)
    log.info("search index of %s: %s", catalog.path, update.describe())
    return update


# -- persistence ------------------------------------------------------------------------------


def _reuse(
    files: tuple[Path, Path] | None, matrix: FaceMatrix, model: str, params: IndexParams
) -> tuple[faiss.Index | None, int]:
    """(saved graph, how many of ``matrix``'s first faces it holds) when the saved index still
    fits the catalog, else (None, 0)."""
    if files is None or not files[0].is_file() or not files[1].is_file():
        return None, 0
    index_file, meta_file = files
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable index metadata %s: %s", meta_file, err)
        return None, 0
    count = meta.get("count", -1)
    expected = {
        "version": META_VERSION,
        "model": model,
        "dim": int(matrix.vectors.shape[1]),
        "built_with": params.built_with,
    }
    if any(meta.get(key) != value for key, value in expected.items()):
        log.info("face index %s was built differently; rebuilding", index_file)
        return None, 0
    if not 0 < count <= len(matrix) or int(matrix.face_ids[count - 1]) != meta.get("last_face"):
        log.info("faces changed since %s was built; rebuilding", index_file)
        return None, 0
    if faces_digest(matrix, count) != meta.get("digest"):
        log.info("faces changed since %s was built; rebuilding", index_file)
        return None, 0
    try:
        graph = faiss.read_index(str(index_file))
    except RuntimeError as err:
        log.warning("ignoring unreadable index %s: %s", index_file, err)
        return None, 0
    if graph.ntotal != count:
        log.warning("index %s holds %d faces, metadata says %d", index_file, graph.ntotal, count)
        return None, 0
    return graph, count


def _save(
    files: tuple[Path, Path],
    graph: faiss.Index,
    matrix: FaceMatrix,
    model: str,
    params: IndexParams,
) -> None:
    """Write the index, then its metadata, each atomically. A failure only costs a rebuild."""
    index_file, meta_file = files
    meta = {
        "version": META_VERSION,
        "model": model,
        "dim": int(matrix.vectors.shape[1]),
        "built_with": params.built_with,
        "count": len(matrix),
        "last_face": int(matrix.face_ids[-1]),
        "digest": faces_digest(matrix, len(matrix)),
        "faiss": faiss.__version__,
    }
    suffix = f".{os.getpid()}.tmp"
    try:
        faiss.write_index(graph, str(index_file) + suffix)
        os.replace(str(index_file) + suffix, index_file)
        Path(str(meta_file) + suffix).write_text(json.dumps(meta, indent=1))
        os.replace(str(meta_file) + suffix, meta_file)
    except (OSError, RuntimeError) as err:
        log.warning("could not save the face index beside the catalog (%s); "
                    "it will be rebuilt on the next start", err)
