"""``Catalog``: the one place that reads and writes the SQLite file.

A catalog holds images (files, or items inside TSV files and archives) and, per *face set*, what
one face model made of them: a scan of each image (status, error, faces detected), the faces with
their embeddings, and the people they were grouped into. A face set is identified by the model
spec that made it (``faceatlas.faces.spec.ModelSpec``). Every read of faces, scans and people is
scoped to the catalog's selected face set: the one named when opening, or the default (the set
the last index run wrote to), so faces of different models never mix.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np

from faceatlas.catalog.migrations import MIGRATIONS, apply_migrations
from faceatlas.catalog.people import PeopleStore, person_label
from faceatlas.catalog.people import PersonRow as PersonRow  # re-exported
from faceatlas.errors import CatalogMissing, StorageError, UnknownFaceSet, UsageError
from faceatlas.faces.record import ImageResult
from faceatlas.faces.spec import ModelSpec
from faceatlas.tracks import TrackFace

EMBEDDING_DTYPE = np.float32
DEFAULT_FACE_SET = "default_face_set"  # meta key: the set the last index run wrote to
DISK_FULL_BYTES = 1 << 20  # less free space than this beside a failing catalog: "disk full"


@dataclass(slots=True)
class FaceMatrix:
    """All faces' unit embeddings as one (N, D) float32 matrix, with their ids, row by row."""

    face_ids: np.ndarray
    image_ids: np.ndarray
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.face_ids)


@dataclass(frozen=True, slots=True)
class FaceSet:
    """The faces one model spec made: its id, unique name and spec."""

    face_set_id: int
    name: str
    spec: ModelSpec

    @property
    def dim(self) -> int:
        return self.spec.dim


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
    person: str | None  # folder name: the person's name, or person_0001 by number
    image_source: str | None = None  # container locator (TSV row, archive member), if any
    person_size: int = 0  # faces of that person (0: no person)


@dataclass(frozen=True, slots=True)
class TrackSpan:
    """Where a track face was seen in its video: seconds from the start, sampled frames."""

    start: float
    end: float
    frames: int


@dataclass(slots=True)
class ImageRow:
    """One image's record: where its bytes are and what the face set's scan made of it."""

    image_id: int
    path: str
    source: str | None  # container locator (TSV row, archive member), or None for a file
    status: str | None  # "ok", "no_face", "error"; None: not scanned by the face set
    error: str | None
    width: int
    height: int
    segment: str | None = None
    face_count: int = 0  # faces the face set detected (also those not stored)


@dataclass(slots=True)
class ExportRow:
    face_id: int
    image_path: str
    box: tuple[int, int, int, int]
    person: str | None  # None: the face belongs to no person of the current clustering
    person_size: int
    person_id: int | None = None
    hidden: bool = False  # the person is hidden: no folder


