"""Write one folder per person, an ``unknown`` folder and ``manifest.csv``.

Originals are never touched: folders hold symlinks (default), hard links or copies. Images that
live inside a container (a TSV row, an archive member) are written out as files; a face tracked
through a video is its still (the frame the track keeps) written as a JPEG named after the video
and the time, e.g. ``clip.mp4_t=12.50.jpg``, and the manifest gains the columns ``video``,
``start`` and ``end`` (the track's span in seconds; empty for photos). Export is
idempotent: the files a previous export listed in its manifest are removed first, and nothing
else in OUT is ever deleted. After ``cluster --per-segment`` the folders are
``OUT/<segment>/<person>/`` (and ``OUT/<segment>/unknown/``).
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from faceatlas.atomic import atomic_write
from faceatlas.catalog import Catalog
from faceatlas.catalog.store import ExportRow, TrackSpan
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.sources import IMAGE_SUFFIXES, read_source
from faceatlas.video import split_still_key

MANIFEST = "manifest.csv"
UNKNOWN = "unknown"
NO_SEGMENT = "no_segment"
MODES = ("symlink", "hardlink", "copy")
COLUMNS = ["image", "face_id", "box", "person", "file"]
VIDEO_COLUMNS = ["video", "start", "end"]  # added when the export holds faces from videos


@dataclass(slots=True)
class ExportSummary:
    people: int
    faces: int
    unknown_faces: int
    files: int


def export_people(
    catalog: Catalog, out: str | Path, mode: str = "symlink", min_faces: int = 2
) -> ExportSummary:
    """Export the current clustering of ``catalog`` into ``out``.

    Raises ``NoPeopleYet`` when the catalog's face set has not been grouped.
    """
    check_export_settings(mode, min_faces)
    if catalog.clustering() is None:
        raise NoPeopleYet()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out)
    rows, folder_of, sources, file_of = _layout(catalog, min_faces)
    _remove_previous_export(out)
    _rename_folders(out, _renames(previous, folder_of))
    written: set[str] = set()
    manifest_rows = []
    spans = catalog.track_spans(row.face_id for row in rows)
    for row in rows:
        relative = file_of[row.face_id]
        if relative not in written:
            if row.image_path in sources:
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(read_source(row.image_path, sources[row.image_path]))
            else:
                _place(Path(row.image_path), out / relative, mode)
            written.add(relative)
        manifest_rows.append(
            [
                row.image_path,
                row.face_id,
                ",".join(map(str, row.box)),
                folder_of[row.face_id],
                relative,
                *_video_columns(row.image_path, spans.get(row.face_id)),
            ]
        )
    if not spans:
        manifest_rows = [r[: len(COLUMNS)] for r in manifest_rows]
    _write_manifest(out / MANIFEST, manifest_rows, COLUMNS + (VIDEO_COLUMNS if spans else []))
    people = {f for f in folder_of.values() if f.rsplit("/", 1)[-1] != UNKNOWN}
    unknown = sum(1 for f in folder_of.values() if f.rsplit("/", 1)[-1] == UNKNOWN)
    return ExportSummary(
        people=len(people), faces=len(rows), unknown_faces=unknown, files=len(written)
    )


@dataclass(slots=True)
class ExportPlan:
    """What an export would do to OUT (``plan_export``), relative to OUT: files it would add
    and remove, and person folders it would rename (old, new)."""

    added: list[str]
    removed: list[str]
    renamed: list[tuple[str, str]]
    people: int  # person folders it would hold

    def describe(self) -> list[str]:
        """One line per change, then a count."""
        lines = [f"rename {old}/ -> {new}/" for old, new in self.renamed]
        lines += [f"add    {name}" for name in self.added]
        lines += [f"remove {name}" for name in self.removed]
        lines.append(
            f"{len(self.added)} files to add, {len(self.removed)} to remove, "
            f"{len(self.renamed)} folders to rename; {self.people} person folders"
        )
        return lines


def plan_export(catalog: Catalog, out: str | Path, min_faces: int = 2) -> ExportPlan:
    """What ``export_people`` would add, remove and rename in ``out``; touches nothing."""
    check_export_settings("symlink", min_faces)
    if catalog.clustering() is None:
        raise NoPeopleYet()
    out = Path(out)
    previous = _read_manifest(out)
    _, folder_of, _, file_of = _layout(catalog, min_faces)
    before = {row["file"] for row in previous if row.get("file")}
    after = set(file_of.values())
    renamed = _renames(previous, folder_of)
    moving = {  # files that only follow their renamed folder are not listed one by one
        (f"{old}/{name}", f"{new}/{name}")
        for old, new in renamed
        for name in {f.rsplit("/", 1)[-1] for f in before if f.startswith(old + "/")}
    }
    moving = {(a, b) for a, b in moving if a in before - after and b in after - before}
    people = {f for f in folder_of.values() if f.rsplit("/", 1)[-1] != UNKNOWN}
    return ExportPlan(
        sorted(after - before - {b for _, b in moving}),
        sorted(before - after - {a for a, _ in moving}),
        renamed,
        len(people),
    )


def _layout(
    catalog: Catalog, min_faces: int
) -> tuple[list[ExportRow], dict[int, str], dict[str, str], dict[int, str]]:
    """(rows, folder per face, container sources, file per face) of the current people.

    Folders take the person's name made safe for the file system (unique: a clash gains the
    person's label), or ``person_NNNN``; faces of people smaller than ``min_faces`` go to
    ``unknown``; hidden people's faces go nowhere.
    """
    rows = [row for row in catalog.export_rows() if not row.hidden]
    names: dict[int, str] = {}
    taken = {UNKNOWN, MANIFEST}
    for row in sorted(rows, key=lambda r: (r.person is None or r.person.startswith("person_"),
                                           r.person_id or 0)):  # fmt: skip
        if row.person is None or row.person_id in names or row.person_size < min_faces:
            continue
        name = _safe_name(row.person)
        if name.lower() in taken:
            name = f"{name} ({row.person_id})"
        names[row.person_id] = name
        taken.add(name.lower())
    folder_of = {
        row.face_id: names.get(row.person_id, UNKNOWN) if row.person is not None else UNKNOWN
        for row in rows
    }
    origin = catalog.image_sources(row.image_path for row in rows)  # path -> (segment, source)
    clustering = catalog.clustering()
    if clustering and clustering["params"].get("per_segment"):
        for row in rows:
            segment = _safe_name(origin[row.image_path][0] or NO_SEGMENT)
            folder_of[row.face_id] = f"{segment}/{folder_of[row.face_id]}"
    sources = {path: source for path, (_, source) in origin.items() if source is not None}
    return rows, folder_of, sources, _file_names(rows, folder_of, sources)


def _read_manifest(out: Path) -> list[dict]:
    """The rows of the manifest a previous export left in ``out`` (none: [])."""
    manifest = out / MANIFEST
    if not manifest.is_file():
        return []
    with manifest.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        return list(csv.DictReader(handle))


def _renames(previous: list[dict], folder_of: dict[int, str]) -> list[tuple[str, str]]:
    """Person folders of the previous export that now have another name: (old, new) where
    most of the new folder's faces were in the old one, and neither name is in the other
    export."""
    old_of = {int(r["face_id"]): r["person"] for r in previous if r.get("face_id")}
    before, after = set(old_of.values()), set(folder_of.values())
    votes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for face_id, folder in folder_of.items():
        if face_id in old_of:
            votes[folder][old_of[face_id]] += 1
    pairs = []
    for new, counts in sorted(votes.items()):
        old = max(sorted(counts), key=counts.get)
        if (
            old != new and old not in after and new not in before
            and UNKNOWN not in (old.rsplit("/", 1)[-1], new.rsplit("/", 1)[-1])
        ):  # fmt: skip
            pairs.append((old, new))
    olds = [old for old, _ in pairs]
    return [(old, new) for old, new in pairs if olds.count(old) == 1]


def _rename_folders(out: Path, renames: list[tuple[str, str]]) -> None:
    """Rename what is left of each renamed person's old folder (the user's own files)."""
    for old, new in renames:
        source, target = out / old, out / new
        if source.is_dir() and not source.is_symlink() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)


def check_export_settings(mode: str, min_faces: int) -> None:
    """``UsageError`` for settings ``export_people`` cannot work with (check before long work)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of {MODES}")
    if min_faces < 1:
        raise UsageError(f"min_faces must be >= 1, got {min_faces}")


