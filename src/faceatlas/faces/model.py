"""Small interfaces a face model is made of, so other detectors or embedders can slot in.

A ``Detector`` finds faces and their 5 landmarks in an RGB image; an ``Embedder`` turns aligned
150x150 face chips into identity vectors. ``FacePipeline`` (see ``pipeline.py``) joins them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(slots=True)
class Detection:
    """A face box (left, top, right, bottom; float pixels), its score and (5, 2) landmarks."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray


class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image, in that image's pixel frame."""
        ...


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, 150, 150, 3) uint8 RGB chips -> (N, dim) float32 raw descriptors."""
        ...
