"""ArcFace-style recognizers: 5 landmarks -> 112x112 chip (similarity transform) -> ONNX graph.

InsightFace's recognizers, MobileFaceNet and OpenCV's SFace were all trained on faces warped so
that their eyes, nose tip and mouth corners land on one template (:data:`ARCFACE_TEMPLATE`, for a
112x112 chip). :func:`similarity` fits the rotation, uniform scale and shift that best maps a
face's five points onto it (Umeyama's least squares, in numpy; what ``skimage``'s
``SimilarityTransform.estimate`` and OpenCV's ``estimateAffinePartial2D`` compute), and
:func:`arcface_chips` resamples the photo through it with Pillow (bilinear, black outside).

Landmarks from dlib's 5-point predictor (eye corners and the base of the nose, another set of
points) are aligned to :data:`DLIB_POINTS_TEMPLATE`, where those points fall on ArcFace chips on
average (measured on LFW, see docs/model.md), so HOG, CNN and UltraFace boxes can feed these
recognizers too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from faceatlas.errors import ModelError
from faceatlas.faces.kinds import EMBEDDER_KINDS, embedder_kind_of
from faceatlas.faces.onnx_session import open_session, signature

# insightface/utils/face_align.py ``arcface_dst``: left eye, right eye (as seen in the image),
# nose tip, left and right mouth corners, in a 112x112 chip (pixel centres at integers).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
# dlib's five points (outer and inner corner of the image-right eye, outer and inner corner of
# the image-left eye, base of the nose) where they fall, on average, on ArcFace chips: 800 LFW
# images (every 16th file from the 9th), each central face's chip transform fitted to RetinaFace's
# landmarks and applied to dlib's points placed in its mapped box (spread 1.6-2.6 px per
# coordinate; docs/model.md).
DLIB_POINTS_TEMPLATE = np.array(
    [
        [79.78, 52.82],
        [66.12, 53.34],
        [31.24, 53.49],
        [44.96, 53.63],
        [55.89, 79.76],
    ],
    dtype=np.float64,
)


def similarity(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, shift) mapping ``points`` onto
    ``template`` with least squared error (Umeyama 1991, without reflection).

    >>> t = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    >>> m = similarity(t * 2 + 5, t)
    >>> np.allclose(m, [[0.5, 0, -2.5], [0, 0.5, -2.5]])
    True
    """
    src = np.asarray(points, dtype=np.float64)
    dst = np.asarray(template, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def warp(rgb: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` resampled through the 2x3 ``matrix`` (photo -> chip, pixel centres at integers)
    into a ``size`` x ``size`` chip, bilinear, black outside: OpenCV's ``warpAffine``."""
    forward = np.vstack([matrix, [0.0, 0.0, 1.0]])
    inverse = np.linalg.inv(forward)[:2]  # chip -> photo
    # Pillow samples at pixel-area coordinates (centres at +0.5): shift in and out.
    linear, shift = inverse[:, :2], inverse[:, 2]
    shift = shift + 0.5 - linear @ np.array([0.5, 0.5])
    coeffs = (linear[0, 0], linear[0, 1], shift[0], linear[1, 0], linear[1, 1], shift[1])
    image = Image.fromarray(rgb).transform(
        (size, size), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(image)


def arcface_chips(
    rgb: np.ndarray, landmarks: list[np.ndarray], size: int = 112, dlib_points: bool = False
) -> np.ndarray:
    """(N, size, size, 3) uint8 chips aligned to the ArcFace template (scaled to ``size``);
    ``dlib_points``: the landmarks are dlib's five, aligned to :data:`DLIB_POINTS_TEMPLATE`."""
    template = (DLIB_POINTS_TEMPLATE if dlib_points else ARCFACE_TEMPLATE) * (size / 112)
    chips = [warp(rgb, similarity(points, template), size) for points in landmarks]
    if not chips:
        return np.zeros((0, size, size, 3), dtype=np.uint8)
    return np.stack(chips)


class ArcFaceEmbedder:
    """An ArcFace-style recognizer graph (kind from :data:`EMBEDDER_KINDS`) on aligned chips.

    ``name`` identifies the embedding space in the catalog: the kind and the first 12 hex digits
    of the file's sha256, so two files never share a face set. The session opens on first use
    and is rebuilt after unpickling. A graph with a fixed batch of 1 is run face by face.
    """

    def __init__(
        self, path: Path, kind: str, sha256: str, threads: int | None = 1, batch_size: int = 32
    ) -> None:
        if kind not in EMBEDDER_KINDS:
            raise ModelError(f"unknown embedder kind {kind!r}; known: {', '.join(EMBEDDER_KINDS)}")
        self.path = Path(path)
        self.kind = kind
        self.sha256 = sha256
        self.threads = threads
        self.batch_size = batch_size
        self.chip_size = EMBEDDER_KINDS[kind].size
        self.name = embedder_name(kind, sha256)
        self.dim = 0  # known once the graph is open (see ``loaded``)
        self._lock = threading.Lock()
        self._session: Any = None
        self._input = ""
        self._batch: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        keys = ("path", "kind", "sha256", "threads", "batch_size")
        return {k: getattr(self, k) for k in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def loaded(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session, self._input, self._batch, self.dim, _ = load_embedder(
                    self.path, self.kind, self.threads
                )
            return self._session

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, size, size, 3) uint8 RGB chips -> (N, dim) float32 raw vectors."""
        session = self.loaded()
        chips = np.asarray(chips)
        if chips.ndim != 4 or chips.shape[1:] != (self.chip_size, self.chip_size, 3):
            raise ValueError(f"chips must be (N, {self.chip_size}, {self.chip_size}, 3)")
        if len(chips) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        pre = EMBEDDER_KINDS[self.kind].preprocess
        pixels = chips[..., ::-1] if pre.channels == "BGR" else chips
        tensor = (pixels.astype(np.float32) - np.asarray(pre.mean, np.float32)) * np.float32(
            pre.scale
        )
        tensor = np.ascontiguousarray(tensor.transpose(0, 3, 1, 2))
        step = self._batch or self.batch_size
        out = [
            session.run(None, {self._input: tensor[i : i + step]})[0].reshape(-1, self.dim)
            for i in range(0, len(tensor), step)
        ]
        return np.concatenate(out).astype(np.float32, copy=False)


def embedder_name(kind: str, sha256: str) -> str:
    """The embedding space's name: ``mobilefacenet-f055d9c9a4d8``."""
    return f"{kind}-{sha256[:12]}"


def load_embedder(
    path: Path, kind: str | None, threads: int | None
) -> tuple[Any, str, int | None, int, str]:
    """Session, input name, fixed batch size (None: free), output dimension and kind of a
    recognizer file, checked to be a recognizer of ``kind`` (or recognised when None)."""
    what = f"embedder {Path(path).name}"
    session = open_session(Path(path), what, threads)
    sig = signature(session)
    try:
        found = embedder_kind_of(sig, what)
    except ModelError:
        if kind is None or len(sig.outputs) != 1 or sig.inputs[0].shape[2:] != (112, 112):
            raise
        found = kind  # --embedder-kind: the user says which preprocessing it wants
    if kind is not None and found != kind:
        raise ModelError(f"{what}: its graph is a {found} recognizer, not {kind}")
    dim = sig.outputs[0].last
    if not isinstance(dim, int) or dim < 2:
        raise ModelError(f"{what}: its output has no fixed dimension ({sig.describe()})")
    batch = sig.inputs[0].shape[0]
    return session, sig.inputs[0].name, batch if isinstance(batch, int) else None, dim, found
