"""``Catalog``: the one place that reads and writes the SQLite file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from faceatlas.catalog.migrations import apply_migrations
from faceatlas.faces.record import ImageResult

EMBEDDING_DTYPE = np.float32
BATCH = 500  # ids per IN (...) query: well under SQLite's host-parameter limit (999 in old builds)


@dataclass(slots=True)
class FaceMatrix:
    """All faces' unit embeddings as one (N, D) float32 matrix, with their ids, row by row."""

    face_ids: np.ndarray
    image_ids: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.face_ids)


@dataclass(slots=True)
class FaceRow:
    """One stored face with where it came from and whom it was grouped with."""

    face_id: int
    image_id: int
    image_path: str
    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float
    person_id: int | None
    person: str | None  # folder name: the person's name, or person_0001 by rank
    image_source: str | None = None  # container locator (TSV row, archive member), if any


@dataclass(slots=True)
class PersonRow:
    person_id: int
    rank: int
    name: str | None
    size: int

    @property
    def label(self) -> str:
        return self.name or f"person_{self.rank:04d}"


@dataclass(slots=True)
class ImageRow:
    """One image's record: where its bytes are and what indexing made of it."""

    image_id: int
    path: str
    source: str | None  # container locator (TSV row, archive member), or None for a file
    status: str  # "ok", "no_face" or "error"
    error: str | None
    width: int
    height: int


@dataclass(slots=True)
class ExportRow:
    face_id: int
    image_path: str
    box: tuple[int, int, int, int]
    person: str | None  # None: the face belongs to no person of the current clustering
    person_size: int


