"""A fast detector's box, mapped to the box dlib's HOG would draw, for dlib's 5-point predictor.

dlib's 5-point landmark predictor starts from the detector's box and was trained on HOG's (and
the CNN's) boxes; RetinaFace, YuNet and UltraFace draw their boxes differently (taller, from the
forehead to below the chin). A small linear map turns one into the other, so the landmarks, the
chips and therefore the embeddings stay dlib's:

    centre_x' = centre_x + a * width           side' = c * width + d * height
    centre_y' = centre_y + b * height          (HOG's boxes are square)

fitted by least squares on LFW: 800 images (every 16th file in name order), the central face
found by both HOG (at ``--min-face 40``, 2x) and the detector (790 / 788 / 789 faces). The fit's
mean error is 5.8 % of the box side (HOG's own boxes are quantised to its pyramid levels), against
10 % for the unmapped boxes. SCRFD (no file here to fit on) uses RetinaFace's map: both are
trained on WIDER FACE's box convention. See docs/model.md.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BoxMap:
    """One detector's box -> HOG-shaped box, with the version recorded in the model spec."""

    name: str
    a: float
    b: float
    c: float
    d: float

    def __call__(self, box: tuple[float, float, float, float]) -> tuple[float, ...]:
        """Map one (left, top, right, bottom) box.

        >>> BoxMap("identity", 0, 0, 1, 0)((10, 20, 30, 40))
        (10.0, 20.0, 30.0, 40.0)
        """
        left, top, right, bottom = box
        width, height = right - left, bottom - top
        cx = (left + right) / 2 + self.a * width
        cy = (top + bottom) / 2 + self.b * height
        half = (self.c * width + self.d * height) / 2
        return (float(cx - half), float(cy - half), float(cx + half), float(cy + half))


BOX_MAPS = {
    "retinaface": BoxMap("retinaface-hog-lfw1", -0.0188, 0.0489, 0.6787, 0.3102),
    "yunet": BoxMap("yunet-hog-lfw1", -0.0200, 0.0420, 0.6492, 0.3482),
    "ultraface": BoxMap("ultraface-hog-lfw1", -0.0226, 0.0606, 0.6177, 0.3589),
    "scrfd": BoxMap("retinaface-hog-lfw1", -0.0188, 0.0489, 0.6787, 0.3102),
}


def clipped(box: tuple[float, ...], width: int, height: int) -> tuple[float, float, float, float]:
    left, top, right, bottom = box
    return (
        max(0.0, left),
        max(0.0, top),
        min(float(width), right),
        min(float(height), bottom),
    )
