"""A whole audit in one call: what ``faceatlas audit`` does.

    from faceatlas.outputs.audit import audit_dataset

    audit = audit_dataset("lfw/", "lfw-audit/", "lfw.db")
    print(audit.summary()["mislabeled"], "possibly mislabeled; see", audit.written["report.html"])
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, IndexSummary
from faceatlas.outputs.audit.analysis import AuditConfig, AuditResult, run_audit
from faceatlas.outputs.audit.dataset import (
    Dataset,
    DatasetFaces,
    file_digests,
    index_dataset,
    load_faces,
    scan_dataset,
)
from faceatlas.outputs.audit.quarantine import QuarantineSummary, quarantine
from faceatlas.outputs.audit.write import write_audit
from faceatlas.progress import Laps

AUDIT_CATALOG = "faceatlas.db"


@dataclass(slots=True)
class AuditRun:
    """What ``audit_dataset`` did: the findings, the files written, and the time of each step."""

    dataset: Dataset
    result: AuditResult
    written: dict[str, Path]  # file name -> path, as ``write_audit`` returns it
    indexed: IndexSummary | None  # None: indexing was not asked for
    quarantined: QuarantineSummary | None  # None: nothing was to be moved
    seconds: dict[str, float] = field(default_factory=dict)  # step -> seconds

    def summary(self) -> dict[str, Any]:
        """``AuditResult.summary()``, plus ``quarantined`` and ``quarantine_log`` if moved."""
        numbers = self.result.summary()
        if self.quarantined is not None:
            numbers["quarantined"] = self.quarantined.moved
            numbers["quarantine_log"] = str(self.quarantined.log)
        return numbers


def read_faces(
    catalog: Catalog,
    dataset: Dataset,
    index_config: IndexConfig | None,
    index: bool,
    show_progress: bool,
    lap: Laps,
) -> tuple[IndexSummary | None, DatasetFaces]:
    """The dataset's faces from ``catalog``, after indexing the images it lacks (``index``);
    the steps timed as "index" and "load_faces". Shared by the audit and ``clean``."""
    indexed = None
    if index:
        indexed = index_dataset(catalog, dataset, index_config, show_progress=show_progress)
    lap("index")
    faces = load_faces(catalog, dataset)
    lap("load_faces")
    return indexed, faces


def audit_dataset(
    dataset: str | Path | Dataset,
    out: str | Path,
    catalog: Catalog | str | Path | None = None,
    config: AuditConfig | None = None,
    index_config: IndexConfig | None = None,
    *,
    index: bool = True,
    top: int = 50,
    quarantine_to: str | Path | None = None,
    show_progress: bool = False,
) -> AuditRun:
    """Audit ``dataset`` (a ``ROOT/<identity>/<image>`` folder, or a scanned ``Dataset``) and
    write the CSV files, ``summary.json`` and ``report.html`` into ``out``.

    ``catalog``: a ``Catalog``, or the path of one (default ``out/faceatlas.db``), opened and
    closed here. With ``index`` the images it lacks are indexed first (``index_config``);
    without, they are reported as missing. ``top``: findings of each kind in the report.
    ``quarantine_to``: move the mislabeled images and repeated copies there (see
    ``quarantine``); nothing is moved otherwise.
    """
    config = config or AuditConfig()
    out = Path(out)
    lap = Laps()

    if not isinstance(dataset, Dataset):
        dataset = scan_dataset(dataset, exclude=[out])
    lap("scan")
    if not isinstance(catalog, Catalog):
        catalog = Catalog(catalog or out / AUDIT_CATALOG)
        opened = catalog  # closed below
    else:
        opened = nullcontext()
    with opened:
        indexed, faces = read_faces(catalog, dataset, index_config, index, show_progress, lap)
    digests = file_digests(dataset.paths)
    lap("hash_files")
    result = run_audit(dataset, faces, digests, config)
    lap("analysis")
    written = write_audit(result, out, top=top)
    lap("write")
    moved = None if quarantine_to is None else quarantine(result, quarantine_to)
    lap("quarantine")
    return AuditRun(dataset, result, written, indexed, moved, lap.seconds)
