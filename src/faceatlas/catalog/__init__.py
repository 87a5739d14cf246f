"""The SQLite catalog: images, face sets per model spec, faces, people and per-image errors."""

from faceatlas.catalog.store import Catalog, FaceMatrix, FaceSet, person_label

__all__ = ["Catalog", "FaceMatrix", "FaceSet", "person_label"]
