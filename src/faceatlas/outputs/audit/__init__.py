"""Audit a labeled face dataset (one folder per identity): mislabeled, outlier, duplicate and
faceless images, ranked, as CSV files and a self-contained HTML report.

``audit_dataset`` does it all in one call (what ``faceatlas audit`` runs); step by step,
``scan_dataset`` lists the images, ``index_dataset`` makes sure the catalog has their faces,
``run_audit`` does the analysis with blocked matrix products, ``write_audit`` writes the files.
``clean_dataset`` keeps each folder's largest group of one person (what ``faceatlas clean`` runs).
"""

from faceatlas.outputs.audit.analysis import AuditConfig, AuditResult, run_audit
from faceatlas.outputs.audit.clean import CleanConfig, CleanPlan, CleanRun, clean_dataset
from faceatlas.outputs.audit.dataset import Dataset, index_dataset, scan_dataset
from faceatlas.outputs.audit.quarantine import quarantine, undo_quarantine
from faceatlas.outputs.audit.run import AuditRun, audit_dataset
from faceatlas.outputs.audit.write import write_audit

__all__ = [
    "AuditConfig",
    "AuditResult",
    "AuditRun",
    "CleanConfig",
    "CleanPlan",
    "CleanRun",
    "Dataset",
    "audit_dataset",
    "clean_dataset",
    "index_dataset",
    "quarantine",
    "run_audit",
    "scan_dataset",
    "undo_quarantine",
    "write_audit",
]
