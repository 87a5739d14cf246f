"""Write one folder per person, an ``unknown`` folder and ``manifest.csv``.

Originals are never touched: folders hold symlinks (default), hard links or copies. Images that
live inside a container (a TSV row, an archive member) are written out as files. Export is
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
from faceatlas.catalog.store import ExportRow
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.sources import IMAGE_SUFFIXES, read_source

MANIFEST = "manifest.csv"
UNKNOWN = "unknown"
NO_SEGMENT = "no_segment"
MODES = ("symlink", "hardlink", "copy")
COLUMNS = ["image", "face_id", "box", "person", "file"]


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
    _remove_previous_export(out)
    rows = catalog.export_rows()
    folder_of = {
        row.face_id: row.person if row.person and row.person_size >= min_faces else UNKNOWN
        for row in rows
    }
    origin = catalog.image_sources(row.image_path for row in rows)  # path -> (segment, source)
    clustering = catalog.clustering()
    if clustering and clustering["params"].get("per_segment"):
        for row in rows:
            segment = _safe_name(origin[row.image_path][0] or NO_SEGMENT)
            folder_of[row.face_id] = f"{segment}/{folder_of[row.face_id]}"
    sources = {path: source for path, (_, source) in origin.items() if source is not None}
    file_of = _file_names(rows, folder_of, sources)
    written: set[str] = set()
    manifest_rows = []
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
            ]
        )
    _write_manifest(out / MANIFEST, manifest_rows)
    people = {f for f in folder_of.values() if f.rsplit("/", 1)[-1] != UNKNOWN}
    unknown = sum(1 for f in folder_of.values() if f.rsplit("/", 1)[-1] == UNKNOWN)
    return ExportSummary(
        people=len(people), faces=len(rows), unknown_faces=unknown, files=len(written)
    )


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
                if os.path.splitext(name)[1].lower() not in IMAGE_SUFFIXES:
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
    with manifest.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        files = {row["file"] for row in csv.DictReader(handle) if row.get("file")}
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


def _write_manifest(path: Path, rows: list[list]) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8",
                      errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
