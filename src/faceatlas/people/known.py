"""Known people: reference photos with the names of the people in them.

A folder of known people holds a folder per name (``known/Grandma/*.jpg``: every photo in it,
at any depth, shows Grandma), or photos named as the ``face_recognition`` command line expects
(``known/john.jpg``, ``known/john_2.jpg``: "john"), or both. ``read_known_folder`` reads the
layout; the names and photos it finds are what ``identify`` compares faces with and what
``people add-known`` turns into named people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from faceatlas.errors import UsageError
from faceatlas.sources import iter_image_files

_NUMBERED = re.compile(r"^(.+?)[_ -]\d+$")  # john_2, john 2, john-2 -> john


@dataclass(frozen=True, slots=True)
class KnownPhoto:
    """One reference photo: the name of the person it shows and its canonical path."""

    name: str
    path: str


def name_of_file(path: str | Path) -> str:
    """The name a photo directly in the known folder gives: its stem, without a ``_N`` count
    (``john_2.jpg`` -> "john")."""
    stem = Path(path).stem.strip()
    numbered = _NUMBERED.match(stem)
    return numbered.group(1) if numbered else stem


def read_known_folder(folder: str | Path) -> list[KnownPhoto]:
    """The reference photos of a known-people folder, sorted by name then path (``UsageError``
    when it is not a folder or holds no photo). A photo in a sub-folder is named for its top
    sub-folder; a photo directly in ``folder`` for its file name (``name_of_file``)."""
    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"known people: {folder} is not a folder")
    photos = []
    for item in iter_image_files([root], segment_from_folder=True):
        name = item.segment if item.segment is not None else name_of_file(item.found_path)
        name = " ".join(name.split())
        if name:
            photos.append(KnownPhoto(name, item.path))
    if not photos:
        raise UsageError(
            f"known people: no photos in {folder} (a folder per name, or files named john.jpg)"
        )
    return sorted(photos, key=lambda photo: (photo.name.lower(), photo.path))
