"""Locate the dlib weight files shipped in the ``face_recognition_models`` package.

The package's ``__init__`` imports ``pkg_resources`` (gone from modern setuptools), so we find its
folder through the import system's spec without executing it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from faceatlas.errors import ModelError

CNN_DETECTOR = "mmod_human_face_detector.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"


class ModelFilesMissing(ModelError, FileNotFoundError):
    """A model weight file could not be found."""


def models_dir() -> Path:
    """Folder holding the ``face_recognition_models`` weight files."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(
            "the face_recognition_models package is not installed; "
            "run `pip install face_recognition_models` or pass model file paths explicitly"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def weight_file(name: str, directory: Path | None = None) -> Path:
    """Path of one weight file, from ``directory`` or the installed package."""
    path = (directory or models_dir()) / name
    if not path.is_file():
        raise ModelFilesMissing(f"model file not found: {path}")
    return path
