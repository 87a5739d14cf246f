"""The SQLite catalog: images, faces, people, assignments and per-image errors."""

from faceatlas.catalog.store import Catalog, FaceMatrix

__all__ = ["Catalog", "FaceMatrix"]
