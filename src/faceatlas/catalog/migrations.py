"""Schema migrations, registered in order by decorator and recorded in ``schema_migrations``.

Each migration runs in the same transaction as its record, so a crash never leaves a half
applied schema. Never edit a released migration; add a new one.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    """Register ``fn`` as the next schema version."""
    MIGRATIONS.append((fn.__name__, fn))
    return fn


def apply_migrations(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; returns the schema version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    for version, (name, fn) in enumerate(MIGRATIONS, start=1):
        if version in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if (
                conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = ?", (version,)
                ).fetchone()
                is None
            ):  # another process may have applied it meanwhile
                fn(conn)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (version, name, datetime.now(UTC).isoformat(timespec="seconds")),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(MIGRATIONS)


@migration
def initial_schema(conn: sqlite3.Connection) -> None:
    for statement in (
        """CREATE TABLE images(
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            width INTEGER NOT NULL DEFAULT 0,
            height INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('ok', 'no_face', 'error')),
            error TEXT,
            face_count INTEGER NOT NULL DEFAULT 0,
            indexed_at TEXT NOT NULL)""",
        "CREATE INDEX images_status ON images(status)",
        """CREATE TABLE faces(
            id INTEGER PRIMARY KEY,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            left INTEGER NOT NULL, top INTEGER NOT NULL,
            right INTEGER NOT NULL, bottom INTEGER NOT NULL,
            score REAL NOT NULL,
            landmarks BLOB NOT NULL,
            embedding BLOB NOT NULL,
            embedding_norm REAL NOT NULL,
            model TEXT NOT NULL)""",
        "CREATE INDEX faces_image ON faces(image_id)",
        """CREATE TABLE clusterings(
            id INTEGER PRIMARY KEY,
            method TEXT NOT NULL,
            params TEXT NOT NULL,
            created_at TEXT NOT NULL)""",
        """CREATE TABLE people(
            id INTEGER PRIMARY KEY,
            clustering_id INTEGER NOT NULL REFERENCES clusterings(id) ON DELETE CASCADE,
            rank INTEGER NOT NULL,
            size INTEGER NOT NULL,
            name TEXT)""",
        """CREATE TABLE assignments(
            face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE)""",
        "CREATE INDEX assignments_person ON assignments(person_id)",
    ):
        conn.execute(statement)


@migration
def image_sources_and_segments(conn: sqlite3.Connection) -> None:
    """Bulk inputs: where an image's bytes live inside a container, and its segment.

    ``source`` is NULL for a plain file (``path`` is the file) and otherwise a JSON locator, e.g.
    ``{"tsv": "/data/a.tsv", "offset": 1234, "length": 26880}`` (the base64 field of a row) or
    ``{"zip": "/data/a.zip", "member": "x/y.jpg"}``; ``path`` is then a stable key such as
    ``/data/a.tsv#17``. ``segment`` is a coarse pre-class; people are never grouped across
    segments when clustering per segment. ``face_count`` keeps counting every detected face,
    also when only the largest one is stored (``--largest-face-only``).
    """
    conn.execute("ALTER TABLE images ADD COLUMN source TEXT")
    conn.execute("ALTER TABLE images ADD COLUMN segment TEXT")
    conn.execute("CREATE INDEX images_segment ON images(segment)")


@migration
def face_sets(conn: sqlite3.Connection) -> None:
    """Faces per model spec: an image is indexed once per face set, never once in all.

    ``face_sets`` records what made each set (``faceatlas.faces.spec.ModelSpec`` as JSON);
    ``scans`` what each set's run made of each image (status, error, faces detected), which
    moves there from ``images``; faces and clusterings name their set. Existing faces become
    one legacy set per stored model name, whose spec knows only the embedder and dimension.
    Relative image paths (stored as given before paths were canonical) are resolved against
    the current folder where that finds the file.
    """
    from faceatlas.faces.spec import ModelSpec

    now = datetime.now(UTC).isoformat(timespec="seconds")
    conn.execute(
        """CREATE TABLE face_sets(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            spec TEXT NOT NULL,
            dim INTEGER NOT NULL,
            created_at TEXT NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE scans(
            face_set_id INTEGER NOT NULL REFERENCES face_sets(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            status TEXT NOT NULL CHECK (status IN ('ok', 'no_face', 'error')),
            error TEXT,
            face_count INTEGER NOT NULL DEFAULT 0,
            indexed_at TEXT NOT NULL,
            PRIMARY KEY (face_set_id, image_id)) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX scans_image ON scans(image_id)")
    conn.execute("CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("ALTER TABLE faces ADD COLUMN face_set_id INTEGER")
    conn.execute("ALTER TABLE clusterings ADD COLUMN face_set_id INTEGER")
    found = conn.execute(
        "SELECT model, max(length(embedding)) / 4 FROM faces GROUP BY model ORDER BY min(id)"
    ).fetchall()
    has_images = conn.execute("SELECT 1 FROM images LIMIT 1").fetchone() is not None
    if not found and has_images:
        found = [("dlib-resnet-v1", 128)]  # only images without faces: the one model there was
    for model, dim in found:
        spec = ModelSpec(
            detector="hog", min_face=40, embedder=model, dim=int(dim), legacy=True
        )
        set_id = conn.execute(
            "INSERT INTO face_sets(name, spec, dim, created_at) VALUES (?, ?, ?, ?)",
            (model, spec.to_json(), int(dim), now),
        ).lastrowid
        conn.execute("UPDATE faces SET face_set_id = ? WHERE model = ?", (set_id, model))
        conn.execute(  # each set scanned what the catalog recorded for every image
            "INSERT INTO scans(face_set_id, image_id, status, error, face_count, indexed_at)"
            " SELECT ?, id, status, error, face_count, indexed_at FROM images",
            (set_id,),
        )
        conn.execute("UPDATE clusterings SET face_set_id = ?", (set_id,))
    if found:
        conn.execute("INSERT INTO meta VALUES ('default_face_set', ?)", (found[0][0],))
    conn.execute("DROP INDEX faces_image")
    conn.execute("CREATE INDEX faces_image ON faces(image_id, face_set_id)")
    conn.execute("CREATE INDEX faces_set ON faces(face_set_id, id)")
    conn.execute("DROP INDEX images_status")
    for column in ("status", "error", "face_count", "indexed_at"):
        conn.execute(f"ALTER TABLE images DROP COLUMN {column}")
    _resolve_relative_paths(conn)


def _resolve_relative_paths(conn: sqlite3.Connection) -> None:
    """Store plain-file paths in their canonical (resolved) form where the file is found."""
    taken = {row[0] for row in conn.execute("SELECT path FROM images")}
    for image_id, path in conn.execute(
        "SELECT id, path FROM images WHERE source IS NULL"
    ).fetchall():
        if not os.path.exists(path):
            continue
        real = os.path.realpath(path)
        if real != path and real not in taken:
            conn.execute("UPDATE images SET path = ? WHERE id = ?", (real, image_id))
            taken.add(real)


@migration
def persistent_people(conn: sqlite3.Connection) -> None:
    """People that last: a stable number, a name, hidden or not, the user's corrections.

    A person now belongs to its face set and keeps its id, ``number`` (never reused within the
    set: ``face_sets.next_person`` is the next one) and ``name`` across regroups; existing people
    take their rank as their number, so folders keep their names. ``assignments.pinned`` marks a
    face the user put in its person (a must-link); ``rejections`` holds "not this person";
    ``changes`` every user change with what undoing it restores. ``clusterings.last_face_id``
    is the largest face id the grouping saw: faces above it are new.
    """
    for statement in (
        "ALTER TABLE people ADD COLUMN number INTEGER",
        "ALTER TABLE people ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE people ADD COLUMN face_set_id INTEGER"
        " REFERENCES face_sets(id) ON DELETE CASCADE",
        "UPDATE people SET number = rank, face_set_id ="
        " (SELECT c.face_set_id FROM clusterings c WHERE c.id = people.clustering_id)",
        "CREATE UNIQUE INDEX people_number ON people(face_set_id, number)",
        "CREATE INDEX people_clustering ON people(clustering_id)",
        "ALTER TABLE face_sets ADD COLUMN next_person INTEGER NOT NULL DEFAULT 1",
        "UPDATE face_sets SET next_person = 1 + COALESCE("
        "(SELECT max(number) FROM people WHERE people.face_set_id = face_sets.id), 0)",
        "ALTER TABLE assignments ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE clusterings ADD COLUMN last_face_id INTEGER NOT NULL DEFAULT 0",
        "UPDATE clusterings SET last_face_id = COALESCE("
        "(SELECT max(id) FROM faces WHERE faces.face_set_id = clusterings.face_set_id), 0)",
        """CREATE TABLE rejections(
            face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            PRIMARY KEY (face_id, person_id)) WITHOUT ROWID""",
        "CREATE INDEX rejections_person ON rejections(person_id)",
        """CREATE TABLE changes(
            id INTEGER PRIMARY KEY,
            face_set_id INTEGER NOT NULL REFERENCES face_sets(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            undo TEXT NOT NULL,
            undone_at TEXT)""",
        "CREATE INDEX changes_set ON changes(face_set_id, id)",
    ):
        conn.execute(statement)


@migration
def video_tracks(conn: sqlite3.Connection) -> None:
    """Faces that stand for a track through a video (``faceatlas.tracks``).

    A video is an image row of its own (its scan says how reading it went), and each frame
    that keeps tracks' faces is a *still*, an image row keyed ``VIDEO#t=SECONDS`` whose
    ``source`` locates the frame. ``face_tracks`` gives a track face's time span in the video
    (seconds) and the number of sampled frames the track was seen in.
    """
    conn.execute(
        """CREATE TABLE face_tracks(
            face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            start_s REAL NOT NULL,
            end_s REAL NOT NULL,
            frames INTEGER NOT NULL)"""
    )


@migration
def known_people(conn: sqlite3.Connection) -> None:
    """Reference faces and dismissed merge suggestions.

    ``reference_faces`` marks a face taken from a reference photo of a known person
    (``people add-known``) with the name the photo gave; the face is also pinned to its person
    (a must-link). ``dismissed_pairs`` holds the pairs of people (``low`` < ``high`` ids) the
    user said are not one person, so the merge suggestion does not come back.
    """
    conn.execute(
        """CREATE TABLE reference_faces(
            face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            at TEXT NOT NULL)"""
    )
    conn.execute(
        """CREATE TABLE dismissed_pairs(
            low INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            high INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            at TEXT NOT NULL,
            PRIMARY KEY (low, high)) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX dismissed_high ON dismissed_pairs(high)")
