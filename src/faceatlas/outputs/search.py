"""Look-alike search: the k faces in the catalog nearest to a query face, in milliseconds.

Small catalogs are searched exactly (a faiss flat scan beats any index below ``flat_below``
faces). Larger ones get a faiss inverted-file index over 4-bit product-quantised codes
(``IVF<lists>,PQ<dim/2>x4fs``: SIMD "fast-scan" codes, 32 bytes a face), persisted beside the
catalog (``<db>.faiss`` + ``<db>.faiss.json``). A query scans the codes of the nearest quarter of
the lists; the ``rerank`` x k best candidates are re-ranked with the exact float32 embeddings, so
the distances returned are exact and the top hit is right whenever the index proposed it. Why
this and not HNSW: at 1 M faces it is built in seconds instead of ten minutes, is 3 % of the
embeddings' size, and finds more of the true neighbours per query second (docs/search.md).

The metadata file holds a digest of the indexed faces (ids, image ids and embeddings, in face id
order). On open, the index is reused when the catalog still starts with exactly those faces,
extended when faces were only added after them (until the catalog has grown ``REGROW`` times
past the faces the lists were trained on), and rebuilt otherwise (faces removed, images
re-indexed, other parameters). The catalog itself is never written.

Distances are Euclidean between unit vectors (0..2), the scale of every faceatlas threshold.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np

from faceatlas.atomic import atomic_write
from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceMatrix, FaceRow
from faceatlas.errors import FaceatlasError, UsageError
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face
from faceatlas.outputs.export import UNKNOWN

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".faiss"
META_SUFFIX = ".faiss.json"
META_VERSION = 2  # 2: IVF fast-scan PQ (1 was HNSW)
REGROW = 4  # rebuild once the catalog holds this many times the faces the lists were trained on
RERANK_BLOCK = 128  # queries re-ranked at once: their candidates stay in the CPU cache


class SearchError(FaceatlasError):
    """Search cannot run as asked (empty catalog, unknown face, mismatched model)."""


@dataclass(frozen=True, slots=True)
class IndexParams:
    """How the ANN index is built and searched; validated once here.

    ``flat_below``: catalogs with fewer faces are searched exactly, no index file is written.
    ``lists``: inverted lists (0: the power of two nearest the square root of the faces).
    ``probe``: share of the lists a query scans, and ``min_probe`` the fewest lists it scans.
    ``rerank``: candidates taken from the index per requested neighbour, re-ranked exactly.
    """

    flat_below: int = 10_000
    lists: int = 0
    probe: float = 0.25
    min_probe: int = 64
    rerank: int = 16

    def __post_init__(self) -> None:
        if self.flat_below < 0 or self.lists < 0:
            raise UsageError(f"flat_below and lists must be >= 0, got {self}")
        if not 0 < self.probe <= 1:
            raise UsageError(f"probe must be in (0, 1], got {self.probe}")
        for name in ("min_probe", "rerank"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def built_with(self) -> dict:
        """The parameters that shape the saved index (the others only affect searching)."""
        return {"lists": self.lists}

    def list_count(self, faces: int) -> int:
        """Inverted lists for an index over ``faces`` faces."""
        if self.lists:
            return self.lists
        return max(1, 2 ** round(np.log2(max(1.0, np.sqrt(faces)))))

    def probes(self, lists: int) -> int:
        """Lists a query scans in an index of ``lists`` lists."""
        return min(lists, max(self.min_probe, int(np.ceil(self.probe * lists))))


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

    @classmethod
    def of(cls, row: FaceRow, distance: float) -> Match:
        """The match of a stored face at ``distance`` from the query."""
        return cls(
            row.face_id, row.image_id, row.image_path, row.box, distance, row.person_id,
            row.person,
        )

    def to_json(self) -> dict:
        """The one JSON shape of a match (CLI ``--json``; the web API adds its URLs)."""
        return {
            "face_id": self.face_id,
            "image_id": self.image_id,
            "path": self.path,
            "box": list(self.box),
            "person_id": self.person_id,
            "person": self.person,
            "distance": round(self.distance, 6),
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


def index_files(db_path: str | Path, face_set_id: int = 1) -> tuple[Path, Path]:
    """(index file, metadata file) of one face set, kept beside the catalog file.

    The first face set keeps the names catalogs had before face sets (``<db>.faiss``); others
    get ``<db>.set<id>.faiss``.
    """
    db_path = Path(db_path)
    stem = db_path.name if face_set_id == 1 else f"{db_path.name}.set{face_set_id}"
    return (
        db_path.with_name(stem + INDEX_SUFFIX),
        db_path.with_name(stem + META_SUFFIX),
    )


def catalog_model(catalog: Catalog, model: str | None = None) -> str:
    """The face set to search, selected in ``catalog``: ``model`` if given, else the default."""
    face_set = catalog.use(model) if model is not None else catalog.face_set
    if face_set is None:
        raise SearchError("the catalog has no faces yet; run `faceatlas index` first")
    return face_set.name


def recorded_model(catalog: Catalog, **runtime: object) -> ModelConfig:
    """The face model that made the selected face set (its recorded spec), so new photos are
    analysed exactly as the catalog's faces were; ``runtime`` as ``ModelConfig.from_spec``."""
    if catalog.face_set is None:
        raise SearchError("the catalog has no faces yet; run `faceatlas index` first")
    return ModelConfig.from_spec(catalog.face_set.spec, **runtime)


