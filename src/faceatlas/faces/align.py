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


JITTER_SEED = 0


def jitter_maps(size: int, count: int, seed: int = JITTER_SEED) -> np.ndarray:
    """(count, size, size, 2) source (x, y) of every chip pixel for ``count`` random jitters.

    dlib's ``jitter_image`` (``dlib/image_transforms/interpolation.h``), in numpy: a square
    crop of the chip shrunk by 3 pixels, moved by up to 2 % of its size, enlarged by 1/0.97 to
    1/0.99999, rotated by up to 3 degrees and, with probability 1/2, mirrored left-right. The
    transforms come from a fixed seed, so every face gets the same ``count`` jitters and a
    face's embedding does not depend on which other faces share its batch.
    """
    rng = np.random.default_rng(seed)
    side = size - 6  # shrink_rect(get_rect(img), 3)
    centre = size // 2  # dlib's center() of that rectangle
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1).astype(np.float64)
    maps = np.empty((count, size, size, 2), dtype=np.float64)
    for j in range(count):
        shift = np.round(rng.uniform(-0.02, 0.02, size=2) * side)
        box = int(side / rng.uniform(0.97, 0.99999))
        angle = np.deg2rad(rng.uniform(-3.0, 3.0))
        flip = rng.random() > 0.5
        left = centre + shift - box // 2  # centered_rect(centre + shift, box, box)
        middle = left + (box - 1) / 2
        offset = grid * ((box - 1) / (size - 1)) + left - middle
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        source = offset @ rotation.T + middle
        maps[j] = source[:, ::-1] if flip else source
    return maps


def jitter_chips(chip: np.ndarray, maps: np.ndarray) -> np.ndarray:
    """``chip`` (H, W, 3) uint8 resampled bilinearly through each map; black outside the chip."""
    height, width = chip.shape[:2]
    x, y = maps[..., 0], maps[..., 1]
    left, top = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    inside = (left >= 0) & (top >= 0) & (left + 1 < width) & (top + 1 < height)
    left, top = np.clip(left, 0, width - 2), np.clip(top, 0, height - 2)
    fx, fy = (x - left)[..., None], (y - top)[..., None]
    pixels = chip.astype(np.float64)
    value = (1 - fy) * ((1 - fx) * pixels[top, left] + fx * pixels[top, left + 1]) + fy * (
        (1 - fx) * pixels[top + 1, left] + fx * pixels[top + 1, left + 1]
    )
    value[~inside] = 0
    return value.astype(np.uint8)  # dlib truncates too
