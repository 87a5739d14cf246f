"""A tiny face model without dlib, for fast tests of the plumbing (catalog, index loop, grouping).

It implements the same interfaces as the real model (``Detector``, ``Embedder``, ``Analyzer``,
``FaceModel``): a "face" is a square of one colour on a white photo, its landmarks the square's
corners and centre, and its embedding the square's colour, spread over ``dim`` dimensions. Photos
drawn with ``draw_faces`` therefore hold known faces of known "people" (one colour each).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from faceatlas.faces.model import Detection
from faceatlas.faces.record import Face, normalise
from faceatlas.faces.spec import ModelSpec

SIDE = 40  # pixels of a drawn face
PALETTE = [(200, 30, 30), (30, 160, 40), (40, 60, 200), (200, 160, 20), (150, 40, 170)]


def draw_faces(path: Path, colours: list[tuple[int, int, int]], size: int = 200) -> Path:
    """A white photo with one square face per colour, left to right; returns ``path``."""
    image = Image.new("RGB", (size, size), "white")
    for i, colour in enumerate(colours):
        left = 10 + i * (SIDE + 10)
        image.paste(colour, (left, 80, left + SIDE, 80 + SIDE))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


class FakeDetector:
    """Finds the runs of non-white pixels across the middle row: one box per coloured square."""

    name = "fake-squares"

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        row = rgb[rgb.shape[0] // 2]
        coloured = np.any(row < 240, axis=1)
        found, start = [], None
        for x, on in enumerate([*coloured, False]):
            if on and start is None:
                start = x
            elif not on and start is not None:
                left, right = float(start), float(x)
                top, bottom = 80.0, 80.0 + (right - left)
                points = [(left, top), (right, top), ((left + right) / 2, (top + bottom) / 2),
                          (left, bottom), (right, bottom)]
                found.append(Detection((left, top, right, bottom), 1.0, np.array(points, "f4")))
                start = None
        return found


@dataclass(slots=True)
class FakeEmbedder:
    """The chip's mean colour, repeated and signed into ``dim`` dimensions."""

    dim: int = 48
    chip_size: int = 8
    name: str = "fake-colour"

    def embed(self, chips: np.ndarray) -> np.ndarray:
        mean = chips.reshape(len(chips), -1, 3).mean(axis=1) / 255.0 - 0.5
        signs = np.where(np.arange(self.dim) % 2 == 0, 1.0, -0.5)
        spread = np.tile(mean, (1, self.dim // 3 + 1))[:, : self.dim]
        return (spread * signs).astype(np.float32)


class FakePipeline:
    """Detector + embedder, chips cut by plain cropping (no dlib)."""

    def __init__(self, dim: int) -> None:
        self.detector = FakeDetector()
        self.embedder = FakeEmbedder(dim)
        self.name = self.embedder.name

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        detections = self.detector.detect(rgb)
        if not detections:
            return []
        size = self.embedder.chip_size
        chips = np.stack([
            np.asarray(
                Image.fromarray(rgb).crop(tuple(round(v) for v in d.box)).resize((size, size))
            )
            for d in detections
        ])
        unit, norms = normalise(self.embedder.embed(chips))
        return [
            Face(tuple(round(v) for v in d.box), d.landmarks, d.score, unit[i], float(norms[i]))
            for i, d in enumerate(detections)
        ]


@dataclass(frozen=True, slots=True)
class FakeModel:
    """The picklable recipe engines send to workers."""

    dim: int = 48

    def spec(self) -> ModelSpec:
        return ModelSpec(
            detector="fake-squares", min_face=SIDE, embedder="fake-colour", dim=self.dim,
            landmarks="fake-corners", alignment="crop", weights="none",
        )

    def check_files(self) -> None:
        return None

    def build(self) -> FakePipeline:
        return FakePipeline(self.dim)
