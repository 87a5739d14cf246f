"""Write one folder per person, an ``unknown`` folder and ``manifest.csv``.

Originals are never touched: folders hold symlinks (default), hard links or copies. Export is
idempotent: the files a previous export listed in its manifest are removed first, and nothing
else in OUT is ever deleted.
"""

from __future__ import annotations

import csv
import hashlib
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import ExportRow

MANIFEST = "manifest.csv"
UNKNOWN = "unknown"
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
    """Export the current clustering of ``catalog`` into ``out``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {MODES}")
    if min_faces < 1:
        raise ValueError(f"min_faces must be >= 1, got {min_faces}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _remove_previous_export(out)
    rows = catalog.export_rows()
    folder_of = {
        row.face_id: row.person if row.person and row.person_size >= min_faces else UNKNOWN
        for row in rows
    }
    file_of = _file_names(rows, folder_of)
    written: set[str] = set()
    manifest_rows = []
    for row in rows:
        relative = file_of[row.face_id]
        if relative not in written:
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
    people = {f for f in folder_of.values() if f != UNKNOWN}
    unknown = sum(1 for f in folder_of.values() if f == UNKNOWN)
    return ExportSummary(
        people=len(people), faces=len(rows), unknown_faces=unknown, files=len(written)
    )


def _file_names(rows: list[ExportRow], folder_of: dict[int, str]) -> dict[int, str]:
    """Relative output path per face: the original name, made unique within its folder."""
    images_in = defaultdict(set)
    for row in rows:
        images_in[folder_of[row.face_id]].add(row.image_path)
    names: dict[tuple[str, str], str] = {}
    for folder, paths in images_in.items():
        by_name = defaultdict(list)
        for path in paths:
            by_name[os.path.basename(path)].append(path)
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
    with manifest.open(newline="", encoding="utf-8") as handle:
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
    temporary = path.with_suffix(".csv.tmp")
    with temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    os.replace(temporary, path)