def _file_names(
    rows: list[ExportRow], folder_of: dict[int, str], sources: dict[str, str] | None = None
) -> dict[int, str]:
    """Relative output path per face: the original name, made unique within its folder."""
    sources = sources or {}
    images_in = defaultdict(set)
    for row in rows:
        images_in[folder_of[row.face_id]].add(row.image_path)
    names: dict[tuple[str, str], str] = {}
    for folder, paths in images_in.items():
        by_name = defaultdict(list)
        for path in paths:
            name = os.path.basename(path)
            if path in sources:  # a container key such as /data/a.tsv#17: a file name for it
                name = _safe_name(name.replace("#", "_"))
                if split_still_key(path) is not None:  # a video's frame, read as a JPEG
                    name += ".jpg"
                elif os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
                    name += _suffix(read_source(path, sources[path])[:16])
            by_name[name].append(path)
        for name, same in by_name.items():
            for path in same:
                if len(same) > 1:
                    stem, suffix = os.path.splitext(name)
                    tag = hashlib.sha1(path.encode()).hexdigest()[:8]
                    name_here = f"{stem}__{tag}{suffix}"
                else:
                    name_here = name
                names[(folder, path)] = f"{folder}/{name_here}"
    return {row.face_id: names[(folder_of[row.face_id], row.image_path)] for row in rows}


