"""Face thumbnails: cut once from the original, cached on disk by face id, reused everywhere
(report, web app, audit)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from faceatlas.atomic import atomic_write
from faceatlas.catalog.store import FaceRow
from faceatlas.decode import DecodeError, load_rgb
from faceatlas.sources import read_source

DEFAULT_SIZE = 112
MARGIN = 0.25  # extra context around the box, as a share of its side


def thumbnail_path(cache_dir: str | Path, face_id: int, size: int = DEFAULT_SIZE) -> Path:
    return Path(cache_dir) / str(size) / f"{face_id // 1000:05d}" / f"{face_id}.jpg"


def face_thumbnail(face: FaceRow, cache_dir: str | Path, size: int = DEFAULT_SIZE) -> Path:
    """Path of a square JPEG crop of ``face`` (created on first use).

    Raises ``DecodeError`` if the original image can no longer be read.
    """
    path = thumbnail_path(cache_dir, face.face_id, size)
    if path.is_file():
        return path
    crop = face_crop(face, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        crop.save(handle, "JPEG", quality=85)
    return path


def face_crop(face: FaceRow, size: int = DEFAULT_SIZE) -> Image.Image:
    """A square ``size`` x ``size`` crop around the face box, with a margin.

    Reads the image from its file, from its TSV row or archive member, or for a face tracked
    through a video from the frame its track keeps (decoded again from the video).
    """
    try:
        encoded = read_source(face.image_path, face.image_source)
    except (OSError, ValueError) as err:
        raise DecodeError(f"unreadable image: {err}") from err
    rgb = load_rgb(encoded)
    left, top, right, bottom = face.box
    side = max(right - left, bottom - top) * (1 + 2 * MARGIN)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    box = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    return Image.fromarray(rgb).crop(tuple(round(v) for v in box)).resize(
        (size, size), Image.Resampling.LANCZOS
    )


__all__ = ["DecodeError", "face_crop", "face_thumbnail", "thumbnail_path"]