class Catalog(PeopleStore):
    """A faceatlas catalog file (SQLite in WAL mode), migrated to the current schema on open.

    ``model`` selects the face set that reads are scoped to (by name); by default the set the
    last index run wrote to. A catalog whose file or folder cannot be written is opened
    read-only: everything that reads works, writes raise ``StorageError``.

    >>> with Catalog(":memory:") as catalog:
    ...     catalog.stats()["images"]
    0
    """

    def __init__(
        self, path: str | Path, model: str | None = None, read_only: bool | None = None
    ) -> None:
        self.path = str(path)
        self.read_only = _is_read_only(self.path) if read_only is None else read_only
        try:
            self._conn = _connect(self.path, self.read_only)
        except sqlite3.OperationalError as err:
            raise storage_error(self.path, err) from err
        self._savepoints = 0
        self.batch = max(1, self._conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 8)
        self.face_set: FaceSet | None = None
        self.use(model)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A transaction; nested calls become savepoints. Rolls back on any exception."""
        if self.read_only:
            raise StorageError(f"the catalog {self.path} is read-only")
        conn = self._conn
        outermost = not conn.in_transaction
        name = f"sp{self._savepoints}"
        try:
            conn.execute("BEGIN IMMEDIATE" if outermost else f"SAVEPOINT {name}")
        except sqlite3.OperationalError as err:
            raise storage_error(self.path, err) from err
        self._savepoints += 1
        try:
            yield
        except BaseException as err:
            if conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                conn.execute("ROLLBACK" if outermost else f"ROLLBACK TO {name}")
                if not outermost:
                    conn.execute(f"RELEASE {name}")
            if isinstance(err, sqlite3.OperationalError):
                raise storage_error(self.path, err) from err
            raise
        else:
            try:
                conn.execute("COMMIT" if outermost else f"RELEASE {name}")
            except sqlite3.OperationalError as err:
                raise storage_error(self.path, err) from err
        finally:
            self._savepoints -= 1

    def _chunks(self, values: Sequence, paths: bool = False) -> Iterator[tuple[list, str]]:
        """``values`` in lists that fit one query's host parameters, with their ``?`` marks.

        ``paths``: the values are image paths, bound as ``_bind_path`` says and cast to TEXT.
        """
        values = [_bind_path(v) for v in values] if paths else list(values)
        mark = "CAST(? AS TEXT)" if paths else "?"
        for start in range(0, len(values), self.batch):
            chunk = values[start : start + self.batch]
            yield chunk, ",".join([mark] * len(chunk))

    # -- face sets ----------------------------------------------------------------------------

    def face_sets(self) -> list[FaceSet]:
        """Every face set, oldest first."""
        return [
            FaceSet(fid, name, ModelSpec.from_json(spec))
            for fid, name, spec in self._conn.execute(
                "SELECT id, name, spec FROM face_sets ORDER BY id"
            )
        ]

    def use(self, model: str | None = None) -> FaceSet | None:
        """Scope reads to the face set named ``model`` (None: the default); returns it.

        The default is the set the last index run wrote to, else the only or newest one; a
        catalog without face sets has none (reads then find nothing).
        """
        sets = self.face_sets()
        if model is not None:
            chosen = next((s for s in sets if s.name == model), None)
            if chosen is None:
                names = ", ".join(s.name for s in sets) or "none yet"
                raise UnknownFaceSet(f"no face set {model!r} in {self.path} (has: {names})")
        else:
            row = self._conn.execute(
                "SELECT value FROM meta WHERE key = ?", (DEFAULT_FACE_SET,)
            ).fetchone()
            named = [s for s in sets if row and s.name == row[0]]
            chosen = (named or sets[-1:] or [None])[0]
        self.face_set = chosen
        return chosen

    def face_set_for(self, spec: ModelSpec) -> FaceSet:
        """The face set of ``spec`` (created if new), selected and made the default.

        A legacy set (from before specs were recorded) of the same embedder and dimension is
        adopted: it takes ``spec``, so an old catalog is not indexed again.
        """
        sets = self.face_sets()
        with self.atomic():
            chosen = next((s for s in sets if s.spec == spec), None)
            if chosen is None:
                legacy = [
                    s for s in sets
                    if s.spec.legacy and (s.spec.embedder, s.dim) == (spec.embedder, spec.dim)
                ]
                if legacy:
                    chosen = FaceSet(legacy[0].face_set_id, legacy[0].name, spec)
                    self._conn.execute(
                        "UPDATE face_sets SET spec = ? WHERE id = ?",
                        (spec.to_json(), chosen.face_set_id),
                    )
                else:
                    chosen = self._add_face_set(spec, {s.name for s in sets})
            self._conn.execute(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)", (DEFAULT_FACE_SET, chosen.name)
            )
        self.face_set = chosen
        return chosen

    def _add_face_set(self, spec: ModelSpec, taken: set[str]) -> FaceSet:
        name, n = spec.label, 1
        while name in taken:  # same label, other weights or settings
            n += 1
            name = f"{spec.label}-{n}"
        face_set_id = self._conn.execute(
            "INSERT INTO face_sets(name, spec, dim, created_at) VALUES (?, ?, ?, ?)",
            (name, spec.to_json(), spec.dim, _now()),
        ).lastrowid
        return FaceSet(face_set_id, name, spec)

    @property
    def _set_id(self) -> int | None:
        return None if self.face_set is None else self.face_set.face_set_id

    def _writing_set(self) -> int:
        if self.face_set is None:
            raise UsageError(  # library callers: catalog.face_set_for(spec) selects one
                f"no faces indexed in {self.path} yet: run `faceatlas index PHOTOS` first"
            )
        return self.face_set.face_set_id

    # -- images and faces -------------------------------------------------------------------

    def known_images(self) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) of every image the face set has scanned."""
        return {
            path: (size, mtime)
            for path, size, mtime in self._conn.execute(
                "SELECT i.path, i.size, i.mtime_ns FROM images i"
                " JOIN scans s ON s.image_id = i.id WHERE s.face_set_id = ?",
                (self._set_id,),
            )
        }

    def known_among(self, paths: Sequence[str]) -> dict[str, tuple[int, int]]:
        """path -> (size, mtime_ns) for those of ``paths`` the face set has scanned (batched).

        For streams too large to load every known key at once (millions of TSV rows).
        """
        found: dict[str, tuple[int, int]] = {}
        for chunk, marks in self._chunks(paths, paths=True):
            for path, size, mtime in self._conn.execute(
                "SELECT i.path, i.size, i.mtime_ns FROM images i JOIN scans s"
                f" ON s.image_id = i.id AND s.face_set_id = ? WHERE i.path IN ({marks})",
                [self._set_id, *chunk],
            ):
                found[path] = (size, mtime)
        return found

    def forget_errors(self) -> int:
        """Drop the face set's records of failed images so the next index retries them."""
        with self.atomic():
            return self._conn.execute(
                "DELETE FROM scans WHERE face_set_id = ? AND status = 'error'",
                (self._writing_set(),),
            ).rowcount

    def add_results(self, results: Iterable[ImageResult]) -> None:
        """Store scans with their faces in the selected face set, in one transaction.

        An image already scanned by this set is replaced; its other sets' faces stay, unless the
        file changed (size or mtime), which drops what every set had of it.
        """
        set_id, name, now = self._writing_set(), self.face_set.name, _now()
        with self.atomic():
            conn = self._conn
            for result in results:
                path = _bind_path(result.path)
                row = conn.execute(
                    "SELECT id, size, mtime_ns FROM images WHERE path = CAST(? AS TEXT)", (path,)
                ).fetchone()
                if row is not None and (row[1], row[2]) != (result.size, result.mtime_ns):
                    conn.execute("DELETE FROM images WHERE id = ?", (row[0],))
                    row = None
                if row is None:
                    image_id = conn.execute(
                        "INSERT INTO images(path, size, mtime_ns, width, height)"
                        " VALUES (CAST(? AS TEXT), ?, ?, ?, ?)",
                        (path, result.size, result.mtime_ns, result.width, result.height),
                    ).lastrowid
                else:
                    image_id = row[0]
                    conn.execute(
                        "UPDATE images SET width = max(width, ?), height = max(height, ?)"
                        " WHERE id = ?",
                        (result.width, result.height, image_id),
                    )
                    conn.execute(
                        "DELETE FROM faces WHERE image_id = ? AND face_set_id = ?",
                        (image_id, set_id),
                    )
                faces = result.faces or []
                conn.execute(
                    "INSERT OR REPLACE INTO scans(face_set_id, image_id, status, error,"
                    " face_count, indexed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (set_id, image_id, result.status, result.error, len(faces), now),
                )
                insert = (
                    "INSERT INTO faces(image_id, face_set_id, left, top, right, bottom, score,"
                    " landmarks, embedding, embedding_norm, model)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                )
                rows = [
                    (
                        image_id,
                        set_id,
                        *face.box,
                        face.score,
                        np.asarray(face.landmarks, dtype=np.float32).tobytes(),
                        np.asarray(face.embedding, dtype=EMBEDDING_DTYPE).tobytes(),
                        face.embedding_norm,
                        name,
                    )
                    for face in faces
                ]
                if not any(isinstance(face, TrackFace) for face in faces):
                    conn.executemany(insert, rows)
                    continue
                for face, row in zip(faces, rows, strict=True):  # a video still's tracks
                    face_id = conn.execute(insert, row).lastrowid
                    if isinstance(face, TrackFace):
                        conn.execute(
                            "INSERT INTO face_tracks(face_id, start_s, end_s, frames)"
                            " VALUES (?, ?, ?, ?)",
                            (face_id, face.start, face.end, face.frames),
                        )

    def annotate_images(self, notes: Iterable[tuple[str, str | None, str | None, int]]) -> None:
        """Set (path, segment, source, faces detected) on stored images; one transaction.

        Call inside the ``atomic()`` block that stored the images, so both commit together.
        """
        notes = list(notes)
        with self.atomic():
            self._conn.executemany(
                "UPDATE images SET segment = ?, source = ? WHERE path = CAST(? AS TEXT)",
                [(segment, source, _bind_path(path)) for path, segment, source, _ in notes],
            )
            self._conn.executemany(
                "UPDATE scans SET face_count = ? WHERE face_set_id = ?"
                " AND image_id = (SELECT id FROM images WHERE path = CAST(? AS TEXT))",
                [(count, self._writing_set(), _bind_path(path)) for path, _, _, count in notes],
            )

    def forget_stills(self, video: str, size: int, mtime_ns: int) -> int:
        """Before a video is stored again: drop the face set's stills of it (keys
        ``video#t=...``, their scans and faces), and the stills of any other version of the
        file (another size or time) for every face set. Returns the image rows removed."""
        set_id = self._writing_set()
        low, high = _bind_path(video + "#t="), _bind_path(video + "#t>")  # '>' follows '='
        stills = "SELECT id FROM images WHERE path >= CAST(? AS TEXT) AND path < CAST(? AS TEXT)"
        with self.atomic():
            for table in ("scans", "faces"):
                self._conn.execute(
                    f"DELETE FROM {table} WHERE face_set_id = ? AND image_id IN ({stills})",
                    (set_id, low, high),
                )
            return self._conn.execute(
                f"DELETE FROM images WHERE id IN ({stills}) AND (size != ? OR mtime_ns != ?"
                " OR NOT EXISTS (SELECT 1 FROM scans s WHERE s.image_id = images.id))",
                (low, high, size, mtime_ns),
            ).rowcount

    def track_spans(self, face_ids: Iterable[int]) -> dict[int, TrackSpan]:
        """face id -> its track's span in its video, for the given faces that stand for one."""
        found: dict[int, TrackSpan] = {}
        for chunk, marks in self._chunks([int(i) for i in face_ids]):
            for face_id, start, end, frames in self._conn.execute(
                "SELECT face_id, start_s, end_s, frames FROM face_tracks"
                f" WHERE face_id IN ({marks})",
                chunk,
            ):
                found[face_id] = TrackSpan(start, end, frames)
        return found

    def image_sources(self, paths: Iterable[str]) -> dict[str, tuple[str | None, str | None]]:
        """path -> (segment, source locator) for the given image paths."""
        found: dict[str, tuple[str | None, str | None]] = {}
        for chunk, marks in self._chunks(dict.fromkeys(paths), paths=True):
            for path, segment, source in self._conn.execute(
                f"SELECT path, segment, source FROM images WHERE path IN ({marks})", chunk
            ):
                found[path] = (segment, source)
        return found

    def face_matrix(self, order: str = "id", after_id: int | None = None) -> FaceMatrix:
        """The face set's embeddings as one matrix (fast: one blob join).

        ``order="id"`` lists faces by face id, which follows the order workers finished in;
        ``order="path"`` by image path and position in the photo, the same on every run, for
        steps whose result depends on input order (clustering). ``after_id``: only faces with a
        larger id (those added since).
        """
        query = "SELECT f.id, f.image_id, f.embedding FROM faces f WHERE f.face_set_id = ?"
        args: list = [self._set_id]
        if after_id is not None:
            query += " AND f.id > ?"
            args.append(after_id)
        return _to_matrix(self._conn.execute(query + _order_by(order), args).fetchall())

    def embedding_norms(self, face_ids: Sequence[int]) -> np.ndarray:
        """The raw model output's length of each face (a cheap quality signal), in order."""
        norm_of: dict[int, float] = {}
        for chunk, marks in self._chunks([int(i) for i in face_ids]):
            norm_of.update(
                self._conn.execute(
                    f"SELECT id, embedding_norm FROM faces WHERE id IN ({marks})", chunk
                )
            )
        return np.array([norm_of[int(i)] for i in face_ids], dtype=np.float32)

    def faces_summary(self, up_to_id: int) -> tuple[int, int, int, float]:
        """(count, sum of ids, sum of image ids, sum of embedding norms) of the face set's faces
        with id <= ``up_to_id``: one pass over the faces table, no embedding read, that
        changes when any of those faces is removed or replaced."""
        row = self._conn.execute(
            "SELECT count(*), total(id), total(image_id), total(embedding_norm) FROM faces"
            " WHERE face_set_id = ? AND id <= ?",
            (self._set_id, up_to_id),
        ).fetchone()
        return int(row[0]), int(row[1]), int(row[2]), float(row[3])

    def iter_face_blocks(self, size: int, order: str = "path") -> Iterator[FaceMatrix]:
        """The face set's embeddings, streamed in blocks of ``size`` rows (memory: one block).

        Write to the catalog only after the iteration ends.
        """
        cursor = self._conn.execute(
            "SELECT f.id, f.image_id, f.embedding FROM faces f WHERE f.face_set_id = ?"
            + _order_by(order),
            (self._set_id,),
        )
        while rows := cursor.fetchmany(size):
            yield _to_matrix(rows)

    def segments(self) -> list[str | None]:
        """Distinct segments of images with faces, sorted (None, no segment, last)."""
        query = (
            "SELECT DISTINCT i.segment FROM images i JOIN scans s ON s.image_id = i.id"
            " WHERE s.face_set_id = ? AND s.face_count > 0"
        )
        found = [row[0] for row in self._conn.execute(query, (self._set_id,))]
        return sorted(s for s in found if s is not None) + ([None] if None in found else [])

    def segment_face_matrix(self, segment: str | None, order: str = "id") -> FaceMatrix:
        """Like ``face_matrix`` for the faces of one segment only (memory: that segment)."""
        rows = self._conn.execute(
            "SELECT f.id, f.image_id, f.embedding FROM faces f WHERE f.face_set_id = ?"
            " AND f.image_id IN (SELECT id FROM images WHERE segment IS ?)" + _order_by(order),
            (self._set_id, segment),
        ).fetchall()
        return _to_matrix(rows)

    def central_faces(self) -> list[tuple[int, str]]:
        """(face id, image path) of the face nearest the centre of each image, by face id."""
        rows = self._conn.execute(
            "SELECT f.id, i.path, i.width, i.height, f.left, f.top, f.right, f.bottom"
            " FROM faces f JOIN images i ON i.id = f.image_id WHERE f.face_set_id = ?"
            " ORDER BY f.image_id, f.id",
            (self._set_id,),
        )
        best: dict[str, tuple[float, int]] = {}
        for face_id, path, width, height, left, top, right, bottom in rows:
            off = ((left + right) / 2 - width / 2) ** 2 + ((top + bottom) / 2 - height / 2) ** 2
            if path not in best or off < best[path][0]:
                best[path] = (off, face_id)
        return sorted((face_id, path) for path, (_, face_id) in best.items())

    # -- people -------------------------------------------------------------------------------

    def export_rows(self) -> list[ExportRow]:
        """Every face with its image path, box and person folder name, by face id."""
        rows = self._conn.execute(
            "SELECT f.id, i.path, f.left, f.top, f.right, f.bottom, p.number, p.name, p.size,"
            " p.id, p.hidden FROM faces f JOIN images i ON i.id = f.image_id"
            " LEFT JOIN assignments a ON a.face_id = f.id"
            " LEFT JOIN people p ON p.id = a.person_id WHERE f.face_set_id = ? ORDER BY f.id",
            (self._set_id,),
        )
        return [
            ExportRow(
                face_id=fid,
                image_path=path,
                box=(left, top, right, bottom),
                person=None if number is None else person_label(number, name),
                person_size=size or 0,
                person_id=pid,
                hidden=bool(hidden),
            )
            for fid, path, left, top, right, bottom, number, name, size, pid, hidden in rows
        ]

    def faces(self, face_ids: Iterable[int] | None = None) -> list[FaceRow]:
        """Stored faces (all of the face set, or the given ids) with image path and person."""
        sql = (
            "SELECT f.id, f.image_id, i.path, f.left, f.top, f.right, f.bottom, f.landmarks,"
            " f.score, p.id, p.number, p.name, i.source, p.size FROM faces f"
            " JOIN images i ON i.id = f.image_id"
            " LEFT JOIN assignments a ON a.face_id = f.id"
            " LEFT JOIN people p ON p.id = a.person_id"
        )
        if face_ids is None:
            rows = self._conn.execute(
                sql + " WHERE f.face_set_id = ? ORDER BY f.id", (self._set_id,)
            ).fetchall()
        else:
            rows = []
            for chunk, marks in self._chunks([int(i) for i in face_ids]):
                rows += self._conn.execute(sql + f" WHERE f.id IN ({marks})", chunk).fetchall()
            rows.sort(key=lambda r: r[0])
        return [
            FaceRow(
                face_id=r[0], image_id=r[1], image_path=r[2], box=(r[3], r[4], r[5], r[6]),
                landmarks=np.frombuffer(r[7], dtype=np.float32).reshape(-1, 2), score=r[8],
                person_id=r[9], person=None if r[10] is None else person_label(r[10], r[11]),
                image_source=r[12], person_size=r[13] or 0,
            )
            for r in rows
        ]

    def faces_in(self, paths: Sequence[str]) -> dict[str, list[FaceRow]]:
        """The face set's faces in each of the images at ``paths`` (those with faces)."""
        ids: list[int] = []
        for chunk, marks in self._chunks(list(paths), paths=True):
            ids += [
                fid
                for (fid,) in self._conn.execute(
                    "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id"
                    f" WHERE f.face_set_id = ? AND i.path IN ({marks})",
                    [self._set_id, *chunk],
                )
            ]
        found: dict[str, list[FaceRow]] = {}
        for row in self.faces(ids):
            found.setdefault(row.image_path, []).append(row)
        return found

    def image_path(self, image_id: int) -> str | None:
        row = self._conn.execute("SELECT path FROM images WHERE id = ?", (image_id,)).fetchone()
        return row[0] if row else None

    def image(self, image_id: int) -> ImageRow | None:
        """One image's record (path, container locator, the face set's scan), or None."""
        row = self._conn.execute(
            _IMAGE_ROWS + " LEFT JOIN scans s ON s.image_id = i.id AND s.face_set_id = ?"
            " WHERE i.id = ?",
            (self._set_id, image_id),
        ).fetchone()
        return None if row is None else ImageRow(*row)

    def images(self) -> list[ImageRow]:
        """Every image the face set scanned, by path."""
        rows = self._conn.execute(
            _IMAGE_ROWS + " JOIN scans s ON s.image_id = i.id WHERE s.face_set_id = ?"
            " ORDER BY i.path",
            (self._set_id,),
        )
        return [ImageRow(*row) for row in rows]

    def remove_images(self, paths: Iterable[str]) -> int:
        """Forget images (every face set's scans, faces and their places in people)."""
        removed = 0
        with self.atomic():
            for chunk, marks in self._chunks(list(paths), paths=True):
                removed += self._conn.execute(
                    f"DELETE FROM images WHERE path IN ({marks})", chunk
                ).rowcount
        return removed

    def backup(self, target: str | Path) -> None:
        """A consistent copy of the whole catalog at ``target``, even while others write."""
        with sqlite3.connect(target) as copy:
            self._conn.backup(copy)
        copy.close()

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"``, or what is wrong."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    def data_version(self) -> int:
        """A number that changes whenever another connection commits to this catalog."""
        return self._conn.execute("PRAGMA data_version").fetchone()[0]

    # -- numbers ------------------------------------------------------------------------------

    def stats(self) -> dict:
        """Counts a person wants to see, for the face set: images, faces, people, errors."""
        set_id = self._set_id

        def one(sql: str) -> int:
            return self._conn.execute(sql, (set_id,)).fetchone()[0]

        by_status = dict(
            self._conn.execute(
                "SELECT status, COUNT(*) FROM scans WHERE face_set_id = ? GROUP BY status",
                (set_id,),
            )
        )
        return {
            "face_set": None if self.face_set is None else self.face_set.name,
            "images": sum(by_status.values()),
            "faces": one("SELECT COUNT(*) FROM faces WHERE face_set_id = ?"),
            "people": one(
                "SELECT COUNT(*) FROM people WHERE face_set_id = ?"
            ),
            "errors": by_status.get("error", 0),
            "status": {s: by_status.get(s, 0) for s in ("ok", "no_face", "error")},
            "assigned_faces": one(
                "SELECT COUNT(*) FROM assignments a JOIN faces f ON f.id = a.face_id"
                " WHERE f.face_set_id = ?"
            ),
        }

    def errors(self, limit: int | None = None) -> list[tuple[str, str]]:
        """(path, reason) of the images the face set failed on, by path."""
        sql = (
            "SELECT i.path, s.error FROM scans s JOIN images i ON i.id = s.image_id"
            " WHERE s.face_set_id = ? AND s.status = 'error' ORDER BY i.path"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return list(self._conn.execute(sql, (self._set_id,)))


_IMAGE_ROWS = (
    "SELECT i.id, i.path, i.source, s.status, s.error, i.width, i.height, i.segment,"
    " COALESCE(s.face_count, 0) FROM images i"
)


def _bind_path(path: str) -> str | bytes:
    """A path as SQLite takes it: itself, or for a name that is not UTF-8 (held by Python with
    surrogate escapes) its raw bytes, stored verbatim as TEXT by ``CAST(? AS TEXT)``."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape")
    return path


def _text(data: bytes) -> str:
    """Stored TEXT back to Python: non-UTF-8 bytes (such file names) as surrogate escapes."""
    return data.decode("utf-8", "surrogateescape")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def storage_error(path: str, err: sqlite3.OperationalError) -> StorageError:
    """``err`` from SQLite as one clear ``StorageError``: what failed, and why if the disk says."""
    reason = str(err)
    folder = os.path.dirname(os.path.abspath(path))
    with contextlib.suppress(OSError):
        if path != ":memory:" and shutil.disk_usage(folder).free < DISK_FULL_BYTES:
            reason = f"the disk is full ({reason}): free some space or use a --db elsewhere"
    return StorageError(f"cannot use the catalog {path}: {reason}")


def _is_read_only(path: str) -> bool:
    """True when the catalog exists but it, or its folder (for WAL files), cannot be written."""
    if path == ":memory:" or not os.path.exists(path):
        return False
    folder = os.path.dirname(os.path.abspath(path))
    return not (os.access(path, os.W_OK) and os.access(folder, os.W_OK))


def _connect(path: str, read_only: bool) -> sqlite3.Connection:
    """Open the SQLite file (created and migrated if writable; checked if read-only)."""
    if not read_only:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, isolation_level=None, timeout=60)
        conn.text_factory = _text
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        apply_migrations(conn)
        return conn
    if not os.path.exists(path):
        raise CatalogMissing(f"no catalog at {path}")
    uri = "file:" + quote(os.path.abspath(path)) + "?mode=ro"
    for suffix in ("", "&immutable=1"):  # immutable: WAL files cannot be made on this medium
        conn = sqlite3.connect(uri + suffix, uri=True, isolation_level=None, timeout=60)
        conn.text_factory = _text
        try:
            done = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
            break
        except sqlite3.OperationalError:
            conn.close()
    else:
        raise StorageError(f"cannot read the read-only catalog {path}")
    if done < len(MIGRATIONS):
        conn.close()
        raise StorageError(
            f"the catalog {path} is read-only and was made by an older faceatlas; "
            "open it once where it can be written to upgrade it"
        )
    return conn


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
