"""Cut aligned face chips from an image using the 5 landmarks (dlib's similarity transform)."""

from __future__ import annotations

import numpy as np

from faceatlas.faces.model import Detection

CHIP_SIZE = 150
CHIP_PADDING = 0.25


def face_chips(
    rgb: np.ndarray,
    detections: list[Detection],
    size: int = CHIP_SIZE,
    padding: float = CHIP_PADDING,
) -> np.ndarray:
    """(N, size, size, 3) uint8 chips, aligned the way dlib's face ResNet was trained."""
    import dlib

    if not detections:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    shapes = dlib.full_object_detections()
    for det in detections:
        rect = dlib.rectangle(*(round(v) for v in det.box))
        points = [dlib.point(round(float(x)), round(float(y))) for x, y in det.landmarks]
        shapes.append(dlib.full_object_detection(rect, points))
    chips = dlib.get_face_chips(rgb, shapes, size=size, padding=padding)
    return np.stack([np.asarray(chip, dtype=np.uint8) for chip in chips])
