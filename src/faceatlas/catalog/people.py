"""The catalog's people: persistent people, the user's corrections and their undo (SQL only).

A person belongs to one face set and keeps its id, its ``number`` (``person_0007``; never reused
within the set) and its name across every regroup. ``save_clustering`` merges a new grouping
with the people that exist (rules in :mod:`faceatlas.catalog.merge`); ``apply_change`` applies
one user correction (name, merge, split, move, reject, hide, forget) in one transaction and
records it, with what undoing it restores, in ``changes``; ``undo_change`` undoes the last one.
The decisions (what a merge or a split moves where) are made in :mod:`faceatlas.people.edit`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from faceatlas.catalog.merge import NOBODY, merge_grouping
from faceatlas.errors import NoPeopleYet, UsageError

if TYPE_CHECKING:
    import sqlite3

    from faceatlas.catalog.store import FaceMatrix

NEW = "new"  # PeopleChange targets: ("new", K) is the K-th person the change creates
_PERSON_COLUMNS = ("id", "clustering_id", "rank", "size", "name", "number", "hidden", "face_set_id")
_FACE_COLUMNS = (
    "id", "image_id", "left", "top", "right", "bottom", "score", "landmarks", "embedding",
    "embedding_norm", "model", "face_set_id",
)  # fmt: skip
_BLOBS = {"landmarks", "embedding"}


def person_label(number: int, name: str | None = None) -> str:
    """What a person is called in folders and listings: the name, else ``person_NNNN``."""
    return name or f"person_{number:04d}"


@dataclass(slots=True)
class PersonRow:
    """One person: id, rank by size (1 = largest), name, size, stable number, hidden or not."""

    person_id: int
    rank: int
    name: str | None
    size: int
    number: int | None = None  # None only for rows built by hand: the rank stands in
    hidden: bool = False

    @property
    def label(self) -> str:
        return person_label(self.rank if self.number is None else self.number, self.name)


@dataclass(slots=True)
class PeopleState:
    """Every face of the face set with its person (-1: none), pinned flag and photo, by face id;
    the kept people (named or hidden) and the rejections, as ``save_clustering`` needs them."""

    face_ids: np.ndarray
    image_ids: np.ndarray
    person: np.ndarray
    pinned: np.ndarray
    kept: set[int]
    rejected: set[tuple[int, int]]


@dataclass(slots=True)
class PeopleChange:
    """One user correction, as ``Catalog.apply_change`` applies it.

    ``assign``: face id -> (person id, ``(NEW, K)`` or None for nobody, pinned); ``new_people``:
    names (or None) of the people the change creates, numbered in this order; ``rename`` and
    ``hide``: person id -> new name / hidden flag; ``reject`` / ``unreject``: (face id, person id
    or ``(NEW, K)``) pairs; ``forget``: faces to delete (not faces); ``drop``: people to delete;
    ``references``: face id -> the known name its reference photo gave (None: no longer a
    reference). People the change leaves empty are deleted unless named or hidden.
    """

    kind: str
    detail: dict
    assign: dict[int, tuple[int | tuple[str, int] | None, bool]] = field(default_factory=dict)
    new_people: list[str | None] = field(default_factory=list)
    rename: dict[int, str | None] = field(default_factory=dict)
    hide: dict[int, bool] = field(default_factory=dict)
    reject: list[tuple[int, int | tuple[str, int]]] = field(default_factory=list)
    unreject: list[tuple[int, int]] = field(default_factory=list)
    forget: list[int] = field(default_factory=list)
    drop: list[int] = field(default_factory=list)
    references: dict[int, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class ChangeRow:
    """A recorded change: id, when, kind, what it did (``detail``), undone when (or None)."""

    change_id: int
    at: str
    kind: str
    detail: dict
    undone_at: str | None


class PeopleStore:
    """The people half of ``Catalog`` (mixed into it): every people query lives here."""

    _conn: sqlite3.Connection

    # -- grouping ------------------------------------------------------------------------------

    def save_clustering(
        self, method: str, params: dict, face_ids: np.ndarray, labels: np.ndarray
    ) -> int:
        """Store a grouping (``labels``, one per face id; -1 = no person) as the face set's
        people, merged with the people it has (see :mod:`faceatlas.catalog.merge`).

        A group that overlaps an existing person most becomes that person (its id, number and
        name); other groups become new people, numbered after every number used so far, largest
        first. The user's corrections win over the labels. Faces of the set not in ``face_ids``
        are proposed to nobody. Returns the clustering id.
        """
        face_ids = np.asarray(face_ids, dtype=np.int64)
        labels = np.asarray(labels, dtype=np.int64)
        if face_ids.shape != labels.shape:
            raise ValueError("face_ids and labels must have the same length")
        set_id = self._writing_set()
        with self.atomic():
            state = self.people_state()
            proposed = np.full(len(state.face_ids), -1, np.int64)
            if len(state.face_ids):
                last = len(state.face_ids) - 1
                rows = np.minimum(np.searchsorted(state.face_ids, face_ids), last)
                known = state.face_ids[rows] == face_ids
                proposed[rows[known]] = labels[known]
            stays = state.pinned | np.isin(state.person, list(state.kept))
            merged = merge_grouping(
                proposed, state.person, stays, state.image_ids, state.face_ids, state.rejected
            )
            clustering_id = self._new_clustering(set_id, method, params)
            new_ids = self._create_people(set_id, clustering_id, [None] * merged.new_people)
            target = merged.person.copy()
            has_new = merged.new >= 0
            if has_new.any():
                target[has_new] = np.asarray(new_ids, np.int64)[merged.new[has_new]]
            changed = target != state.person
            gone = changed & (target == NOBODY)
            self._conn.executemany(
                "DELETE FROM assignments WHERE face_id = ?",
                [(int(f),) for f in state.face_ids[gone]],
            )
            moved = changed & (target != NOBODY)
            self._conn.executemany(
                "INSERT OR REPLACE INTO assignments(face_id, person_id, pinned) VALUES (?, ?, ?)",
                [
                    (int(f), int(p), int(pin))
                    for f, p, pin in zip(
                        state.face_ids[moved], target[moved], state.pinned[moved], strict=True
                    )
                ],
            )
            self._conn.execute(
                "DELETE FROM people WHERE face_set_id = ? AND name IS NULL AND hidden = 0"
                " AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = people.id)",
                (set_id,),
            )
            self._refresh_people(set_id)
        return clustering_id

    def _new_clustering(self, set_id: int, method: str, params: dict) -> int:
        """A clustering row for the set; every person of the set points at it, older ones go."""
        last = self._conn.execute(
            "SELECT COALESCE(max(id), 0) FROM faces WHERE face_set_id = ?", (set_id,)
        ).fetchone()[0]
        clustering_id = self._conn.execute(
            "INSERT INTO clusterings(method, params, created_at, face_set_id, last_face_id)"
            " VALUES (?, ?, ?, ?, ?)",
            (method, json.dumps(params, sort_keys=True), _now(), set_id, last),
        ).lastrowid
        self._conn.execute(
            "UPDATE people SET clustering_id = ? WHERE face_set_id = ?", (clustering_id, set_id)
        )
        self._conn.execute(
            "DELETE FROM clusterings WHERE face_set_id = ? AND id != ?", (set_id, clustering_id)
        )
        return clustering_id

    def _create_people(
        self, set_id: int, clustering_id: int, names: Sequence[str | None]
    ) -> list[int]:
        """New people (empty) with the set's next numbers, in order; their ids."""
        if not names:
            return []
        first = self._conn.execute(
            "SELECT next_person FROM face_sets WHERE id = ?", (set_id,)
        ).fetchone()[0]
        ids = [
            self._conn.execute(
                "INSERT INTO people(clustering_id, rank, size, name, number, face_set_id)"
                " VALUES (?, 0, 0, ?, ?, ?)",
                (clustering_id, name, first + i, set_id),
            ).lastrowid
            for i, name in enumerate(names)
        ]
        self._conn.execute(
            "UPDATE face_sets SET next_person = ? WHERE id = ?", (first + len(names), set_id)
        )
        return ids

    def _refresh_people(self, set_id: int) -> None:
        """Sizes from the assignments for the set's people (ranks are computed when read)."""
        self._conn.execute(
            "UPDATE people SET size = (SELECT count(*) FROM assignments a"
            " WHERE a.person_id = people.id) WHERE face_set_id = ?",
            (set_id,),
        )

    def extend_people(
        self, method: str, params: dict, joins: dict[int, int], groups: Sequence[Sequence[int]]
    ) -> list[int]:
        """Add faces that belong to nobody to people: ``joins`` (face id -> person id) and
        ``groups`` (each a new person, numbered in this order). Nothing else moves, so the cost
        is that of the new faces. A join that breaks a rule (the person rejected the face, or
        holds a face of its photo) is refused with ``UsageError``; ``params`` replace the
        current clustering's, whose ``last_face_id`` becomes the newest face. Returns the new
        people's ids."""
        set_id = self._writing_set()
        with self.atomic():
            clustering = self.clustering()
            if clustering is None:
                raise NoPeopleYet()
            for face, pid in joins.items():
                broken = self._conn.execute(
                    "SELECT 1 FROM rejections WHERE face_id = ? AND person_id = ? UNION ALL"
                    " SELECT 1 FROM assignments a JOIN faces f ON f.id = a.face_id"
                    " WHERE a.person_id = ? AND f.image_id = (SELECT image_id FROM faces"
                    " WHERE id = ?) LIMIT 1",
                    (face, pid, pid, face),
                ).fetchone()
                if broken:
                    raise UsageError(f"face {face} cannot join person {pid}: a rule forbids it")
            last = self._conn.execute(
                "SELECT COALESCE(max(id), 0) FROM faces WHERE face_set_id = ?", (set_id,)
            ).fetchone()[0]
            self._conn.execute(
                "UPDATE clusterings SET params = ?, created_at = ?, last_face_id = ? WHERE id = ?",
                (json.dumps(params, sort_keys=True), _now(), last, clustering["id"]),
            )
            created = self._create_people(set_id, clustering["id"], [None] * len(groups))
            rows = [(int(f), int(p)) for f, p in joins.items()]
            rows += [(int(f), pid) for pid, faces in zip(created, groups, strict=True)
                     for f in faces]  # fmt: skip
            self._conn.executemany(
                "INSERT INTO assignments(face_id, person_id) VALUES (?, ?)", rows
            )
            touched = sorted({p for _, p in rows})
            for chunk, marks in self._chunks(touched):
                self._conn.execute(
                    "UPDATE people SET size = (SELECT count(*) FROM assignments a"
                    f" WHERE a.person_id = people.id) WHERE id IN ({marks})",
                    chunk,
                )
        return created

    def tidy_people(self) -> bool:
        """After faces left the catalog (a photo removed or changed): people's sizes counted
        again and unnamed people left empty deleted. Cheap when nothing changed (two counts);
        returns whether anything did."""
        set_id = self._writing_set()
        total = self._conn.execute(
            "SELECT total(size) FROM people WHERE face_set_id = ?", (set_id,)
        ).fetchone()[0]
        held = self._conn.execute(
            "SELECT count(*) FROM assignments a JOIN people p ON p.id = a.person_id"
            " WHERE p.face_set_id = ?",
            (set_id,),
        ).fetchone()[0]
        if int(total) == held:
            return False
        with self.atomic():
            self._refresh_people(set_id)
            self._conn.execute(
                "DELETE FROM people WHERE face_set_id = ? AND name IS NULL AND hidden = 0"
                " AND size = 0",
                (set_id,),
            )
        return True

    def grouped_faces(self) -> tuple[FaceMatrix, np.ndarray]:
        """The face set's embeddings by face id with each face's person (-1: none), one pass."""
        from faceatlas.catalog.store import _to_matrix  # store imports this module

        rows = self._conn.execute(
            "SELECT f.id, f.image_id, f.embedding, COALESCE(a.person_id, -1) FROM faces f"
            " LEFT JOIN assignments a ON a.face_id = f.id WHERE f.face_set_id = ?"
            " ORDER BY f.id",
            (self._set_id,),
        ).fetchall()
        person = np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))
        return _to_matrix([r[:3] for r in rows]), person

    def person_photos(self, person_ids: Iterable[int]) -> set[tuple[int, int]]:
        """(person id, image id) of every photo the given people hold a face in."""
        found: set[tuple[int, int]] = set()
        for chunk, marks in self._chunks(sorted({int(p) for p in person_ids})):
            found.update(
                self._conn.execute(
                    "SELECT a.person_id, f.image_id FROM assignments a"
                    f" JOIN faces f ON f.id = a.face_id WHERE a.person_id IN ({marks})",
                    chunk,
                )
            )
        return found

    def rejected_pairs(self, face_ids: Iterable[int]) -> set[tuple[int, int]]:
        """(face id, person id) of the rejections of the given faces."""
        found: set[tuple[int, int]] = set()
        for chunk, marks in self._chunks(sorted({int(f) for f in face_ids})):
            found.update(
                self._conn.execute(
                    f"SELECT face_id, person_id FROM rejections WHERE face_id IN ({marks})",
                    chunk,
                )
            )
        return found

    def people_state(self) -> PeopleState:
        """The face set's faces with their people, pins, kept people and rejections."""
        rows = self._conn.execute(
            "SELECT f.id, f.image_id, COALESCE(a.person_id, -1), COALESCE(a.pinned, 0)"
            " FROM faces f LEFT JOIN assignments a ON a.face_id = f.id"
            " WHERE f.face_set_id = ? ORDER BY f.id",
            (self._set_id,),
        ).fetchall()
        arr = np.array(rows, dtype=np.int64).reshape(-1, 4)
        kept = {
            pid
            for (pid,) in self._conn.execute(
                "SELECT id FROM people WHERE face_set_id = ? AND (name IS NOT NULL OR hidden)",
                (self._set_id,),
            )
        }
        rejected = {
            (f, p)
            for f, p in self._conn.execute(
                "SELECT r.face_id, r.person_id FROM rejections r"
                " JOIN people p ON p.id = r.person_id WHERE p.face_set_id = ?",
                (self._set_id,),
            )
        }
        return PeopleState(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3].astype(bool), kept, rejected)

    def clustering(self) -> dict | None:
        """Method, parameters, time and ``last_face_id`` (the newest face it saw) of the face
        set's current clustering, or None."""
        row = self._conn.execute(
            "SELECT id, method, params, created_at, last_face_id FROM clusterings"
            " WHERE face_set_id = ? ORDER BY id DESC LIMIT 1",
            (self._set_id,),
        ).fetchone()
        if row is None:
            return None
        return {
            "id": row[0],
            "method": row[1],
            "params": json.loads(row[2]),
            "created_at": row[3],
            "last_face_id": row[4],
        }

    # -- reading people ------------------------------------------------------------------------

    def people(self, hidden: bool = True) -> list[PersonRow]:
        """The face set's people, largest first (``hidden=False``: without hidden people)."""
        sql = f"SELECT * FROM ({_RANKED})" + ("" if hidden else " WHERE hidden = 0")
        return [_person(row) for row in self._conn.execute(sql + " ORDER BY rank", (self._set_id,))]

    def person(self, person_id: int) -> PersonRow | None:
        """One person of the face set, or None."""
        row = self._conn.execute(
            f"SELECT * FROM ({_RANKED}) WHERE id = ?", (self._set_id, person_id)
        ).fetchone()
        return None if row is None else _person(row)

    def people_count(self) -> tuple[int, int]:
        """(people, people of one face) of the face set, counted by SQLite."""
        people, single = self._conn.execute(
            "SELECT count(*), total(size = 1) FROM people WHERE face_set_id = ?", (self._set_id,)
        ).fetchone()
        return int(people), int(single)

    def find_people(self, ref: str) -> list[PersonRow]:
        """People ``ref`` may mean: ``person_0007`` (number), an id, or a name (exact first,
        else ignoring case)."""
        sql = f"SELECT * FROM ({_RANKED}) WHERE 1"
        found: list[PersonRow] = []
        text = ref.strip()
        if text.lower().startswith("person_") and text[7:].isdigit():
            found += [
                _person(r)
                for r in self._conn.execute(sql + " AND number = ?", (self._set_id, int(text[7:])))
            ]
        if text.isdigit():
            found += [
                _person(r)
                for r in self._conn.execute(sql + " AND id = ?", (self._set_id, int(text)))
            ]
        named = [
            _person(r) for r in self._conn.execute(sql + " AND name = ?", (self._set_id, text))
        ]
        if not named:
            named = [
                _person(r)
                for r in self._conn.execute(
                    sql + " AND lower(name) = lower(?)", (self._set_id, text)
                )
            ]
        seen = {p.person_id for p in found}
        return found + [p for p in named if p.person_id not in seen]

    def person_faces(
        self, person_ids: Sequence[int], per_person: int | None = None
    ) -> dict[int, list[int]]:
        """Face ids of each person (the first ``per_person`` by face id, or all)."""
        found: dict[int, list[int]] = {}
        for chunk, marks in self._chunks([int(p) for p in person_ids]):
            sql = (
                "SELECT person_id, face_id FROM (SELECT person_id, face_id, ROW_NUMBER() OVER"
                " (PARTITION BY person_id ORDER BY face_id) AS n FROM assignments"
                f" WHERE person_id IN ({marks}))"
            )
            args: list[int] = list(chunk)
            if per_person is not None:
                sql += " WHERE n <= ?"
                args.append(per_person)
            for pid, fid in self._conn.execute(sql + " ORDER BY person_id, face_id", args):
                found.setdefault(pid, []).append(fid)
        return found

    def members(self, person_id: int) -> list[tuple[int, int, bool]]:
        """(face id, image id, pinned) of each face of a person, by face id."""
        return [
            (fid, image_id, bool(pinned))
            for fid, image_id, pinned in self._conn.execute(
                "SELECT a.face_id, f.image_id, a.pinned FROM assignments a"
                " JOIN faces f ON f.id = a.face_id WHERE a.person_id = ? ORDER BY a.face_id",
                (person_id,),
            )
        ]

    def placements(self, face_ids: Iterable[int]) -> dict[int, tuple[int, int | None, bool]]:
        """face id -> (image id, person id or None, pinned) for those of the face set."""
        found: dict[int, tuple[int, int | None, bool]] = {}
        for chunk, marks in self._chunks([int(f) for f in face_ids]):
            for fid, image_id, pid, pinned in self._conn.execute(
                "SELECT f.id, f.image_id, a.person_id, COALESCE(a.pinned, 0) FROM faces f"
                " LEFT JOIN assignments a ON a.face_id = f.id"
                f" WHERE f.face_set_id = ? AND f.id IN ({marks})",
                [self._set_id, *chunk],
            ):
                found[fid] = (image_id, pid, bool(pinned))
        return found

    def face_vectors(self, face_ids: Sequence[int]) -> FaceMatrix:
        """The unit embeddings of the given faces of the face set, by face id."""
        from faceatlas.catalog.store import _to_matrix  # store imports this module

        rows: list = []
        for chunk, marks in self._chunks(sorted({int(f) for f in face_ids})):
            rows += self._conn.execute(
                "SELECT id, image_id, embedding FROM faces"
                f" WHERE face_set_id = ? AND id IN ({marks}) ORDER BY id",
                [self._set_id, *chunk],
            ).fetchall()
        return _to_matrix(sorted(rows))

    def rejections(self, person_id: int | None = None) -> list[tuple[int, int]]:
        """(face id, person id) of every "not this person" of the face set (or of one person)."""
        sql = (
            "SELECT r.face_id, r.person_id FROM rejections r JOIN people p ON p.id = r.person_id"
            " WHERE p.face_set_id = ?"
        )
        args: list[int | None] = [self._set_id]
        if person_id is not None:
            sql += " AND p.id = ?"
            args.append(person_id)
        return list(self._conn.execute(sql + " ORDER BY r.face_id, r.person_id", args))

    def reference_faces(self, face_ids: Iterable[int] | None = None) -> dict[int, str]:
        """face id -> known name of the face set's reference faces (all, or among ``face_ids``)."""
        sql = (
            "SELECT r.face_id, r.name FROM reference_faces r JOIN faces f ON f.id = r.face_id"
            " WHERE f.face_set_id = ?"
        )
        if face_ids is None:
            return dict(self._conn.execute(sql, (self._set_id,)))
        found: dict[int, str] = {}
        for chunk, marks in self._chunks(sorted({int(f) for f in face_ids})):
            found.update(
                self._conn.execute(f"{sql} AND r.face_id IN ({marks})", [self._set_id, *chunk])
            )
        return found

    def dismissed_pairs(self) -> set[tuple[int, int]]:
        """(low, high) person ids of the face set's pairs the user said are two people."""
        return set(
            self._conn.execute(
                "SELECT d.low, d.high FROM dismissed_pairs d JOIN people p ON p.id = d.low"
                " WHERE p.face_set_id = ?",
                (self._set_id,),
            )
        )

    def dismiss_pair(self, first: int, second: int) -> None:
        """Record that two people of the face set are not one person (``UsageError`` when one
        is not a person of the set)."""
        self._writing_set()
        low, high = sorted((int(first), int(second)))
        if low == high or self.person(low) is None or self.person(high) is None:
            raise UsageError(f"no pair of people {low} and {high} in this face set")
        with self.atomic():
            self._conn.execute(
                "INSERT OR IGNORE INTO dismissed_pairs(low, high, at) VALUES (?, ?, ?)",
                (low, high, _now()),
            )

    def assignments(self) -> tuple[np.ndarray, np.ndarray]:
        """(face ids, person id or -1) of the face set's faces, by face id."""
        rows = self._conn.execute(
            "SELECT f.id, COALESCE(a.person_id, -1) FROM faces f"
            " LEFT JOIN assignments a ON a.face_id = f.id WHERE f.face_set_id = ? ORDER BY f.id",
            (self._set_id,),
        ).fetchall()
        arr = np.array(rows, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0], arr[:, 1]

    # -- the user's changes --------------------------------------------------------------------

    def apply_change(self, change: PeopleChange) -> list[int]:
        """Apply one correction in one transaction and record it for ``undo_change``.

        Returns the ids of the people it created, in ``change.new_people`` order.
        """
        set_id = self._writing_set()
        clustering = self.clustering()
        if clustering is None:
            raise NoPeopleYet()
        with self.atomic():
            faces = sorted(
                set(change.assign) | set(change.forget) | set(change.references)
                | {f for f, _ in change.reject} | {f for f, _ in change.unreject}
            )  # fmt: skip
            before = self._assignment_rows(faces)
            people = {p for p in (*change.rename, *change.hide, *change.drop)}
            people |= {p for _, p, _ in before}
            people |= {t for t, _ in change.assign.values() if isinstance(t, int)}
            people |= {p for _, p in change.reject if isinstance(p, int)}
            undo = {
                "faces": faces,
                "people": self._person_rows(sorted(people)),
                "assignments": [list(r) for r in before],
                "rejections": self._rejection_rows(faces),
                "references": self._reference_rows(faces),
                "forgotten": self._face_rows(change.forget),
            }
            created = self._create_people(set_id, clustering["id"], change.new_people)

            def resolve(target: int | tuple[str, int] | None) -> int | None:
                return created[target[1]] if isinstance(target, tuple) else target

            self._delete_ids("faces", change.forget)
            for fid, (target, pinned) in change.assign.items():
                pid = resolve(target)
                if pid is None:
                    self._conn.execute("DELETE FROM assignments WHERE face_id = ?", (fid,))
                else:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO assignments(face_id, person_id, pinned)"
                        " VALUES (?, ?, ?)",
                        (fid, pid, int(pinned)),
                    )
            now = _now()
            self._conn.executemany(
                "INSERT OR IGNORE INTO rejections(face_id, person_id, at) VALUES (?, ?, ?)",
                [(f, resolve(p), now) for f, p in change.reject],
            )
            self._conn.executemany(
                "DELETE FROM rejections WHERE face_id = ? AND person_id = ?", change.unreject
            )
            for fid, known in change.references.items():
                if known is None:
                    self._conn.execute("DELETE FROM reference_faces WHERE face_id = ?", (fid,))
                else:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO reference_faces(face_id, name, at)"
                        " VALUES (?, ?, ?)",
                        (fid, known, now),
                    )
            for pid, name in change.rename.items():
                self._conn.execute("UPDATE people SET name = ? WHERE id = ?", (name, pid))
            for pid, hidden in change.hide.items():
                self._conn.execute("UPDATE people SET hidden = ? WHERE id = ?", (int(hidden), pid))
            self._delete_ids("people", change.drop)
            self._drop_empty(sorted(people))
            self._refresh_people(set_id)
            undo["created"] = created
            self._conn.execute(
                "INSERT INTO changes(face_set_id, at, kind, detail, undo) VALUES (?, ?, ?, ?, ?)",
                (set_id, now, change.kind, json.dumps(change.detail), json.dumps(undo)),
            )
        return created

    def undo_change(self) -> ChangeRow:
        """Undo the face set's last change not undone yet; returns it (``UsageError`` when
        there is none). Faces, people, pins and rejections it touched are as they were before;
        people it created are deleted."""
        set_id = self._writing_set()
        with self.atomic():
            row = self._conn.execute(
                "SELECT id, at, kind, detail, undo FROM changes WHERE face_set_id = ?"
                " AND undone_at IS NULL ORDER BY id DESC LIMIT 1",
                (set_id,),
            ).fetchone()
            if row is None:
                raise UsageError("nothing to undo")
            undo = json.loads(row[4])
            clustering = self.clustering()
            for face in undo["forgotten"]:
                if not self._conn.execute(
                    "SELECT 1 FROM images WHERE id = ?", (face["image_id"],)
                ).fetchone():
                    raise UsageError(
                        f"cannot undo: the photo of face {face['id']} left the catalog"
                    )
                values = [
                    base64.b64decode(face[c]) if c in _BLOBS else face[c] for c in _FACE_COLUMNS
                ]
                self._conn.execute(
                    f"INSERT OR IGNORE INTO faces({', '.join(_FACE_COLUMNS)})"
                    f" VALUES ({', '.join('?' * len(_FACE_COLUMNS))})",
                    values,
                )
            for person in undo["people"]:
                person = dict(person, clustering_id=clustering["id"] if clustering else None)
                if self._conn.execute(
                    "SELECT 1 FROM people WHERE id = ?", (person["id"],)
                ).fetchone():
                    self._conn.execute(
                        "UPDATE people SET name = ?, hidden = ? WHERE id = ?",
                        (person["name"], person["hidden"], person["id"]),
                    )
                else:
                    self._conn.execute(
                        f"INSERT INTO people({', '.join(_PERSON_COLUMNS)})"
                        f" VALUES ({', '.join('?' * len(_PERSON_COLUMNS))})",
                        [person[c] for c in _PERSON_COLUMNS],
                    )
            self._delete_ids("assignments", undo["faces"], column="face_id")
            self._conn.executemany(
                "INSERT OR REPLACE INTO assignments(face_id, person_id, pinned)"
                " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)"
                " AND EXISTS (SELECT 1 FROM people WHERE id = ?)",
                [(f, p, pin, f, p) for f, p, pin in undo["assignments"]],
            )
            self._delete_ids("rejections", undo["faces"], column="face_id")
            self._conn.executemany(
                "INSERT OR IGNORE INTO rejections(face_id, person_id, at)"
                " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)"
                " AND EXISTS (SELECT 1 FROM people WHERE id = ?)",
                [(f, p, at, f, p) for f, p, at in undo["rejections"]],
            )
            if "references" in undo:  # changes recorded before references kept none
                self._delete_ids("reference_faces", undo["faces"], column="face_id")
                self._conn.executemany(
                    "INSERT OR IGNORE INTO reference_faces(face_id, name, at)"
                    " SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)",
                    [(f, name, at, f) for f, name, at in undo["references"]],
                )
            self._delete_ids("people", undo["created"])
            self._refresh_people(set_id)
            now = _now()
            self._conn.execute("UPDATE changes SET undone_at = ? WHERE id = ?", (now, row[0]))
        return ChangeRow(row[0], row[1], row[2], json.loads(row[3]), now)

    def changes(self, limit: int | None = None) -> list[ChangeRow]:
        """The face set's recorded changes, newest first."""
        sql = (
            "SELECT id, at, kind, detail, undone_at FROM changes WHERE face_set_id = ?"
            " ORDER BY id DESC"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [
            ChangeRow(i, at, kind, json.loads(detail), undone)
            for i, at, kind, detail, undone in self._conn.execute(sql, (self._set_id,))
        ]

    def _assignment_rows(self, face_ids: Sequence[int]) -> list[tuple[int, int, int]]:
        rows: list[tuple[int, int, int]] = []
        for chunk, marks in self._chunks(face_ids):
            rows += self._conn.execute(
                f"SELECT face_id, person_id, pinned FROM assignments WHERE face_id IN ({marks})",
                chunk,
            ).fetchall()
        return sorted(rows)

    def _rejection_rows(self, face_ids: Sequence[int]) -> list[list]:
        rows: list[list] = []
        for chunk, marks in self._chunks(face_ids):
            rows += [
                list(r)
                for r in self._conn.execute(
                    f"SELECT face_id, person_id, at FROM rejections WHERE face_id IN ({marks})",
                    chunk,
                )
            ]
        return rows

    def _reference_rows(self, face_ids: Sequence[int]) -> list[list]:
        rows: list[list] = []
        for chunk, marks in self._chunks(face_ids):
            rows += [
                list(r)
                for r in self._conn.execute(
                    f"SELECT face_id, name, at FROM reference_faces WHERE face_id IN ({marks})",
                    chunk,
                )
            ]
        return rows

    def _person_rows(self, person_ids: Sequence[int]) -> list[dict]:
        rows: list[dict] = []
        for chunk, marks in self._chunks(person_ids):
            rows += [
                dict(zip(_PERSON_COLUMNS, r, strict=True))
                for r in self._conn.execute(
                    f"SELECT {', '.join(_PERSON_COLUMNS)} FROM people WHERE id IN ({marks})",
                    chunk,
                )
            ]
        return rows

    def _face_rows(self, face_ids: Sequence[int]) -> list[dict]:
        rows: list[dict] = []
        for chunk, marks in self._chunks(face_ids):
            for r in self._conn.execute(
                f"SELECT {', '.join(_FACE_COLUMNS)} FROM faces WHERE id IN ({marks})", chunk
            ):
                face = dict(zip(_FACE_COLUMNS, r, strict=True))
                for column in _BLOBS:
                    face[column] = base64.b64encode(face[column]).decode("ascii")
                rows.append(face)
        return rows

    def _delete_ids(self, table: str, ids: Sequence[int], column: str = "id") -> None:
        for chunk, marks in self._chunks(list(ids)):
            self._conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)

    def _drop_empty(self, person_ids: Sequence[int]) -> None:
        """Delete those of ``person_ids`` left without faces, unless named or hidden."""
        for chunk, marks in self._chunks(list(person_ids)):
            self._conn.execute(
                f"DELETE FROM people WHERE id IN ({marks}) AND name IS NULL AND hidden = 0"
                " AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.person_id = people.id)",
                chunk,
            )


_RANKED = (  # the set's people with their rank by size (then number); binds the face set id
    "SELECT id, ROW_NUMBER() OVER (ORDER BY size DESC, number) AS rank, name, size, number,"
    " hidden FROM people WHERE face_set_id = ?"
)


def _person(row: tuple) -> PersonRow:
    pid, rank, name, size, number, hidden = row
    return PersonRow(pid, rank, name, size, number, bool(hidden))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
