"""The dataset under audit: its images, their identity folders, and their faces in the catalog.

An image's identity is its parent folder relative to the dataset root. Symlinks are resolved
before indexing, so a dataset made of links to photos that some catalog already holds reuses
that catalog's faces instead of running the face model again (the catalog is keyed by the real
path; the audit reports the dataset path).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow
from faceatlas.errors import FaceatlasError, UsageError
from faceatlas.index import IndexConfig, IndexSummary, index_paths
from faceatlas.sources import iter_image_files


@dataclass(slots=True)
class Dataset:
    """Images of a dataset laid out as ``ROOT/<identity>/<image>``, sorted by path."""

    root: Path
    paths: list[str]  # as found under root (absolute, links not resolved)
    real_paths: list[str]  # what the catalog is keyed by
    folders: list[str]  # identity: parent folder relative to root, "/"-separated
    unlabeled: list[str] = field(default_factory=list)  # images directly in root: skipped

    def __len__(self) -> int:
        return len(self.paths)

    def relative(self, index: int) -> str:
        return os.path.relpath(self.paths[index], self.root)


def scan_dataset(root: str | Path, exclude: Iterable[str | Path] = ()) -> Dataset:
    """List the images under ``root``; images directly in ``root`` have no label and are skipped.

    Raises ``UsageError`` (a ``ValueError``) when ``root`` is not a folder or holds no labeled
    image.
    """
    root = Path(root).absolute()
    if not root.is_dir():
        raise UsageError(f"dataset must be a folder of identity folders: {root}")
    dataset = Dataset(root=root, paths=[], real_paths=[], folders=[])
    for item in iter_image_files([root], exclude, unique=False):
        folder = os.path.relpath(os.path.dirname(item.found_path), root)
        if folder == ".":
            dataset.unlabeled.append(item.found_path)
            continue
        dataset.paths.append(item.found_path)
        dataset.real_paths.append(item.path)
        dataset.folders.append(folder.replace(os.sep, "/"))
    if not dataset.paths:
        raise UsageError(f"no images in identity folders under {root} (expected ROOT/<name>/*.jpg)")
    return dataset


def index_dataset(
    catalog: Catalog,
    dataset: Dataset,
    config: IndexConfig | None = None,
    show_progress: bool = False,
) -> IndexSummary:
    """Make sure ``catalog`` holds every image of ``dataset`` (by real path); indexes new ones."""
    unique = sorted(set(dataset.real_paths))
    return index_paths(catalog, unique, config, show_progress=show_progress)


def file_digests(paths: list[str], workers: int = 4) -> list[str]:
    """SHA-1 of each file's bytes (read through links), in order; unreadable files give ``""``."""

    def digest(path: str) -> str:
        try:
            with open(path, "rb") as handle:
                return hashlib.file_digest(handle, "sha1").hexdigest()
        except OSError:
            return ""

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(digest, paths, chunksize=64))


@dataclass(slots=True)
class DatasetFaces:
    """Every catalog face of the dataset's images, and each image's status."""

    rows: list[FaceRow]  # faces of the dataset's images, by face id
    vectors: np.ndarray  # (len(rows), D) unit embeddings, row-aligned with ``rows``
    faces_of: list[list[int]]  # per dataset image: indices into ``rows``
    status: list[str]  # per dataset image: "ok", "no_face", "error" or "missing"
    reason: list[str]  # per dataset image: why it has no face ("" when it has)


def load_faces(catalog: Catalog, dataset: Dataset) -> DatasetFaces:
    """Read the faces of ``dataset``'s images from ``catalog`` (which must have indexed them)."""
    wanted = set(dataset.real_paths)
    matrix = catalog.face_matrix()
    all_rows = catalog.faces()
    keep = [i for i, row in enumerate(all_rows) if row.image_path in wanted]
    rows = [all_rows[i] for i in keep]
    if keep and not np.array_equal(matrix.face_ids[keep], [r.face_id for r in rows]):
        raise FaceatlasError("catalog changed while reading faces; run the audit again")
    vectors = (
        np.ascontiguousarray(matrix.vectors[keep], dtype=np.float32)
        if keep
        else np.zeros((0, matrix.vectors.shape[1] if matrix.vectors.ndim == 2 else 0), np.float32)
    )
    by_path: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_path.setdefault(row.image_path, []).append(index)
    known = catalog.known_images()
    errors = dict(catalog.errors())
    faces_of, status, reason = [], [], []
    for path in dataset.real_paths:
        found = by_path.get(path, [])
        faces_of.append(found)
        if found:
            status.append("ok")
            reason.append("")
        elif path in errors:
            status.append("error")
            reason.append(errors[path] or "unreadable")
        elif path in known:
            status.append("no_face")
            reason.append("no face found by the detector")
        else:
            status.append("missing")
            reason.append("not in the catalog (index it first)")
    return DatasetFaces(rows, vectors, faces_of, status, reason)