def faces_digest(matrix: FaceMatrix, count: int) -> str:
    """Digest of the first ``count`` faces: ids, image ids and embeddings."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(matrix.face_ids[:count], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.image_ids[:count], dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(matrix.vectors[:count], dtype=np.float32).tobytes())
    return digest.hexdigest()


def build_ivf(vectors: np.ndarray, params: IndexParams) -> faiss.Index:
    """A faiss IVF fast-scan PQ index (L2 on unit vectors) over ``vectors``, rows 0..N-1."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    lists = params.list_count(len(vectors))
    codes = dim // 2 if dim % 2 == 0 else dim
    index = faiss.index_factory(dim, f"IVF{lists},PQ{codes}x4fs", faiss.METRIC_L2)
    # k-means uses at most 256 points a list; an even sample of that many keeps it deterministic
    index.train(vectors[:: max(1, len(vectors) // (256 * lists))])
    index.add(vectors)
    return index


class FaceIndex:
    """Nearest faces of one embedding model in a catalog: exact below a size, IVF above.

    ``status`` says what ``open`` did: "exact" (no index), "loaded", "extended" or "built";
    ``added`` how many faces it put into the index ``ann``.
    """

    def __init__(
        self,
        matrix: FaceMatrix,
        model: str,
        params: IndexParams,
        ann: faiss.Index | None,
        status: str,
        added: int = 0,
        summary: tuple | None = None,
    ) -> None:
        self.matrix = matrix
        self.model = model
        self.params = params
        self.ann = ann
        self.status = status
        self.added = added
        self.summary = summary  # Catalog.faces_summary of the faces held, for refreshed()
        self.vectors = np.ascontiguousarray(matrix.vectors, dtype=np.float32)
        self._flat: faiss.Index | None = None
        if ann is None:
            self._flat = faiss.IndexFlatIP(self.vectors.shape[1])
            self._flat.add(self.vectors)

    def __len__(self) -> int:
        return len(self.matrix)

    @property
    def kind(self) -> str:
        return "exact" if self.ann is None else "ivf"

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
        matrix = catalog.face_matrix()
        summary = catalog.faces_summary(int(matrix.face_ids[-1]) if len(matrix) else 0)
        if len(matrix) < params.flat_below:
            return cls(matrix, model, params, None, "exact", summary=summary)
        if index_path is not None:
            files: tuple[Path, Path] | None = (Path(index_path), Path(f"{index_path}.json"))
        elif catalog.path != ":memory:":
            files = index_files(catalog.path, catalog.face_set.face_set_id)
        else:
            files = None
        started = time.monotonic()
        ann, kept, trained = _reuse(files, matrix, model, params)
        if ann is None:
            ann, status, trained = build_ivf(matrix.vectors, params), "built", len(matrix)
        elif kept < len(matrix):
            ann.add(np.ascontiguousarray(matrix.vectors[kept:], dtype=np.float32))
            status = "extended"
        else:
            status = "loaded"
        if files is not None and status != "loaded":
            _save(files, ann, matrix, model, params, trained)
        log.info(
            "face index %s: %d faces in %d lists, %.1f s", status, len(matrix),
            ann.nlist, time.monotonic() - started,
        )
        return cls(matrix, model, params, ann, status, len(matrix) - kept, summary)

    def refreshed(self, catalog: Catalog) -> FaceIndex:
        """This index brought up to ``catalog``'s faces, as cheaply as is safe.

        If the faces it holds are still there unchanged (``Catalog.faces_summary``: one pass
        over the faces table, no embedding read), only the faces added since are read and
        encoded into a copy of the index (``status`` "extended"; this same index if there are
        none); anything else reopens it with ``open``. Nothing is saved: the index file is
        ``faceatlas index``'s job.
        """
        last = int(self.matrix.face_ids[-1]) if len(self) else 0
        catalog_model(catalog, self.model)
        if self.summary is None or catalog.faces_summary(last) != self.summary:
            return FaceIndex.open(catalog, self.model, self.params)
        new = catalog.face_matrix(after_id=last)
        if len(new) == 0:
            return self
        matrix = FaceMatrix(
            np.concatenate([self.matrix.face_ids, new.face_ids]),
            np.concatenate([self.matrix.image_ids, new.image_ids]),
            np.concatenate([self.vectors, new.vectors]),
        )
        if self.ann is None and len(matrix) >= self.params.flat_below:
            return FaceIndex.open(catalog, self.model, self.params)  # time for an ANN index
        ann = None
        if self.ann is not None:
            ann = faiss.clone_index(self.ann)  # other threads may be searching the old one
            ann.add(np.ascontiguousarray(new.vectors, dtype=np.float32))
        summary = catalog.faces_summary(int(matrix.face_ids[-1]))
        status = "exact" if ann is None else "extended"
        return FaceIndex(matrix, self.model, self.params, ann, status, len(new), summary)

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
            raise UsageError(f"k must be >= 1, got {k}")
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
        if self.ann is None:
            _, rows = self._flat.search(queries, wanted)
            return rows
        count = min(len(self), wanted * self.params.rerank)
        probe = faiss.SearchParametersIVF(nprobe=self.params.probes(self.ann.nlist))
        _, rows = self.ann.search(queries, count, params=probe)
        return rows


def describe(catalog: Catalog, hits: list[Hit]) -> list[Match]:
    """Matches (path, box, person ...) for ``hits``, in the same order."""
    rows = {row.face_id: row for row in catalog.faces(h.face_id for h in hits)}
    missing = [h.face_id for h in hits if h.face_id not in rows]
    if missing:
        raise SearchError(f"faces {missing} left the catalog since the index was loaded")
    return [Match.of(rows[h.face_id], h.distance) for h in hits]


def as_exported(catalog: Catalog, matches: list[Match], min_faces: int) -> list[Match]:
    """``matches`` with the person of those in a person of fewer than ``min_faces`` faces, or
    hidden, shown as "unknown": as the export files them (no folder of their own)."""
    shown = {p.person_id for p in catalog.people(hidden=False) if p.size >= min_faces}
    for match in matches:
        if match.person_id is not None and match.person_id not in shown:
            match.person = UNKNOWN
    return matches


def verdict(matches: list[Match], cut: float) -> str | None:
    """Who a query face is: the person of its nearest match (``matches`` nearest first) if that
    lies within the model's same-person ``cut`` and has a folder (not "unknown"), else None: a
    stranger, however near."""
    if not matches:
        return None
    nearest = matches[0]
    if nearest.distance > cut or nearest.person in (None, UNKNOWN):
        return None
    return nearest.person


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
    without faces), the faces indexed, how many went into the ANN index, and the seconds taken."""

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
    if model is None and catalog.face_set is None:
        return IndexUpdate("empty", 0, 0, 0.0)
    started = time.monotonic()
    index = FaceIndex.open(catalog, model, params)
    update = IndexUpdate(index.status, len(index), index.added, time.monotonic() - started)
    log.info("search index of %s: %s", catalog.path, update.describe())
    return update


# -- persistence ------------------------------------------------------------------------------


def _reuse(
    files: tuple[Path, Path] | None, matrix: FaceMatrix, model: str, params: IndexParams
) -> tuple[faiss.Index | None, int, int]:
    """(saved index, how many of ``matrix``'s first faces it holds, how many its lists were
    trained on) when the saved index still fits the catalog, else (None, 0, 0)."""
    if files is None or not files[0].is_file() or not files[1].is_file():
        return None, 0, 0
    index_file, meta_file = files
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, ValueError) as err:
        log.warning("ignoring unreadable index metadata %s: %s", meta_file, err)
        return None, 0, 0
    count, trained = meta.get("count", -1), meta.get("trained", 0)
    expected = {
        "version": META_VERSION,
        "model": model,
        "dim": int(matrix.vectors.shape[1]),
        "built_with": params.built_with,
    }
    if any(meta.get(key) != value for key, value in expected.items()):
        log.info("face index %s was built differently; rebuilding", index_file)
        return None, 0, 0
    if not 0 < count <= len(matrix) or int(matrix.face_ids[count - 1]) != meta.get("last_face"):
        log.info("faces changed since %s was built; rebuilding", index_file)
        return None, 0, 0
    if len(matrix) > REGROW * trained:
        log.info("the catalog outgrew the lists of %s; rebuilding", index_file)
        return None, 0, 0
    if faces_digest(matrix, count) != meta.get("digest"):
        log.info("faces changed since %s was built; rebuilding", index_file)
        return None, 0, 0
    try:
        ann = faiss.read_index(str(index_file))
    except RuntimeError as err:
        log.warning("ignoring unreadable index %s: %s", index_file, err)
        return None, 0, 0
    if ann.ntotal != count:
        log.warning("index %s holds %d faces, metadata says %d", index_file, ann.ntotal, count)
        return None, 0, 0
    return ann, count, trained


def _save(
    files: tuple[Path, Path],
    ann: faiss.Index,
    matrix: FaceMatrix,
    model: str,
    params: IndexParams,
    trained: int,
) -> None:
    """Write the index, then its metadata, each atomically. A failure only costs a rebuild."""
    index_file, meta_file = files
    meta = {
        "version": META_VERSION,
        "model": model,
        "dim": int(matrix.vectors.shape[1]),
        "built_with": params.built_with,
        "count": len(matrix),
        "trained": trained,
        "last_face": int(matrix.face_ids[-1]),
        "digest": faces_digest(matrix, len(matrix)),
        "faiss": faiss.__version__,
    }
    try:
        with atomic_write(index_file) as handle:
            handle.write(faiss.serialize_index(ann).tobytes())
        with atomic_write(meta_file, "w") as handle:
            handle.write(json.dumps(meta, indent=1))
    except (OSError, RuntimeError) as err:
        log.warning("could not save the face index beside the catalog (%s); "
                    "it will be rebuilt on the next start", err)
