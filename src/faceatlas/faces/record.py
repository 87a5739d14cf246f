"""The typed record every face travels in, from the model to the catalog and out again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np


@dataclass(slots=True)
class Face:
    """One detected face.

    ``box`` is (left, top, right, bottom) in pixels of the original image after EXIF rotation,
    clipped to the image. ``landmarks`` is a (5, 2) float32 array of (x, y) points in the same
    frame. ``embedding`` is the L2-normalised identity vector; ``embedding_norm`` keeps the raw
    model output's length (a cheap quality signal), so ``embedding * embedding_norm`` is the raw
    vector.
    """

    box: tuple[int, int, int, int]
    landmarks: np.ndarray
    score: float
    embedding: np.ndarray
    embedding_norm: float = 1.0

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


class Boxed(Protocol):
    box: tuple[int, int, int, int]


B = TypeVar("B", bound=Boxed)


def largest_face(faces: Iterable[B]) -> B:
    """The face of the largest box (the first of equals): a photo's main face, for a
    reference photo or ``--largest-face-only``. Works on a ``Face`` or a catalog ``FaceRow``."""
    return max(faces, key=lambda face: (face.box[2] - face.box[0]) * (face.box[3] - face.box[1]))


def normalise(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (unit rows as float32, row norms). Zero rows stay zero."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit = vectors / np.where(norms > 0, norms, 1.0)
    return unit.astype(np.float32, copy=False), norms[..., 0]


@dataclass(slots=True)
class ImageResult:
    """What the faces step reports for one image: its faces, or why it has none."""

    path: str
    size: int
    mtime_ns: int
    status: str  # "ok" (faces found), "no_face" or "error"
    width: int = 0
    height: int = 0
    error: str | None = None
    faces: list[Face] | None = None
    model: str = ""
