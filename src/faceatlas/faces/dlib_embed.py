"""dlib's 128-d face ResNet (the model face_recognition uses), on aligned 150x150 chips."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from faceatlas.faces import weights
from faceatlas.faces.align import CHIP_SIZE


class DlibEmbedder:
    """Raw 128-d descriptors from ``dlib_face_recognition_resnet_model_v1``; pickles by path."""

    dim = 128
    chip_size = CHIP_SIZE

    def __init__(self, models_dir: Path | None = None, jitter: int = 0) -> None:
        self.models_dir = models_dir
        self.jitter = jitter
        self.name = "dlib-resnet-v1"
        self._lock = threading.Lock()
        self._net = None

    def __getstate__(self) -> dict:
        return {"models_dir": self.models_dir, "jitter": self.jitter}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._net is None:
            import dlib

            with self._lock:
                if self._net is None:
                    path = weights.weight_file(weights.RESNET, self.models_dir)
                    self._net = dlib.face_recognition_model_v1(str(path))
        chip_list = [np.ascontiguousarray(chip) for chip in chips]
        vectors = self._net.compute_face_descriptor(chip_list, max(self.jitter, 0))
        return np.array(vectors, dtype=np.float32).reshape(len(chip_list), self.dim)
