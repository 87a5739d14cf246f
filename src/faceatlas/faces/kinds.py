"""What each kind of ONNX face model wants: one explicit table per kind, and how a file's kind
is recognised from its graph.

A model's preprocessing (colour order, mean, scale, how the image is fitted into the input) is
never guessed from node names: it is a row of :data:`DETECTOR_KINDS` or :data:`EMBEDDER_KINDS`,
measured on real files (``../shared/models/README.md``) or taken from the code that trained or
ships the model. Recognition only picks the row: the graph's inputs and outputs (count, shapes
and, where shapes cannot tell two kinds apart, names) are matched against a short list of known
signatures, in :func:`detector_kind_of` and :func:`embedder_kind_of`. A file that matches none
raises :class:`~faceatlas.errors.ModelError`; ``--detector-kind`` / ``--embedder-kind`` name the
row when a file cannot be recognised (a renamed output, say).
"""

from __future__ import annotations

from dataclasses import dataclass

from faceatlas.errors import ModelError
from faceatlas.faces.onnx_session import Signature


@dataclass(frozen=True, slots=True)
class Preprocess:
    """Pixels to input tensor: channel order, then ``(pixel - mean) * scale``, as NCHW float."""

    channels: str  # "RGB" or "BGR"
    mean: tuple[float, float, float]  # in that channel order
    scale: float


@dataclass(frozen=True, slots=True)
class DetectorKind:
    """One kind of face detector graph.

    ``layout`` says how an image enters a graph whose input size is free: ``pad32`` (the image
    at its detection scale, zero-padded at the bottom and right to multiples of 32); a graph with
    a fixed input size gets ``fixed_layout``: ``fit`` (scaled to fit inside, placed top-left,
    zero-padded) or ``stretch`` (resized to exactly the input size). ``window`` is the smallest
    face side, in input pixels, the detector finds reliably (its smallest anchor).
    """

    name: str
    preprocess: Preprocess
    layout: str
    fixed_layout: str
    landmarks: bool  # five points: eyes, nose tip, mouth corners (image left first)
    score: float  # default score cut
    nms: float  # IoU above which the lower-scored box is dropped
    window: int
    source: str  # where the table row comes from


@dataclass(frozen=True, slots=True)
class EmbedderKind:
    """One kind of face recognizer: a 5-point aligned square chip in, an identity vector out."""

    name: str
    preprocess: Preprocess
    size: int  # chip side; aligned to the ArcFace 5-point template scaled to it
    cut: float  # default "same person" distance between unit vectors for a file of this kind
    source: str


BGR_0_255 = Preprocess("BGR", (0.0, 0.0, 0.0), 1.0)
DETECTOR_KINDS = {
    "retinaface": DetectorKind(
        "retinaface",
        Preprocess("BGR", (104.0, 117.0, 123.0), 1.0),
        layout="pad32",
        fixed_layout="fit",
        landmarks=True,
        score=0.8,  # measured on the group photos (docs/model.md)
        nms=0.4,
        window=16,
        source="biubug6/Pytorch_Retinaface (cfg_mnet, detect.py); outputs boxes, softmaxed "
        "scores, landmarks against priors min_sizes [[16,32],[64,128],[256,512]], steps 8/16/32",
    ),
    "yunet": DetectorKind(
        "yunet",
        BGR_0_255,
        layout="pad32",
        fixed_layout="fit",
        landmarks=True,
        score=0.6,
        nms=0.3,
        window=12,
        source="OpenCV zoo face_detection_yunet (face_detect.cpp): cls/obj/bbox/kps per stride",
    ),
    "ultraface": DetectorKind(
        "ultraface",
        Preprocess("RGB", (127.0, 127.0, 127.0), 1 / 128),
        layout="stretch",
        fixed_layout="stretch",
        landmarks=False,
        score=0.7,
        nms=0.3,
        window=10,
        source="Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB: boxes decoded as 0-1 corners",
    ),
    "scrfd": DetectorKind(
        "scrfd",
        Preprocess("RGB", (127.5, 127.5, 127.5), 1 / 128),
        layout="pad32",
        fixed_layout="fit",
        landmarks=True,
        score=0.5,
        nms=0.4,
        window=16,
        source="deepinsight/insightface python-package/insightface/model_zoo/scrfd.py: scores, "
        "distances x stride, 2 anchors per cell at strides 8/16/32",
    ),
}

