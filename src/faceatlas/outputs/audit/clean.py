"""Clean a labeled face dataset: per identity folder, keep the largest group of one person.

    from faceatlas.outputs.audit import clean_dataset

    run = clean_dataset("lfw/", "lfw-clean/", "lfw.db")
    print(run.plan.kept_count, "kept; left out:", run.written["removed.csv"])

Each folder's labeled faces (one per image, chosen as the audit chooses them) are grouped with the
people clustering of ``faceatlas cluster`` (``faceatlas.people.cluster.cluster_vectors``, its
automatic cut). The folder's largest group is kept when it has at least ``min_faces`` faces and
no other group is as large; everything else is listed in ``removed.csv`` with its reason:

- ``no face`` / ``unreadable`` / ``not indexed``: the image has no usable face;
- ``duplicate``: the same file (SHA-1), or a near-identical face, as a kept image of the folder;
- ``several faces``: the labeled face is in the group, but another face of the image looks like
  the folder's person too, so a training crop could take the wrong one;
- ``other person``: the audit calls the image mislabeled (its face is closer to another folder's
  than to its own, see ``analysis._mislabeled``), or its face groups with other faces of the folder
  outside the kept group (several photos of someone else). ``likely_folder`` names the folder it
  probably belongs to when the audit is confident, else it is empty (a person with no folder);
- ``outlier``: a single face outside the kept group that matches no other folder (an unusual
  photo of the person, or someone unknown);
- ``folder below minimum`` / ``no majority``: the folder is left out (its largest group has fewer
  than ``min_faces`` faces, or two groups tie).

The originals are never touched: ``OUT/<identity>/`` receives copies, hard links or symbolic links,
listed in ``OUT/kept.csv`` (a rerun removes exactly those first and nothing else), and
``OUT/folders.csv`` says what happened to each folder.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceatlas.atomic import atomic_write
from faceatlas.catalog import Catalog
from faceatlas.errors import CatalogMissing, UsageError
from faceatlas.index import IndexConfig, IndexSummary
from faceatlas.outputs.audit.analysis import AuditConfig, AuditResult, run_audit, similarity_of
from faceatlas.outputs.audit.dataset import (
    Dataset,
    file_digests,
    scan_dataset,
)
from faceatlas.outputs.audit.run import read_faces
from faceatlas.people.cluster import AUTO, cluster_vectors
from faceatlas.people.methods import DEFAULT_METHOD
from faceatlas.progress import Laps

CLEAN_CATALOG = "faceatlas.db"
KEPT, REMOVED, FOLDERS = "kept.csv", "removed.csv", "folders.csv"
MODES = ("copy", "hardlink", "symlink")

NO_FACE = "no face"
UNREADABLE = "unreadable"
NOT_INDEXED = "not indexed"
DUPLICATE = "duplicate"
SEVERAL_FACES = "several faces"
OTHER_PERSON = "other person"
OUTLIER = "outlier"
BELOW_MINIMUM = "folder below minimum"
NO_MAJORITY = "no majority"
REASONS = (
    OTHER_PERSON, OUTLIER, SEVERAL_FACES, DUPLICATE, NO_FACE, UNREADABLE, NOT_INDEXED,
    BELOW_MINIMUM, NO_MAJORITY,
)  # fmt: skip

COLUMNS = {
    KEPT: ["path", "folder", "file"],
    REMOVED: ["path", "folder", "reason", "likely_folder", "detail"],
    FOLDERS: ["folder", "images", "faces", "groups", "largest", "second", "kept", "status", "cut"],
}


@dataclass(frozen=True, slots=True)
class CleanConfig:
    """How to clean; validated once here."""

    min_faces: int = 5  # a folder's largest group must have this many faces to be kept
    mode: str = "copy"  # how OUT/<identity>/ refers to the originals: copy, hardlink, symlink
    method: str = DEFAULT_METHOD  # the people clustering method that groups a folder's faces
    threshold: float | str = AUTO  # its cut: "auto" (as `faceatlas cluster`) or a distance
    audit: AuditConfig = field(default_factory=AuditConfig)  # finds the "other person" photos

    def __post_init__(self) -> None:
        if self.min_faces < 1:
            raise UsageError(f"min_faces must be >= 1, got {self.min_faces}")
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}; choose one of {MODES}")
        if self.threshold != AUTO and not (
            isinstance(self.threshold, (int, float)) and 0 < self.threshold <= 2
        ):
            raise UsageError(
                f"threshold must be 'auto' or a distance in (0, 2], got {self.threshold!r}"
            )


@dataclass(slots=True)
class Removal:
    item: int  # index into the dataset
    reason: str  # one of REASONS
    likely_folder: str = ""  # other person: the folder it probably belongs to ("" unknown)
    detail: str = ""


@dataclass(slots=True)
class FolderOutcome:
    folder: str
    images: int
    faces: int  # labeled faces grouped (images with a face, duplicates left out)
    groups: int
    largest: int
    second: int
    kept: int  # images written to OUT/<folder>/
    status: str  # "kept", BELOW_MINIMUM or NO_MAJORITY
    cut: float | None  # the clustering's distance cut (None: not clustered)


@dataclass(slots=True)
class CleanPlan:
    """What cleaning keeps and leaves out; nothing is written yet."""

    audit: AuditResult
    kept: list[int]  # dataset items kept, in dataset order
    removed: list[Removal]  # in dataset order
    folders: list[FolderOutcome]  # by folder name
    min_faces: int

    @property
    def kept_count(self) -> int:
        return len(self.kept)

    def summary(self) -> dict:
        by_reason = {reason: 0 for reason in REASONS}
        for removal in self.removed:
            by_reason[removal.reason] += 1
        status = [f.status for f in self.folders]
        return {
            "images": len(self.audit.dataset),
            "folders": len(self.folders),
            "kept_images": len(self.kept),
            "kept_folders": status.count("kept"),
            "removed": len(self.removed),
            "removed_by_reason": by_reason,
            "folders_below_minimum": status.count(BELOW_MINIMUM),
            "folders_without_majority": status.count(NO_MAJORITY),
        }


@dataclass(slots=True)
class CleanRun:
    """What ``clean_dataset`` did (``written`` is empty on a dry run)."""

    dataset: Dataset
    plan: CleanPlan
    out: Path
    written: dict[str, Path]  # file name -> path: kept.csv, removed.csv, folders.csv
    indexed: IndexSummary | None  # None: indexing was not asked for
    dry_run: bool
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict:
        return {**self.plan.summary(), "dry_run": self.dry_run, "seconds": self.seconds}

    def target(self, item: int) -> Path:
        """Where a kept item is (or would be) written."""
        return self.out / _relative_target(self.dataset, item)


def clean_dataset(
    dataset: str | Path | Dataset,
    out: str | Path,
    catalog: Catalog | str | Path | None = None,
    config: CleanConfig | None = None,
    index_config: IndexConfig | None = None,
    *,
    index: bool = True,
    dry_run: bool = False,
    show_progress: bool = False,
) -> CleanRun:
    """Clean ``dataset`` (``ROOT/<identity>/<image>``) into ``out``; see the module docstring.

    ``catalog``: a ``Catalog``, or the path of one (default ``out/faceatlas.db``). With ``index``
    the images it lacks are indexed first (``index_config``). ``dry_run``: decide everything,
    write nothing, and leave the catalog file as it was (images it lacks are indexed into a
    temporary copy that is deleted afterwards).
    """
    config = config or CleanConfig()
    out = Path(out).absolute()
    lap = Laps()

    if not isinstance(dataset, Dataset):
        _check_places(Path(dataset).absolute(), out)
        dataset = scan_dataset(dataset, exclude=[out])
    else:
        _check_places(dataset.root, out)
    lap("scan")
    with _catalog_for(catalog, out, index, dry_run) as opened:
        indexed, faces = read_faces(opened, dataset, index_config, index, show_progress, lap)
    digests = file_digests(dataset.paths)
    lap("hash_files")
    plan = plan_clean(run_audit(dataset, faces, digests, config.audit), config)
    lap("plan")
    written: dict[str, Path] = {}
    if not dry_run:
        written = write_clean(plan, out, config.mode)
    else:
        _check_targets(plan, out)
    lap("write")
    return CleanRun(dataset, plan, out, written, indexed, dry_run, lap.seconds)


def _check_places(root: Path, out: Path) -> None:
    """``UsageError`` when OUT and the dataset overlap (originals must stay untouched)."""
    real_root, real_out = os.path.realpath(root), os.path.realpath(out)
    if real_out == real_root or real_out.startswith(real_root + os.sep):
        raise UsageError(f"OUT must be outside the dataset: {out} is inside {root}")
    if real_root.startswith(real_out + os.sep):
        raise UsageError(f"OUT must not contain the dataset: {root} is inside {out}")


@contextmanager
def _catalog_for(
    catalog: Catalog | str | Path | None, out: Path, index: bool, dry_run: bool
) -> Iterator[Catalog]:
    """The catalog to read and index into. A dry run never writes to the catalog's file: it
    reads it as is without ``index``, else works on a temporary copy (or a new temporary
    catalog), deleted afterwards."""
    if isinstance(catalog, Catalog) and not (dry_run and index):
        yield catalog
        return
    path = catalog.path if isinstance(catalog, Catalog) else catalog or out / CLEAN_CATALOG
    path = Path(path)
    if not dry_run:
        path.parent.mkdir(parents=True, exist_ok=True)
        with Catalog(path) as opened:
            yield opened
        return
    if not index:
        if not path.is_file():
            raise CatalogMissing(f"no catalog at {path}; a dry run without indexing needs one")
        with Catalog(path, read_only=True) as opened:
            yield opened
        return
    with tempfile.TemporaryDirectory(prefix="faceatlas-clean-") as tmp:
        copy = Path(tmp) / CLEAN_CATALOG
        if isinstance(catalog, Catalog):
            catalog.backup(copy)
        elif path.is_file():
            with Catalog(path, read_only=True) as existing:
                existing.backup(copy)
        with Catalog(copy) as opened:
            yield opened


def plan_clean(audit: AuditResult, config: CleanConfig | None = None) -> CleanPlan:
    """Decide, folder by folder, which images to keep and why the others are left out."""
    config = config or CleanConfig()
    dataset, faces = audit.dataset, audit.faces
    n = len(dataset)
    removed: dict[int, Removal] = {}
    for item in range(n):
        if audit.chosen[item] < 0:
            status = faces.status[item]
            reason = {"error": UNREADABLE, "missing": NOT_INDEXED}.get(status, NO_FACE)
            removed[item] = Removal(item, reason, detail=faces.reason[item])
    for item, first in _duplicates_within_folders(audit).items():
        if item not in removed:
            removed[item] = Removal(item, DUPLICATE, detail=f"same as {dataset.paths[first]}")
    mislabeled = {m.item: m for m in audit.mislabeled}
    runner_up = {m.item: m.runner_up for m in audit.many_faces}

    members: dict[str, list[int]] = {}
    for item, folder in enumerate(dataset.folders):
        members.setdefault(folder, []).append(item)
    outcomes, kept = [], []
    for folder in sorted(members):
        items = members[folder]
        grouped = [i for i in items if i not in removed]
        vectors = audit.faces.vectors[audit.chosen[grouped]] if grouped else None
        outcome = FolderOutcome(folder, len(items), len(grouped), 0, 0, 0, 0, BELOW_MINIMUM, None)
        outcomes.append(outcome)
        if len(grouped) < config.min_faces:
            _leave_out(
                removed, grouped, BELOW_MINIMUM, f"{len(grouped)} faces < {config.min_faces}"
            )
            continue
        labels, cut, _ = cluster_vectors(vectors, method=config.method, threshold=config.threshold)
        cut = config.audit.cluster_threshold if cut is None else float(cut)
        labels = _detach_unlinked(vectors, _singletons_numbered(labels), similarity_of(cut))
        sizes = np.bincount(labels)
        order = np.argsort(-sizes, kind="stable")
        outcome.cut = cut
        outcome.groups, outcome.largest = int((sizes > 0).sum()), int(sizes[order[0]])
        outcome.second = int(sizes[order[1]]) if len(sizes) > 1 else 0
        if outcome.largest < config.min_faces:
            _leave_out(
                removed, grouped, BELOW_MINIMUM,
                f"largest group {outcome.largest} < {config.min_faces}",
            )  # fmt: skip
            continue
        if outcome.second == outcome.largest:
            outcome.status = NO_MAJORITY
            _leave_out(removed, grouped, NO_MAJORITY, f"two groups of {outcome.largest} faces")
            continue
        outcome.status = "kept"
        link = similarity_of(cut)
        main = int(order[0])
        for row, item in enumerate(grouped):
            found = mislabeled.get(item)
            if labels[row] == main:
                if found is not None:
                    removed[item] = _other_person(item, found.suggested, found.best_similarity)
                elif runner_up.get(item, np.nan) >= link:
                    removed[item] = Removal(
                        item, SEVERAL_FACES,
                        detail=f"another face is as like the folder ({runner_up[item]:.3f})",
                    )  # fmt: skip
                else:
                    kept.append(item)
                    outcome.kept += 1
            elif found is not None:
                removed[item] = _other_person(item, found.suggested, found.best_similarity)
            elif sizes[labels[row]] >= 2:
                removed[item] = Removal(
                    item, OTHER_PERSON, detail=f"a group of {sizes[labels[row]]} other faces"
                )
            else:
                removed[item] = Removal(item, OUTLIER, detail="unlike the folder's group")
    kept.sort()
    removals = [removed[i] for i in sorted(removed)]
    return CleanPlan(audit, kept, removals, outcomes, config.min_faces)


def _other_person(item: int, likely: str, similarity: float) -> Removal:
    detail = f"looks like {likely} ({similarity:.3f})" if likely else "matches no folder"
    return Removal(item, OTHER_PERSON, likely, detail)


def _leave_out(removed: dict[int, Removal], items: list[int], reason: str, detail: str) -> None:
    for item in items:
        removed[item] = Removal(item, reason, detail=detail)


def _singletons_numbered(labels: np.ndarray) -> np.ndarray:
    """Labels with each "no person" face (-1) given a group of its own."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    alone = labels < 0
    base = int(labels.max()) + 1 if (~alone).any() else 0
    labels[alone] = base + np.arange(int(alone.sum()))
    return labels


