"""Made-up labelled datasets for fast audit and clean tests: no photos, only unit vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faceatlas.catalog.store import FaceRow
from faceatlas.outputs.audit import Dataset
from faceatlas.outputs.audit.dataset import DatasetFaces


def toy_dataset(
    layout: dict[str, list[str]], seed: int, dim: int, noise: float
) -> tuple[Dataset, DatasetFaces, list[str]]:
    """``layout`` maps folder -> members named ``<person><n>``; each person is a random
    direction, each photo a step of ``noise`` away from it. Returns the dataset, its faces (one
    per photo) and distinct file digests."""
    rng = np.random.default_rng(seed)
    people = sorted({n.rstrip("0123456789") for names in layout.values() for n in names})
    centre = {p: rng.normal(size=dim) for p in people}
    paths, folders, vectors = [], [], []
    for folder, names in layout.items():
        for name in names:
            paths.append(f"/toy/{folder}/{name}.jpg")
            folders.append(folder)
            vectors.append(centre[name.rstrip("0123456789")] + noise * rng.normal(size=dim))
    X = np.asarray(vectors, np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rows = [
        FaceRow(i, i, p, (0, 0, 1, 1), np.zeros((5, 2), np.float32), 1.0, None, None)
        for i, p in enumerate(paths)
    ]
    faces = DatasetFaces(rows, X, [[i] for i in range(len(X))], ["ok"] * len(X), [""] * len(X))
    return Dataset(Path("/toy"), paths, paths, folders), faces, [str(i) for i in range(len(X))]
