"""What made a set of faces: the model spec the catalog records with every face set.

Two face sets are comparable only when their specs agree: the detector and its settings decide
which faces exist, the alignment and embedder (and its weights) what their vectors mean, flip and
jitter how those vectors were averaged. The runtime (ONNX Runtime or dlib for the same network,
threads) is not part of the spec: it gives the same vectors.

>>> spec = ModelSpec(detector="hog", min_face=40, embedder="dlib-resnet-v1", dim=128, flip=True)
>>> spec.label
'dlib-resnet-v1/hog40+flip'
>>> ModelSpec.from_json(spec.to_json()) == spec
True
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Detector (and settings), landmarks, alignment, embedder, dimension, averaging, weights.

    ``legacy`` marks a face set carried over from a catalog made before specs were recorded:
    only its embedder and dimension are known, the rest are the defaults of that time.

    A detector or embedder that is an ONNX file records its kind (``detector`` holds the
    detector's kind, ``embedder_kind`` the recognizer's), the file's absolute path and its
    sha256, so the model can be rebuilt (``ModelConfig.from_spec``) and a changed file is
    noticed. ``score_cut`` is the detector's score threshold (0 for dlib's detectors, which use
    their own), ``box_map`` the map from the detector's boxes to HOG's when dlib's landmarks are
    placed in them (``faces/boxmap.py``).

    ``cut`` is the embedder's calibrated "same person" distance between unit embeddings (faces
    closer than it are usually one person): 0.4 for dlib's ResNet, measured on LFW's pairs for
    the ONNX recognizers faceatlas knows (``faces/pipeline.py`` ``KNOWN_EMBEDDERS``), the kind's
    published default otherwise. Search's "same person" line and clustering's defaults read it.
    It is a property of the embedder, not of what made the faces, so it is not compared: a new
    calibration does not start a new face set.
    """

    detector: str
    min_face: int
    embedder: str
    dim: int
    flip: bool = False
    jitter: int = 0
    max_detect_pixels: int = 0  # 0: the detector's default cap
    landmarks: str = "dlib-5pt"
    alignment: str = "dlib-chip-150"
    weights: str = ""  # fingerprint of the weight files (see ``fingerprint``)
    legacy: bool = False
    score_cut: float = 0.0
    box_map: str = ""
    detector_file: str = ""
    detector_sha256: str = ""
    embedder_kind: str = ""
    embedder_file: str = ""
    embedder_sha256: str = ""
    cut: float = field(default=0.4, compare=False)

    @property
    def label(self) -> str:
        """A short readable name, e.g. ``dlib-resnet-v1/hog40+flip``."""
        name = f"{self.embedder}/{self.detector}{self.min_face}"
        if self.jitter >= 2:
            name += f"+jitter{self.jitter}"
        elif self.flip:
            name += "+flip"
        return name + ("+legacy" if self.legacy else "")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Parse a stored spec; keys a newer faceatlas added are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})


def fingerprint(paths: list[Path]) -> str:
    """A short digest of the weight files' bytes (cached per path, size and mtime)."""
    digest = hashlib.blake2b(digest_size=8)
    for path in paths:
        st = path.stat()
        digest.update(_file_digest(str(path), st.st_size, st.st_mtime_ns).encode())
    return digest.hexdigest()


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