def _video_columns(path: str, span: TrackSpan | None) -> list[str]:
    """The manifest's video, start and end of a face tracked through a video (else empty)."""
    still = split_still_key(path)
    if still is None or span is None:
        return ["", "", ""]
    return [still[0], f"{span.start:.2f}", f"{span.end:.2f}"]


def _safe_name(name: str) -> str:
    """A single, harmless path component (no separators, never . or ..)."""
    name = name.replace("/", "_").replace("\\", "_").replace("\0", "_").strip()
    return name if name not in ("", ".", "..") else f"_{name}_"


def _suffix(head: bytes) -> str:
    """File suffix for encoded image bytes, from their signature."""
    for magic, suffix in (
        (b"\xff\xd8\xff", ".jpg"),
        (b"\x89PNG", ".png"),
        (b"GIF8", ".gif"),
        (b"BM", ".bmp"),
        (b"II*\x00", ".tif"),
        (b"MM\x00*", ".tif"),
    ):
        if head.startswith(magic):
            return suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return ".img"


def _place(source: Path, target: Path, mode: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "symlink":
        target.symlink_to(source.absolute())
    elif mode == "hardlink":
        os.link(source, target)
    else:
        shutil.copy2(source, target)


def _remove_previous_export(out: Path) -> None:
    manifest = out / MANIFEST
    if not manifest.is_file():
        return
    files = {row["file"] for row in _read_manifest(out) if row.get("file")}
    folders = set()
    root = os.path.normpath(out.absolute())
    for relative in files:
        target = Path(os.path.normpath(out.absolute() / relative))
        if not str(target).startswith(root + os.sep):
            continue  # never delete outside OUT, whatever the manifest says
        if target.is_symlink() or target.is_file():
            target.unlink()
        folders.add(target.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder != out and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    manifest.unlink()


def _write_manifest(path: Path, rows: list[list], columns: list[str]) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8",
                      errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
