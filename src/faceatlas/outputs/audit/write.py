"""Write an audit's findings: ranked CSV files, ``summary.json`` and ``report.html``."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

from faceatlas.outputs.audit.analysis import AuditResult, distance_of, duplicate_action
from faceatlas.outputs.audit.report import write_report

COLUMNS = {
    "suspect_pairs.csv": [
        "path_a",
        "path_b",
        "similarity",
        "folder_a",
        "folder_b",
        "distance",
    ],
    "mislabeled.csv": [
        "path",
        "folder",
        "suggested_folder",
        "score",
        "own_similarity",
        "own_match",
        "best_similarity",
        "best_match",
        "own_votes",
        "suggested_votes",
        "voters",
        "action",
        "suggest_above",
        "alone_in_folder",
    ],
    "outliers.csv": [
        "path",
        "folder",
        "score",
        "centroid_similarity",
        "nearest_similarity",
        "nearest",
        "cluster_size",
        "largest_cluster",
        "folder_faces",
        "no_majority",
        "action",
    ],
    "duplicates.csv": [
        "path_a",
        "path_b",
        "kind",
        "similarity",
        "folder_a",
        "folder_b",
        "same_folder",
        "action",
    ],
    "no_face.csv": ["path", "folder", "status", "reason"],
    "many_faces.csv": [
        "path",
        "folder",
        "faces",
        "chosen_face_id",
        "chosen_box",
        "support",
        "runner_up",
        "rule",
    ],
}


def _num(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def write_audit(result: AuditResult, out: str | Path, top: int = 50) -> dict[str, Path]:
    """Write every output file into ``out``; returns name -> path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ds = result.dataset
    path, folder = ds.paths, ds.folders
    written = {}

    def save(name: str, rows: Iterable[list]) -> None:
        target = out / name
        temporary = target.with_suffix(".csv.tmp")
        with temporary.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS[name])
            writer.writerows(rows)
        os.replace(temporary, target)
        written[name] = target

    save(
        "suspect_pairs.csv",
        (
            [
                path[p.a],
                path[p.b],
                _num(p.similarity),
                folder[p.a],
                folder[p.b],
                _num(distance_of(p.similarity)),
            ]
            for p in result.suspect_pairs
        ),
    )
    save(
        "mislabeled.csv",
        (
            [
                path[m.item],
                folder[m.item],
                m.suggested,
                _num(m.score),
                _num(m.own_similarity),
                path[m.own_match],
                _num(m.best_similarity),
                path[m.match],
                m.own_votes,
                m.suggested_votes,
                m.voters,
                m.action,
                _num(m.confidence),
                int(m.isolated),
            ]
            for m in result.mislabeled
        ),
    )
    save(
        "outliers.csv",
        (
            [
                path[o.item],
                folder[o.item],
                _num(o.score),
                _num(o.centroid_similarity),
                _num(o.nearest_similarity),
                path[o.nearest] if o.nearest >= 0 else "",
                o.cluster_size,
                o.largest_cluster,
                o.folder_faces,
                int(o.tie),
                o.action,
            ]
            for o in result.outliers
        ),
    )
    save(
        "duplicates.csv",
        (
            [
                path[d.a],
                path[d.b],
                d.kind,
                _num(d.similarity),
                folder[d.a],
                folder[d.b],
                int(folder[d.a] == folder[d.b]),
                duplicate_action(d.kind, folder[d.a] == folder[d.b]),
            ]
            for d in result.duplicates
        ),
    )
    save(
        "no_face.csv",
        (
            [path[i], folder[i], result.faces.status[i], result.faces.reason[i]]
            for i in result.no_face
        ),
    )
    save(
        "many_faces.csv",
        (
            [
                path[m.item],
                folder[m.item],
                m.faces,
                result.faces.rows[m.chosen].face_id,
                ",".join(map(str, result.faces.rows[m.chosen].box)),
                _num(m.support),
                _num(m.runner_up),
                m.rule,
            ]
            for m in result.many_faces
        ),
    )
    summary = out / "summary.json"
    summary.write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    written["summary.json"] = summary
    written["report.html"] = write_report(result, out, top=top)
    return written
