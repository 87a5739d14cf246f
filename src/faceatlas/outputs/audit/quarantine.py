"""Move flagged images out of a dataset, with a log that puts them back.

Only ``quarantine`` moves files, and only when asked (``faceatlas audit --apply quarantine DIR``).
Each move is appended to ``DIR/quarantine_log.csv`` right after it happens, so the log is exact
even if the run is killed; ``undo_quarantine`` replays it backwards.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faceatlas.errors import UsageError
from faceatlas.outputs.audit.analysis import AuditResult

LOG = "quarantine_log.csv"
LOG_COLUMNS = ["original", "moved_to", "folder", "reason", "moved_at"]


@dataclass(slots=True)
class QuarantineSummary:
    moved: int
    log: Path


def flagged_for_quarantine(result: AuditResult) -> dict[int, str]:
    """item -> reason: mislabeled images, and later copies of a file repeated in one folder."""
    flagged: dict[int, str] = {}
    for m in result.mislabeled:
        looks = f"looks like {m.suggested}" if m.suggested else "unknown person"
        flagged[m.item] = f"mislabeled: {looks} (score {m.score:.3f})"
    folders = result.dataset.folders
    for d in result.duplicates:
        if d.kind == "same_file" and folders[d.a] == folders[d.b]:
            flagged.setdefault(d.b, f"exact copy of {result.dataset.paths[d.a]}")
    return flagged


def quarantine(result: AuditResult, target: str | Path) -> QuarantineSummary:
    """Move every flagged image to ``target/<folder>/<name>`` and log each move.

    Raises ``UsageError`` (a ``ValueError``), before moving anything, when ``target`` is inside
    the dataset or a destination file already exists.
    """
    target = Path(target).absolute()
    root = result.dataset.root
    if target == root or root in target.parents:
        raise UsageError(f"the quarantine folder must be outside the dataset: {target}")
    flagged = flagged_for_quarantine(result)
    plan = []
    for item, reason in sorted(flagged.items()):
        source = Path(result.dataset.paths[item])
        destination = target / source.relative_to(root)
        if destination.exists() or destination.is_symlink():
            raise UsageError(f"quarantine destination already exists: {destination}")
        plan.append((source, destination, result.dataset.folders[item], reason))
    target.mkdir(parents=True, exist_ok=True)
    log = target / LOG
    new_log = not log.exists()
    with log.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new_log:
            writer.writerow(LOG_COLUMNS)
        for source, destination, folder, reason in plan:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(source, destination)
            writer.writerow(
                [
                    source,
                    destination,
                    folder,
                    reason,
                    datetime.now(UTC).isoformat(timespec="seconds"),
                ]
            )
            handle.flush()
    return QuarantineSummary(moved=len(plan), log=log)


def undo_quarantine(target: str | Path) -> int:
    """Move every image listed in ``target/quarantine_log.csv`` back, newest move first.

    The log is then renamed ``quarantine_log.undone-<time>.csv``. Raises ``UsageError`` (a
    ``ValueError``), before moving anything, when there is no log or an original path is
    occupied again.
    """
    log = Path(target) / LOG
    if not log.is_file():
        raise UsageError(f"no quarantine log at {log}")
    with log.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        original = Path(row["original"])
        if original.exists() or original.is_symlink():
            raise UsageError(f"cannot restore, the original path is taken: {original}")
        if not (Path(row["moved_to"]).exists() or Path(row["moved_to"]).is_symlink()):
            raise UsageError(f"cannot restore, the quarantined file is gone: {row['moved_to']}")
    for row in reversed(rows):
        original = Path(row["original"])
        original.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(row["moved_to"], original)
        _remove_empty_parents(Path(row["moved_to"]).parent, Path(target))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    os.replace(log, log.with_name(f"quarantine_log.undone-{stamp}.csv"))
    return len(rows)


def _remove_empty_parents(folder: Path, stop: Path) -> None:
    stop = stop.absolute()
    folder = folder.absolute()
    while (
        folder != stop and stop in folder.parents and folder.is_dir() and not any(folder.iterdir())
    ):
        folder.rmdir()
        folder = folder.parent
