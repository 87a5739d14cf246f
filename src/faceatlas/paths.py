"""The one form image paths are stored in, and how a path is shown to a person.

Paths are canonical (absolute, links resolved) wherever they are stored or compared, so a photo
reached through a link is one image. A file name that is not valid UTF-8 is held as Python holds
it (surrogate escapes, as ``os.listdir`` returns it), stored losslessly by the catalog, and shown
with its odd bytes escaped.

>>> shown_path(b"caf\\xe9.jpg".decode("utf-8", "surrogateescape"))
'caf\\\\xe9.jpg'
"""

from __future__ import annotations

import os
from pathlib import Path


def canonical_path(path: str | Path) -> str:
    """The one form an image path is stored and compared in: absolute, links resolved."""
    return os.path.realpath(path)


def shown_path(path: str) -> str:
    """``path`` printable anywhere: bytes that are not UTF-8 written as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
