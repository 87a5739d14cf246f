"""Known identities for a catalog's faces, and scores of a clustering against them.

Labels come from the photo folders (``folder``: the identity is the parent folder name, the LFW
layout) or from a CSV file with columns ``path,identity`` (paths absolute or relative to the
file). A label names the person a photo is *of*: when a photo has several faces, only the face
whose box centre is nearest the image centre carries it; the others (background people) are left
out of the scores.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.errors import NoPeopleYet, UsageError
from faceatlas.metrics import ClusterScores, cluster_scores


@dataclass(slots=True)
class FaceLabels:
    """One known identity per labelled face."""

    face_ids: np.ndarray  # int64, sorted
    identities: np.ndarray  # str, row by row

    def __len__(self) -> int:
        return len(self.face_ids)


def folder_labels(catalog: Catalog) -> FaceLabels:
    """Identity = name of the folder holding the photo, for each photo's central face."""
    faces = catalog.central_faces()
    return FaceLabels(
        np.array([f for f, _ in faces], dtype=np.int64),
        np.array([Path(p).parent.name for _, p in faces], dtype=str),
    )


def file_labels(catalog: Catalog, path: str | Path) -> FaceLabels:
    """Identities from a CSV file ``path,identity`` (a header row is allowed and skipped)."""
    path = Path(path)
    base = path.resolve().parent
    by_path: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) < 2:
                raise UsageError(f"{path}:{n}: expected 'path,identity', got {row!r}")
            if n == 1 and row[0].strip().lower() == "path":
                continue
            photo = Path(row[0].strip())
            photo = photo if photo.is_absolute() else base / photo
            by_path[str(photo.resolve())] = row[1].strip()
    if not by_path:
        raise UsageError(f"{path}: no labels found")
    faces = [
        (f, by_path[str(Path(p).resolve())])
        for f, p in catalog.central_faces()
        if str(Path(p).resolve()) in by_path
    ]
    return FaceLabels(
        np.array([f for f, _ in faces], dtype=np.int64), np.array([i for _, i in faces], dtype=str)
    )


def load_labels(catalog: Catalog, spec: str | Path) -> FaceLabels:
    """``folder`` or the path of a labels CSV file."""
    labels = folder_labels(catalog) if str(spec) == "folder" else file_labels(catalog, spec)
    if len(labels) == 0:
        raise UsageError(f"no face of the catalog has a label from {spec}")
    return labels


def singletons_for_noise(labels: np.ndarray) -> np.ndarray:
    """Give every face labelled -1 ("no person") a person of its own, for scoring."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(int(noise.sum()))
    return labels


def score_labels(truth: FaceLabels, face_ids: np.ndarray, predicted: np.ndarray) -> ClusterScores:
    """Scores of ``predicted`` (one label per entry of ``face_ids``) on the labelled faces."""
    face_ids = np.asarray(face_ids)
    by_id = np.argsort(face_ids, kind="stable")
    pos = np.clip(np.searchsorted(face_ids[by_id], truth.face_ids), 0, len(face_ids) - 1)
    rows = by_id[pos]
    found = face_ids[rows] == truth.face_ids
    if not found.all():
        raise UsageError(f"{int((~found).sum())} labelled faces have no predicted label")
    return cluster_scores(truth.identities, singletons_for_noise(predicted)[rows])


def evaluate_catalog(catalog: Catalog, spec: str | Path) -> ClusterScores:
    """Scores of the catalog's current people against the labels ``spec`` names."""
    if catalog.clustering() is None:
        raise NoPeopleYet()
    face_ids, people = catalog.assignments()
    return score_labels(load_labels(catalog, spec), face_ids, people)
