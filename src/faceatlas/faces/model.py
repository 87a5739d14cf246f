"""Small interfaces a face model is made of, so other detectors or embedders can slot in.

A ``Detector`` finds faces and their 5 landmarks in an RGB image; an ``Embedder`` turns aligned
square face chips (``chip_size`` pixels) into identity vectors of any dimension. An ``Analyzer``
(``FacePipeline`` in ``pipeline.py``) joins them; a ``FaceModel`` is the picklable recipe that
builds one in each worker and says what it makes (its ``ModelSpec``, recorded by the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from faceatlas.faces.record import Face
from faceatlas.faces.spec import ModelSpec


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
    chip_size: int

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, chip_size, chip_size, 3) uint8 RGB chips -> (N, dim) float32 raw descriptors."""
        ...


class Analyzer(Protocol):
    """Every face of an image, found, aligned and embedded."""

    name: str

    def analyze(self, rgb: np.ndarray) -> list[Face]: ...


class FaceModel(Protocol):
    """A picklable recipe for an ``Analyzer``: what engines send to their workers."""

    def spec(self) -> ModelSpec:
        """What the analyzer makes, as the catalog records it."""
        ...

    def check_files(self) -> None:
        """Raise now, in the caller, if the model cannot be loaded."""
        ...

    def build(self) -> Analyzer: ...
