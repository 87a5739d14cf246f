"""dlib detection at the --min-face scale, and landmarks at given boxes."""

from __future__ import annotations

import numpy as np
import pytest

from faceatlas.decode import load_rgb
from faceatlas.faces.dlib_detect import DlibDetector, detection_scale
from tests.conftest import data


def test_detection_scale_follows_min_face_and_caps_pixels() -> None:
    assert detection_scale(250, 250, min_face=40, window=80, max_pixels=2_500_000) == 2.0
    assert detection_scale(250, 250, min_face=80, window=80, max_pixels=2_500_000) == 1.0
    assert detection_scale(1000, 1000, min_face=160, window=80, max_pixels=2_500_000) == 0.5
    # A 24-megapixel photo at 2x would be 96 MP; it is searched at 2.5 MP instead.
    scale = detection_scale(6000, 4000, min_face=40, window=80, max_pixels=2_500_000)
    assert 6000 * 4000 * scale**2 == pytest.approx(2_500_000)


def test_min_face_trades_small_faces_for_speed() -> None:
    rgb = load_rgb(data("group-photos", "ultra-light-imgs", "1.jpg"))
    small = DlibDetector(min_face=40).detect(rgb)
    large = DlibDetector(min_face=160).detect(rgb)
    assert len(small) > len(large)
    assert all(min(d.box[2] - d.box[0], d.box[3] - d.box[1]) >= 100 for d in large)


def test_lfw_face_found_in_the_middle() -> None:
    rgb = load_rgb(data("lfw", "Colin_Powell", "Colin_Powell_0001.jpg"))
    for min_face in (40, 80):  # LFW faces are ~110 px: no upsampling needed to find them
        faces = DlibDetector(min_face=min_face).detect(rgb)
        centre = min(faces, key=lambda d: abs((d.box[0] + d.box[2]) / 2 - 125))
        left, top, right, bottom = centre.box
        assert 40 < left < 125 < right < 210 and 40 < top < 125 < bottom < 220
        assert centre.landmarks.shape == (5, 2) and centre.score > 0


def test_locate_places_landmarks_in_given_boxes() -> None:
    rgb = load_rgb(data("lfw", "Colin_Powell", "Colin_Powell_0001.jpg"))
    detector = DlibDetector()
    found = detector.detect(rgb)
    again = detector.locate(rgb, [d.box for d in found], [d.score for d in found])
    for a, b in zip(found, again, strict=True):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)
        assert a.score == b.score
    assert detector.locate(rgb, []) == []
    (shifted,) = detector.locate(rgb, [(0.0, 0.0, 60.0, 60.0)])
    assert shifted.score == 0.0
    assert np.all(shifted.landmarks.mean(axis=0) < 80)  # landmarks stay near the box
