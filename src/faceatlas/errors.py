"""One error hierarchy: what faceatlas raises for a user's mistake or a problem of the machine.

The CLI turns every ``FaceatlasError`` (and the environment's ``OSError`` and SQLite errors) into
one clear line and a non-zero exit; a Python traceback means a bug. Library callers catch
``FaceatlasError`` or the subclass they care about.

>>> issubclass(NoPeopleYet, FaceatlasError)
True
"""

from __future__ import annotations


class FaceatlasError(Exception):
    """Base class of every error faceatlas raises on purpose; ``str(err)`` is the message."""

    exit_code = 1


class UsageError(FaceatlasError, ValueError):
    """A setting or argument that cannot work (also a ``ValueError``, for older callers)."""

    exit_code = 2


class CatalogMissing(FaceatlasError, FileNotFoundError):
    """A command needs a catalog that does not exist yet."""


class NoPeopleYet(FaceatlasError, ValueError):
    """A command needs people, and the catalog has not been grouped yet."""

    def __init__(self, message: str = "no people yet; run `faceatlas cluster` first") -> None:
        super().__init__(message)


class UnknownFaceSet(FaceatlasError, LookupError):
    """``--model NAME`` names no face set of the catalog."""


class StorageError(FaceatlasError, OSError):
    """The catalog or an output cannot be written: read-only medium, disk full, locked."""


class ModelError(FaceatlasError):
    """A face model cannot be loaded: files missing, corrupt, or not a face model."""