class Catalog:
    """A faceatlas catalog file (SQLite in WAL mode), migrated to the current schema on open.

    >>> with Catalog(":memory:") as catalog:
    ...     catalog.stats()["images"]
    0
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._savepoints = 0
        apply_migrations(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[sqlite3.Connection]:
        """A transaction; nested calls become savepoints. Rolls back on any exception."""
        outermost = not self.conn.in_transaction
        name = f"sp{self._savepoints}"
        self.conn.execute("BEGIN IMMEDIATE" if outermost else f"SAVEPOINT {name}")
        self._savepoints += 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK" if outermost else f"ROLLBACK TO {name}")
            if not outermost:
                self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute("COMMIT" if outermost else f"RELEASE {name}")
        finally:
            self._savepoints -= 1

    # -- images and faces -------------------------------------------------------------------

    def known_images(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every image already indexed (with or without faces)."""
        return {
            path: (size, mtime)
            for path, size, mtime in self.conn.execute("SELECT path, size, mtime_ns FROM images")
        }

    def forget_errors(self) -> int:
        """Drop the records of failed images so the next index retries them."""
        with self.atomic():
            return self.conn.execute("DELETE FROM images WHERE status = 'error'").rowcount

    def add_results(self, results: Iterable[ImageResult]) -> None:
        """Store images with their faces in one transaction, replacing older versions by path."""
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.atomic() as conn:
            for result in results:
                conn.execute("DELETE FROM images WHERE path = ?", (result.path,))
                faces = result.faces or []
                image_id = conn.execute(
                    "INSERT INTO images(path, size, mtime_ns, width, height, status, error,"
                    " face_count, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        result.path,
                        result.size,
                        result.mtime_ns,
                        result.width,
                        result.height,
                        result.status,
                        result.error,
                        len(faces),
                        now,
                    ),
                ).lastrowid
                conn.executemany(
                    "INSERT INTO faces(image_id, left, top, right, bottom, score, landmarks,"
                    " embedding, embedding_norm, model) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            image_id,
                            *face.box,
                            face.score,
                            np.asarray(face.landmarks, dtype=np.float32).tobytes(),
                            np.asarray(face.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
                            face.embedding_norm,
                            result.model,
                        )
                        for face in faces
                    ],
                )

    def known_among(self, paths: Sequence[str]) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) for those of ``paths`` already indexed (batched lookups).

        For streams too large to load every known key at once (millions of TSV rows).
        """
        found: dict[str, tuple[int, int]] = {}
        for start in range(0, len(paths), 500):
            chunk = list(paths[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for path, size, mtime in self.conn.execute(
                f"SELECT path, size, mtime_ns FROM images WHERE path IN ({marks})", chunk
            ):
                found[path] = (size, mtime)
        return found

    def annotate_images(self, notes: Iterable[tuple[str, str | None, str | None, int]]) -> None:
        """Set (path, segment, source, face_count) on stored images; one transaction.

        Call inside the ``atomic()`` block that stored the images, so both commit together.
        """
        with self.atomic() as conn:
            conn.executemany(
                "UPDATE images SET segment = ?, source = ?, face_count = ? WHERE path = ?",
                [(segment, source, count, path) for path, segment, source, count in notes],
            )

    def image_sources(self, paths: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """path -> (segment, source locator) for the given image paths."""
        wanted = list(dict.fromkeys(paths))
        found: dict[str, tuple[str | None, str | None]] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for path, segment, source in self.conn.execute(
                f"SELECT path, segment, source FROM images WHERE path IN ({marks})", chunk
            ):
                found[path] = (segment, source)
        return found

    def face_matrix(
        self, model: str | None = None, order: str = "id", after_id: int | None = None
    ) -> FaceMatrix:
        """Every face's embedding as one matrix (fast: one blob join).

        ``order="id"`` lists faces by face id, which follows the order workers finished in;
        ``order="path"`` by image path and position in the photo, the same on every run, for
        steps whose result depends on input order (clustering). ``after_id``: only faces with a
        larger id (those added since).
        """
        where, args = [], []
        if model is not None:
            where.append("f.model = ?")
            args.append(model)
        if after_id is not None:
            where.append("f.id > ?")
            args.append(after_id)
        query = "SELECT f.id, f.image_id, f.embedding FROM faces f"
        if where:
            query += " WHERE " + " AND ".join(where)
        return _to_matrix(self.conn.execute(query + _order_by(order), args).fetchall())

    def faces_summary(self, model: str, up_to_id: int) -> tuple[int, int, int, float]:
        """(count, sum of ids, sum of image ids, sum of embedding norms) of ``model``'s faces
        with id <= ``up_to_id``: one pass over the faces table, no embedding read, that
        changes when any of those faces is removed or replaced."""
        row = self.conn.execute(
            "SELECT count(*), total(id), total(image_id), total(embedding_norm) FROM faces"
            " WHERE model = ? AND id <= ?",
            (model, up_to_id),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), float(row[3])

    def iter_face_blocks(self, size: int, order: str = "path") -> Iterator[FaceMatrix]:
        """Every face's embedding, streamed in blocks of ``size`` rows (memory: one block).

        Write to the catalog only after the iteration ends.
        """
        cursor = self.conn.execute(
            "SELECT f.id, f.image_id, f.embedding FROM faces f" + _order_by(order)
        )
        while rows := cursor.fetchmany(size):
            yield _to_matrix(rows)

    def segments(self) -> list[str | None]:
        """Distinct segments of images with faces, sorted (None, no segment, last)."""
        query = "SELECT DISTINCT segment FROM images WHERE face_count > 0"
        found = [row[0] for row in self.conn.execute(query)]
        return sorted(s for s in found if s is not None) + ([None] if None in found else [])

    def segment_face_matrix(self, segment: str | None, order: str = "id") -> FaceMatrix:
        """Like ``face_matrix`` for the faces of one segment only (memory: that segment)."""
        rows = self.conn.execute(
            "SELECT f.id, f.image_id, f.embedding FROM faces f"
            " WHERE f.image_id IN (SELECT id FROM images WHERE segment IS ?)" + _order_by(order),
            (segment,),
        ).fetchall()
        return _to_matrix(rows)

    def models(self) -> list[str]:
        return [row[0] for row in self.conn.execute("SELECT DISTINCT model FROM faces")]

    # -- people -------------------------------------------------------------------------------

    def save_clustering(
        self, method: str, params: dict, face_ids: np.ndarray, labels: np.ndarray
    ) -> int:
        """Replace the current people with ``labels`` (one per face id; -1 = no person).

        People are ranked by size, largest first (rank 1). Returns the clustering id.
        """
        face_ids = np.asarray(face_ids, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if face_ids.shape != labels.shape:
            raise ValueError("face_ids and labels must have the same length")
        kept = labels >= 0
        uniq, counts = np.unique(labels[kept], return_counts=True)
        order = np.lexsort((uniq, -counts))  # size desc, then label for a stable order
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with self.atomic() as conn:
            conn.execute("DELETE FROM clusterings")  # cascades to people and assignments
            clustering_id = conn.execute(
                "INSERT INTO clusterings(method, params, created_at) VALUES (?, ?, ?)",
                (method, json.dumps(params, sort_keys=True), now),
            ).lastrowid
            person_of_label = {}
            for rank, idx in enumerate(order, start=1):
                person_of_label[int(uniq[idx])] = conn.execute(
                    "INSERT INTO people(clustering_id, rank, size) VALUES (?, ?, ?)",
                    (clustering_id, rank, int(counts[idx])),
                ).lastrowid
            conn.executemany(
                "INSERT INTO assignments(face_id, person_id) VALUES (?, ?)",
                [
                    (int(f), person_of_label[int(lab)])
                    for f, lab in zip(face_ids[kept], labels[kept], strict=True)
                ],
            )
        return clustering_id

    def clustering(self) -> dict | None:
        """Method and parameters of the current clustering, or None."""
        row = self.conn.execute(
            "SELECT id, method, params, created_at FROM clusterings ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "method": row[1], "params": json.loads(row[2]), "created_at": row[3]}

    def export_rows(self) -> list[ExportRow]:
        """Every face with its image path, box and person folder name, by face id."""
        rows = self.conn.execute(
            "SELECT f.id, i.path, f.left, f.top, f.right, f.bottom, p.rank, p.name, p.size"
            " FROM faces f JOIN images i ON i.id = f.image_id"
            " LEFT JOIN assignments a ON a.face_id = f.id"
            " LEFT JOIN people p ON p.id = a.person_id ORDER BY f.id"
        )
        return [
            ExportRow(
                face_id=fid,
                image_path=path,
                box=(left, top, right, bottom),
                person=None if rank is None else (name or f"person_{rank:04d}"),
                person_size=size or 0,
            )
            for fid, path, left, top, right, bottom, rank, name, size in rows
        ]

    def faces(self, face_ids: Iterable[int] | None = None) -> list[FaceRow]:
        """Stored faces (all, or the given ids) with image path and person, by face id."""
        sql = (
            "SELECT f.id, f.image_id, i.path, f.left, f.top, f.right, f.bottom, f.landmarks,"
            " f.score, p.id, p.rank, p.name, i.source FROM faces f"
            " JOIN images i ON i.id = f.image_id"
            " LEFT JOIN assignments a ON a.face_id = f.id"
            " LEFT JOIN people p ON p.id = a.person_id"
        )
        if face_ids is None:
            rows = self.conn.execute(sql + " ORDER BY f.id").fetchall()
        else:
            ids = [int(i) for i in face_ids]
            rows = []
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows += self.conn.execute(sql + f" WHERE f.id IN ({marks})", chunk).fetchall()
            rows.sort(key=lambda r: r[0])
        return [
            FaceRow(
                face_id=r[0], image_id=r[1], image_path=r[2], box=(r[3], r[4], r[5], r[6]),
                landmarks=np.frombuffer(r[7], dtype=np.float32).reshape(-1, 2), score=r[8],
                person_id=r[9], person=None if r[10] is None else (r[11] or f"person_{r[10]:04d}"),
                image_source=r[12],
            )
            for r in rows
        ]

    def people(self) -> list[PersonRow]:
        """People of the current clustering, largest first."""
        return [
            PersonRow(*row)
            for row in self.conn.execute("SELECT id, rank, name, size FROM people ORDER BY rank")
        ]

    def image_path(self, image_id: int) -> str | None:
        row = self.conn.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()
        return row[0] if row else None

    def image(self, image_id: int) -> ImageRow | None:
        """One image's record (path, container locator, status), or None."""
        row = self.conn.execute(
            "SELECT id, path, source, status, error, width, height FROM images WHERE id = ?",
            (image_id,),
        ).fetchone()
        return None if row is None else ImageRow(*row)

    def person(self, person_id: int) -> PersonRow | None:
        """One person of the current clustering, or None."""
        row = self.conn.execute(
            "SELECT id, rank, name, size FROM people WHERE id = ?", (person_id,)
        ).fetchone()
        return None if row is None else PersonRow(*row)

    def person_faces(
        self, person_ids: Sequence[int], per_person: int | None = None
    ) -> dict[int, list[int]]:
        """Face ids of each person (the first ``per_person`` by face id, or all)."""
        found: dict[int, list[int]] = {}
        ids = [int(p) for p in person_ids]
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            marks = ",".join("?" * len(chunk))
            sql = (
                "SELECT person_id, face_id FROM (SELECT person_id, face_id, ROW_NUMBER() OVER"
                " (PARTITION BY person_id ORDER BY face_id) AS n FROM assignments"
                f" WHERE person_id IN ({marks}))"
            )
            args: list[int] = list(chunk)
            if per_person is not None:
                sql += " WHERE n <= ?"
                args.append(per_person)
            for pid, fid in self.conn.execute(sql + " ORDER BY person_id, face_id", args):
                found.setdefault(pid, []).append(fid)
        return found

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to this catalog."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- numbers ------------------------------------------------------------------------------

    def stats(self) -> dict:
        """Counts a person wants to see: images, faces, people, errors, images per status."""

        def one(sql: str) -> int:
            return self.conn.execute(sql).fetchone()[0]

        by_status = dict(self.conn.execute("SELECT status, COUNT(*) FROM images GROUP BY status"))
        return {
            "images": one("SELECT COUNT(*) FROM images"),
            "faces": one("SELECT COUNT(*) FROM faces"),
            "people": one("SELECT COUNT(*) FROM people"),
            "errors": by_status.get("error", 0),
            "status": {s: by_status.get(s, 0) for s in ("ok", "no_face", "error")},
            "assigned_faces": one("SELECT COUNT(*) FROM assignments"),
        }

    def errors(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(path, reason) of failed images, by path."""
        sql = "SELECT path, error FROM images WHERE status = 'error' ORDER BY path"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(self.conn.execute(sql))


def _order_by(order: str) -> str:
    """ORDER BY clause for faces aliased ``f``: by id, or by image path and position."""
    if order == "id":
        return " ORDER BY f.id"
    if order == "path":
        return (
            " ORDER BY (SELECT path FROM images WHERE images.id = f.image_id),"
            " f.left, f.top, f.id"
        )
    raise ValueError(f"order must be 'id' or 'path', got {order!r}")


def _to_matrix(rows: list[tuple[int, int, bytes]]) -> FaceMatrix:
    """(face id, image id, embedding blob) rows as a ``FaceMatrix``."""
    if not rows:
        return FaceMatrix(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), EMBEDDING_DTYPE)
        )
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    image_ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    blob = b"".join(r[2] for r in rows)
    vectors = np.frombuffer(blob, dtype=EMBEDDING_DTYPE).reshape(len(rows), -1)
    return FaceMatrix(ids, image_ids, vectors)
