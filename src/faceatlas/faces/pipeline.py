"""Detect, align, embed: one call from an RGB image to a list of ``Face`` records."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceatlas.errors import UsageError
from faceatlas.faces import weights
from faceatlas.faces.align import face_chips
from faceatlas.faces.dlib_detect import DEFAULT_MAX_DETECT_PIXELS, DETECTOR_WINDOW, DlibDetector
from faceatlas.faces.dlib_embed import DlibEmbedder
from faceatlas.faces.dlib_onnx import OnnxEmbedder, onnx_model_path
from faceatlas.faces.model import Detection, Embedder
from faceatlas.faces.record import Face, normalise
from faceatlas.faces.spec import ModelSpec, fingerprint

DETECTORS = tuple(sorted(DETECTOR_WINDOW))
EMBEDDERS = ("onnx", "dlib")  # the same dlib ResNet; onnx is ~20x faster, identical to 1e-6
DLIB_EMBEDDER = "dlib-resnet-v1"  # the network both runtimes run: one embedding space
DLIB_DIM = 128


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Which face model to run and how; validated once, picklable, cheap to send to workers."""

    detector: str = "hog"
    min_face: int = 40
    max_detect_pixels: int = DEFAULT_MAX_DETECT_PIXELS
    embedder: str = "onnx"
    jitter: int = 0  # dlib's num_jitters: >= 2 averages that many jittered chips per face
    flip: bool = True  # average each chip's descriptor with its mirror image's (not with jitter)
    models_dir: Path | None = None
    threads: int = 1  # inference threads per worker process

    def __post_init__(self) -> None:
        if self.detector not in DETECTOR_WINDOW:
            raise UsageError(f"unknown detector {self.detector!r}; choose one of {DETECTORS}")
        if self.embedder not in EMBEDDERS:
            raise UsageError(f"unknown embedder {self.embedder!r}; choose one of {EMBEDDERS}")
        if self.min_face < 8:
            raise UsageError(f"min_face must be at least 8 pixels, got {self.min_face}")
        if self.jitter < 0:
            raise UsageError(f"jitter must be >= 0, got {self.jitter}")
        if self.threads < 1:
            raise UsageError(f"threads must be >= 1, got {self.threads}")

    def spec(self) -> ModelSpec:
        """What this configuration makes, as the catalog records it (weights fingerprinted)."""
        files = [weights.LANDMARKS_5, weights.RESNET]
        if self.detector == "cnn":
            files.append(weights.CNN_DETECTOR)
        return ModelSpec(
            detector=self.detector,
            min_face=self.min_face,
            max_detect_pixels=self.max_detect_pixels,
            embedder=DLIB_EMBEDDER,
            dim=DLIB_DIM,
            flip=self.flip and self.jitter < 2,
            jitter=self.jitter if self.jitter >= 2 else 0,
            weights=fingerprint([weights.weight_file(f, self.models_dir) for f in files]),
        )

    @classmethod
    def from_spec(cls, spec: ModelSpec, **runtime: object) -> ModelConfig:
        """The configuration that makes faces comparable with a recorded ``spec``.

        ``runtime`` sets what is not part of a spec (embedder runtime, threads, models_dir).
        """
        if spec.embedder != DLIB_EMBEDDER:
            raise UsageError(f"this faceatlas cannot run the embedder {spec.embedder!r}")
        return cls(
            detector=spec.detector,
            min_face=spec.min_face,
            max_detect_pixels=spec.max_detect_pixels or DEFAULT_MAX_DETECT_PIXELS,
            jitter=spec.jitter,
            flip=spec.flip or spec.legacy,  # legacy sets: the defaults of their time
            **runtime,
        )

    def check_files(self) -> None:
        """Raise ``ModelFilesMissing`` now, in the caller, rather than inside a worker."""
        weights.weight_file(weights.LANDMARKS_5, self.models_dir)
        weights.weight_file(weights.RESNET, self.models_dir)
        if self.detector == "cnn":
            weights.weight_file(weights.CNN_DETECTOR, self.models_dir)

    def build(self) -> FacePipeline:
        detector = DlibDetector(
            self.detector, self.min_face, self.max_detect_pixels, self.models_dir
        )
        if self.embedder == "onnx":
            path = onnx_model_path(weights.weight_file(weights.RESNET, self.models_dir))
            embedder: Embedder = OnnxEmbedder(path, threads=self.threads, jitter=self.jitter)
        else:
            embedder = DlibEmbedder(self.models_dir, self.jitter)
        return FacePipeline(detector, embedder, flip=self.flip and self.jitter < 2)


class FacePipeline:
    """Runs a detector and an embedder; ``name`` identifies the embedding space in the catalog.

    With ``flip``, a face's raw descriptor is the mean of its chip's and its mirrored chip's
    (test-time augmentation; dlib's jitter mirrors half its copies too). Same embedding space,
    less noise: LFW verification 98.8 -> 99.2 %, clustering errors down (docs/model.md).
    """

    def __init__(self, detector: DlibDetector, embedder: Embedder, flip: bool = False) -> None:
        self.detector = detector
        self.embedder = embedder
        self.flip = flip

    @property
    def name(self) -> str:
        return self.embedder.name

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """Every face in ``rgb``, aligned and embedded."""
        return self._embed(rgb, self.detector.detect(rgb))

    def faces_at(
        self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]
    ) -> list[Face]:
        """Faces at known ``boxes`` (left, top, right, bottom) of ``rgb``: landmarks placed in
        each box, then aligned and embedded as usual; nothing is searched. Scores are 0."""
        return self._embed(rgb, self.detector.locate(rgb, boxes))

    def _embed(self, rgb: np.ndarray, detections: list[Detection]) -> list[Face]:
        if not detections:
            return []
        chips = face_chips(rgb, detections, size=self.embedder.chip_size)
        if self.flip:
            both = self.embedder.embed(np.concatenate([chips, chips[:, :, ::-1]]))
            raw = (both[: len(chips)] + both[len(chips) :]) / 2
        else:
            raw = self.embedder.embed(chips)
        unit, norms = normalise(raw)
        return [
            Face(
                box=tuple(round(v) for v in det.box),
                landmarks=det.landmarks,
                score=det.score,
                embedding=unit[i],
                embedding_norm=float(norms[i]),
            )
            for i, det in enumerate(detections)
        ]
