"""dlib face detection (HOG or CNN) plus the 5-point landmark predictor, at a chosen scale."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from PIL import Image

from faceatlas.faces import weights
from faceatlas.faces.model import Detection

# Smallest face side, in pixels of the image the detector sees, each detector finds reliably.
# The CNN (MMOD) model's boxes are never under 80 px either: it was 40 here, so `--detector cnn`
# searched at half the scale it needed and found no face under 80 px (0 of ~60 on
# group-photos/ultra-light-imgs/1.jpg, whose faces are 25-35 px, at --min-face 40 and 20).
DETECTOR_WINDOW = {"hog": 80, "cnn": 80}
# The image the detector searches is at most this big: 8 MP is what a 2 MP photo becomes at the
# default 2x (--min-face 40), so a 24 MP photo costs what a 2 MP one does, and HOG still finds
# every face face_recognition finds in our group photos (389 of 390 on people-deepface +
# group-photos; a 2.5 MP cap found 293, 16 MP the same 389 at 1.3x the time). See docs/model.md.
DEFAULT_MAX_DETECT_PIXELS = 8_000_000


def detection_scale(width: int, height: int, min_face: int, window: int, max_pixels: int) -> float:
    """Resize factor so faces of ``min_face`` pixels reach the detector's ``window``.

    Capped so the resized image has at most ``max_pixels`` pixels: a huge photo is then searched
    at the cost of a ``max_pixels`` one; its smallest findable face grows to match.
    """
    scale = window / min_face
    area = width * height * scale * scale
    if area > max_pixels:
        scale *= (max_pixels / area) ** 0.5
    return scale


class DlibDetector:
    """HOG (fast, frontal) or CNN (MMOD; slower, finds more poses) detector with 5-point landmarks.

    Loads its dlib objects lazily, once per process; pickles by configuration so worker
    processes rebuild it.
    """

    def __init__(
        self,
        kind: str = "hog",
        min_face: int = 40,
        max_detect_pixels: int = DEFAULT_MAX_DETECT_PIXELS,
        models_dir: Path | None = None,
    ) -> None:
        if kind not in DETECTOR_WINDOW:
            raise ValueError(f"unknown detector {kind!r}; choose one of {sorted(DETECTOR_WINDOW)}")
        if min_face < 8:
            raise ValueError(f"min_face must be at least 8 pixels, got {min_face}")
        self.kind = kind
        self.min_face = min_face
        self.max_detect_pixels = max_detect_pixels
        self.models_dir = models_dir
        self.name = f"dlib-{kind}"
        self._lock = threading.Lock()
        self._detector = None
        self._landmarks = None

    def __getstate__(self) -> dict:
        return {
            k: getattr(self, k) for k in ("kind", "min_face", "max_detect_pixels", "models_dir")
        }

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _load(self) -> None:
        import dlib

        with self._lock:
            if self._detector is not None:
                return
            if self.kind == "hog":
                self._detector = dlib.get_frontal_face_detector()
            else:
                path = weights.weight_file(weights.CNN_DETECTOR, self.models_dir)
                self._detector = dlib.cnn_face_detection_model_v1(str(path))
            path = weights.weight_file(weights.LANDMARKS_5, self.models_dir)
            self._landmarks = dlib.shape_predictor(str(path))

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """Faces in ``rgb`` with boxes and landmarks in its own pixel frame."""
        if self._detector is None:
            self._load()
        height, width = rgb.shape[:2]
        scale = detection_scale(
            width, height, self.min_face, DETECTOR_WINDOW[self.kind], self.max_detect_pixels
        )
        seen = _resized(rgb, scale)
        if self.kind == "hog":
            rects, scores, _ = self._detector.run(seen, 0, 0.0)
        else:
            found = self._detector(seen, 0)
            rects, scores = [d.rect for d in found], [d.confidence for d in found]
        boxes, kept = [], []
        for rect, score in zip(rects, scores, strict=True):
            box = (
                max(0.0, rect.left() / scale),
                max(0.0, rect.top() / scale),
                min(float(width), (rect.right() + 1) / scale),
                min(float(height), (rect.bottom() + 1) / scale),
            )
            if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
                boxes.append(box)
                kept.append(float(score))
        return self.locate(rgb, boxes, kept)

    def locate(
        self,
        rgb: np.ndarray,
        boxes: list[tuple[float, float, float, float]],
        scores: list[float] | None = None,
    ) -> list[Detection]:
        """The 5 landmarks of a face in each of ``boxes`` (left, top, right, bottom), no search.

        For boxes found by :meth:`detect`, or given by the caller (a known face position).
        """
        import dlib

        if self._landmarks is None:
            self._load()
        detections = []
        for i, box in enumerate(boxes):
            shape = self._landmarks(rgb, dlib.rectangle(*(round(v) for v in box)))
            points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
            score = 0.0 if scores is None else scores[i]
            detections.append(Detection(box=tuple(box), score=score, landmarks=points))
        return detections


def _resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if abs(scale - 1.0) < 0.02:
        return rgb
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.asarray(image)