EMBEDDER_KINDS = {
    "mobilefacenet": EmbedderKind(
        "mobilefacenet",
        Preprocess("RGB", (127.5, 127.5, 127.5), 1 / 128),
        size=112,
        cut=1.18,
        source="MobileFaceNet (ArcFace-style); measured on mobilefacenet_128.onnx: LFW stranger "
        "pairs as often under 1.18 as dlib's under 0.4",
    ),
    "arcface": EmbedderKind(
        "arcface",
        Preprocess("RGB", (127.5, 127.5, 127.5), 1 / 127.5),
        size=112,
        cut=1.22,
        source="InsightFace w600k_*/glintr100 (model_zoo/arcface_onnx.py: mean 127.5, std "
        "127.5, swapRB); cut: cosine similarity 0.25, uncalibrated here (no file to measure)",
    ),
    "sface": EmbedderKind(
        "sface",
        Preprocess("RGB", (0.0, 0.0, 0.0), 1.0),
        size=112,
        cut=1.128,
        source="OpenCV zoo face_recognition_sface (FaceRecognizerSF: blobFromImage, swapRB, "
        "no mean, no scale); cut: OpenCV's documented L2 threshold 1.128 (cosine 0.363)",
    ),
}

YUNET_OUTPUTS = frozenset(
    f"{part}_{stride}" for part in ("cls", "obj", "bbox", "kps") for stride in (8, 16, 32)
)


def _image_input(sig: Signature, what: str) -> tuple[int | str, int | str]:
    """(height, width) of the graph's one NCHW 3-channel input, or a ModelError."""
    if len(sig.inputs) != 1 or len(sig.inputs[0].shape) != 4 or sig.inputs[0].shape[1] != 3:
        raise ModelError(
            f"{what}: not a face model this faceatlas knows: it does not take one 3-channel "
            f"image (N, 3, H, W) ({sig.describe()})"
        )
    return sig.inputs[0].shape[2], sig.inputs[0].shape[3]


def detector_kind_of(sig: Signature, what: str) -> str:
    """The row of :data:`DETECTOR_KINDS` whose outputs ``sig`` has.

    - ``yunet``: twelve outputs ``cls_8`` ... ``kps_32``;
    - ``retinaface``: three outputs ending in 4 (boxes), 2 (scores) and 10 (landmarks);
    - ``ultraface``: two outputs ending in 2 (scores) and 4 (boxes);
    - ``scrfd``: six or nine outputs: scores (last dimension 1) for strides 8, 16, 32, then box
      distances (4), then, if present, landmarks (10).
    """
    _image_input(sig, what)
    lasts = [t.last for t in sig.outputs]
    if {t.name for t in sig.outputs} == YUNET_OUTPUTS:
        return "yunet"
    if len(lasts) == 3 and sorted(map(str, lasts)) == ["10", "2", "4"]:
        return "retinaface"
    if len(lasts) == 2 and sorted(map(str, lasts)) == ["2", "4"]:
        return "ultraface"
    if len(lasts) in (6, 9) and lasts[:6] == [1, 1, 1, 4, 4, 4] and lasts[6:] in ([], [10] * 3):
        return "scrfd"
    raise ModelError(
        f"{what}: its outputs match no face detector this faceatlas knows "
        f"({', '.join(DETECTOR_KINDS)}): {sig.describe()}; if it is one of those, say which "
        "with --detector-kind"
    )


# Recognizers whose inputs and outputs are alike (NCHW 112x112 in, one vector out) differ in
# preprocessing; these signatures tell them apart (first match wins).
EMBEDDER_SIGNATURES = (
    # (kind, input name or None for any, output name or None, output dimension or None)
    ("sface", "data", "fc1", 128),
    ("mobilefacenet", "input", "output", 128),
    ("arcface", None, None, 512),
)


def embedder_kind_of(sig: Signature, what: str) -> str:
    """The row of :data:`EMBEDDER_KINDS` for a recognizer graph (:data:`EMBEDDER_SIGNATURES`)."""
    height, width = _image_input(sig, what)
    if (height, width) != (112, 112) or len(sig.outputs) != 1:
        raise ModelError(
            f"{what}: not a face recognizer this faceatlas knows: expected one 112x112 image in "
            f"and one vector out ({sig.describe()})"
        )
    dim = sig.outputs[0].last
    for kind, input_name, output_name, size in EMBEDDER_SIGNATURES:
        if (
            (input_name is None or sig.inputs[0].name == input_name)
            and (output_name is None or sig.outputs[0].name == output_name)
            and (size is None or dim == size)
        ):
            return kind
    raise ModelError(
        f"{what}: a 112x112 recognizer whose preprocessing this faceatlas cannot tell "
        f"({sig.describe()}); say which it is with --embedder-kind ({', '.join(EMBEDDER_KINDS)})"
    )