def _detach_unlinked(vectors: np.ndarray, labels: np.ndarray, link: float) -> np.ndarray:
    """Labels with every face that has no other face of its group at ``link`` similarity or
    more given a group of its own: a group is faces joined by links within the cut, and a method
    may still place a face without any such link in one (Infomap puts the faces it has no
    link for into the only module it found)."""
    labels = labels.copy()
    step = max(1, (1 << 22) // max(1, len(vectors)))  # rows per block: <= 4 M similarities
    alone = np.zeros(len(vectors), bool)
    for start in range(0, len(vectors), step):
        block = slice(start, min(len(vectors), start + step))
        sims = vectors[block] @ vectors.T
        same = labels[block, None] == labels[None, :]
        same[np.arange(block.stop - block.start), np.arange(block.start, block.stop)] = False
        alone[block] = ~(same & (sims >= link)).any(axis=1)
    alone &= np.bincount(labels)[labels] > 1
    labels[alone] = int(labels.max()) + 1 + np.arange(int(alone.sum()))
    return labels


def _duplicates_within_folders(audit: AuditResult) -> dict[int, int]:
    """Later copy -> first copy, for the same file or a near-identical face within one folder."""
    folders = audit.dataset.folders
    parent = list(range(len(folders)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for pair in audit.duplicates:
        if folders[pair.a] == folders[pair.b]:
            a, b = root(pair.a), root(pair.b)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return {i: root(i) for i in range(len(folders)) if root(i) != i}


def _relative_target(dataset: Dataset, item: int) -> str:
    return f"{dataset.folders[item]}/{os.path.basename(dataset.paths[item])}"


def _check_targets(plan: CleanPlan, out: Path) -> set[str]:
    """The files a previous clean listed in ``kept.csv``; ``UsageError`` when a target is
    taken by anything else (OUT is not a folder this command wrote)."""
    previous = _previous_files(out)
    for item in plan.kept:
        relative = _relative_target(plan.audit.dataset, item)
        target = out / relative
        if relative not in previous and (target.exists() or target.is_symlink()):
            raise UsageError(
                f"{target} already exists and was not written by `faceatlas clean`; "
                "choose an empty OUT"
            )
    return previous


def _previous_files(out: Path) -> set[str]:
    manifest = out / KEPT
    if not manifest.is_file():
        return set()
    with manifest.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        return {row["file"] for row in csv.DictReader(handle) if row.get("file")}


def write_clean(plan: CleanPlan, out: str | Path, mode: str = "copy") -> dict[str, Path]:
    """Write the kept images into ``out/<identity>/`` and the three CSV files."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; choose one of {MODES}")
    out = Path(out).absolute()
    out.mkdir(parents=True, exist_ok=True)
    previous = _check_targets(plan, out)
    _remove_files(out, previous)
    dataset = plan.audit.dataset
    targets = [(item, _relative_target(dataset, item)) for item in plan.kept]
    written = {
        KEPT: _write_csv(
            out / KEPT,
            KEPT,
            ([dataset.paths[i], dataset.folders[i], rel] for i, rel in targets),
        )
    }  # listed before the files appear: a killed run is undone by the next one
    for item, relative in targets:
        _place(dataset.paths[item], dataset.real_paths[item], out / relative, mode)
    written[REMOVED] = _write_csv(
        out / REMOVED,
        REMOVED,
        (
            [dataset.paths[r.item], dataset.folders[r.item], r.reason, r.likely_folder, r.detail]
            for r in plan.removed
        ),
    )
    written[FOLDERS] = _write_csv(
        out / FOLDERS,
        FOLDERS,
        (
            [
                f.folder, f.images, f.faces, f.groups, f.largest, f.second, f.kept, f.status,
                "" if f.cut is None else f"{f.cut:.4f}",
            ]
            for f in plan.folders
        ),
    )  # fmt: skip
    return written


def _write_csv(path: Path, name: str, rows) -> Path:
    with atomic_write(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS[name])
        writer.writerows(rows)
    return path


def _place(found: str, real: str, target: Path, mode: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "symlink":
        target.symlink_to(real)
    elif mode == "hardlink":
        try:
            os.link(real, target)
        except OSError as err:
            if err.errno == getattr(os, "EXDEV", 18) or err.errno == 18:
                raise UsageError(
                    f"cannot hard-link {real} into {target.parent}: another file system; "
                    "use --mode copy or symlink"
                ) from err
            raise
    else:
        shutil.copy2(found, target)


def _remove_files(out: Path, files: set[str]) -> None:
    """Remove what the previous clean wrote (never anything outside OUT), then empty folders."""
    root = os.path.normpath(out)
    folders = set()
    for relative in files:
        target = Path(os.path.normpath(out / relative))
        if not str(target).startswith(root + os.sep):
            continue
        if target.is_symlink() or target.is_file():
            target.unlink()
        folders.add(target.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != out and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
