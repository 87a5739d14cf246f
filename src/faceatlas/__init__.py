"""faceatlas: who is in these pictures?

Library use (the CLI calls exactly these)::

    from faceatlas import Catalog, index_paths, cluster_catalog, export_people

    with Catalog("photos.db") as catalog:
        index_paths(catalog, ["~/Pictures"])
        cluster_catalog(catalog)
        export_people(catalog, "people/")
        faces = catalog.face_matrix()  # face_ids, image_ids, (N, 128) unit vectors

    run_photos(["~/Pictures"], "people/")  # all three in one call, as `faceatlas run`
    audit_dataset("lfw/", "lfw-audit/")  # as `faceatlas audit`
"""

from faceatlas.catalog import Catalog, FaceMatrix
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face
from faceatlas.index import IndexConfig, index_paths
from faceatlas.outputs.audit import audit_dataset
from faceatlas.outputs.export import export_people
from faceatlas.people.cluster import cluster_catalog
from faceatlas.workflow import run_photos

__version__ = "0.1.0"

__all__ = [
    "Catalog",
    "Face",
    "FaceMatrix",
    "IndexConfig",
    "ModelConfig",
    "__version__",
    "audit_dataset",
    "cluster_catalog",
    "export_people",
    "index_paths",
    "run_photos",
]
