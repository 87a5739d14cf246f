"""Where images come from: folders walked recursively (TSV rows and archives join here later)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".bmp",
        ".dib",
        ".gif",
        ".tif",
        ".tiff",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".heic",
        ".heif",
        ".avif",
    ]
)


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One image file as found on disk; ``path`` is absolute, the catalog's key."""

    path: str
    size: int
    mtime_ns: int


def iter_image_files(
    paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()
) -> Iterator[ImageFile]:
    """Image files under ``paths`` (files or folders, recursive, sorted), skipping ``exclude``.

    Files are chosen by suffix; hidden folders are skipped. Paths given explicitly as files are
    always yielded so a wrongly named file is recorded rather than silently ignored.
    """
    excluded = {os.path.abspath(p) for p in exclude}
    for root in paths:
        root = os.path.abspath(root)
        if os.path.isfile(root):
            yield _stat(root)
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(f"no such file or folder: {root}")
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(
                d for d in dirs if not d.startswith(".") and os.path.join(folder, d) not in excluded
            )
            for name in sorted(files):
                if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                    yield _stat(os.path.join(folder, name))


def _stat(path: str) -> ImageFile:
    try:
        st = os.stat(path)
    except OSError:
        return ImageFile(path, -1, -1)  # recorded as unreadable by the decoder
    return ImageFile(path, st.st_size, st.st_mtime_ns)
