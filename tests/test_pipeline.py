"""The face pipeline's options: flip, jitter (dlib's, in numpy), faces at known boxes, embedder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.decode import load_rgb
from faceatlas.faces.align import face_chips, jitter_chips, jitter_maps
from faceatlas.faces.dlib_onnx import OnnxEmbedder
from faceatlas.faces.pipeline import FacePipeline, ModelConfig
from tests.conftest import data, faceatlas


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return ModelConfig().build()


@pytest.fixture(scope="module")
def chips(pipeline: FacePipeline) -> np.ndarray:
    """Aligned chips of three LFW faces."""
    found = []
    for name in ("Aaron_Eckhart", "Colin_Powell", "Serena_Williams"):
        rgb = load_rgb(data("lfw", name, f"{name}_0001.jpg"))
        found.append(face_chips(rgb, pipeline.detector.detect(rgb)[:1]))
    return np.concatenate(found)


def test_jitter_maps_are_small_seeded_perturbations() -> None:
    maps = jitter_maps(150, 16)
    assert maps.shape == (16, 150, 150, 2)
    np.testing.assert_array_equal(maps, jitter_maps(150, 16))
    assert not np.array_equal(maps, jitter_maps(150, 16, seed=1))
    grid = np.stack(np.meshgrid(np.arange(150), np.arange(150)), axis=-1)
    unflipped = np.abs(maps - grid).max(axis=(1, 2, 3))
    flipped = np.abs(maps - grid[:, ::-1]).max(axis=(1, 2, 3))
    # dlib's jitter: shift <= 2 %, scale 0.97-1, rotation <= 3 degrees -> a few pixels at most,
    # either as is or mirrored left-right (about half of them).
    assert np.all(np.minimum(unflipped, flipped) < 16)
    assert 3 <= np.sum(flipped < unflipped) <= 13


def test_jitter_chips_resamples_bilinearly() -> None:
    chip = np.arange(150 * 150 * 3, dtype=np.int64).reshape(150, 150, 3) % 251
    chip = chip.astype(np.uint8)
    grid = np.stack(np.meshgrid(np.arange(150), np.arange(150)), axis=-1).astype(float)
    shifted = grid.copy()
    shifted[..., 0] += 0.5  # half a pixel right: the mean of horizontal neighbours
    out = jitter_chips(chip, np.stack([grid, shifted]))
    np.testing.assert_array_equal(out[0, :149, :149], chip[:149, :149])
    expected = ((chip[:149, :148].astype(float) + chip[:149, 1:149]) / 2).astype(np.uint8)
    np.testing.assert_array_equal(out[1, :149, :148], expected)
    # dlib's bilinear needs the pixel right of and below the point: the last row and column
    # fall outside and are black, as in dlib.
    assert not out[:, 149].any() and not out[1, :, 149].any()


def test_onnx_jitter_averages_jittered_chips(chips: np.ndarray) -> None:
    plain = OnnxEmbedder(threads=1).embed(chips)
    jittered = OnnxEmbedder(threads=1, jitter=6, batch_size=4).embed(chips)
    by_hand = OnnxEmbedder(threads=1).embed(jitter_chips(chips[1], jitter_maps(150, 6))).mean(0)

    np.testing.assert_allclose(jittered[1], by_hand, atol=1e-5)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    moved = np.linalg.norm(unit(jittered) - unit(plain), axis=1)
    assert np.all((moved > 0.005) & (moved < 0.2))
    # A face's jittered embedding does not depend on the other faces in the call.
    alone = OnnxEmbedder(threads=1, jitter=6).embed(chips[1:2])
    np.testing.assert_allclose(alone[0], jittered[1], atol=1e-5)
    # dlib's convention: 1 jitter means none.
    np.testing.assert_array_equal(OnnxEmbedder(threads=1, jitter=1).embed(chips), plain)


def test_flip_averages_the_chip_and_its_mirror(pipeline: FacePipeline) -> None:
    rgb = load_rgb(data("lfw", "Colin_Powell", "Colin_Powell_0001.jpg"))
    (flipped,) = pipeline.analyze(rgb)[:1]
    (plain,) = ModelConfig(flip=False).build().analyze(rgb)[:1]
    chip = face_chips(rgb, pipeline.detector.detect(rgb)[:1])
    raw = OnnxEmbedder(threads=1).embed(np.concatenate([chip, chip[:, :, ::-1]]))
    by_hand = raw.mean(axis=0) / np.linalg.norm(raw.mean(axis=0))
    np.testing.assert_allclose(flipped.embedding, by_hand, atol=1e-5)
    np.testing.assert_allclose(plain.embedding, raw[0] / np.linalg.norm(raw[0]), atol=1e-5)
    # the same face in the same space, a little moved: far below any same-person threshold
    assert 0.01 < np.linalg.norm(flipped.embedding - plain.embedding) < 0.2
    assert pipeline.flip and not ModelConfig(jitter=4).build().flip  # jitter mirrors by itself


def test_jitter_with_onnx_is_accepted() -> None:
    assert ModelConfig(embedder="onnx", jitter=10).jitter == 10
    with pytest.raises(ValueError, match="jitter"):
        ModelConfig(jitter=-1)
    with pytest.raises(ValueError, match="embedder"):
        ModelConfig(embedder="torch")


def test_faces_at_detected_boxes_matches_analyze(pipeline: FacePipeline) -> None:
    rgb = load_rgb(data("people-fr", "biden", "biden.jpg"))
    detected = pipeline.analyze(rgb)
    assert detected

    again = pipeline.faces_at(rgb, [f.box for f in detected])

    for a, b in zip(detected, again, strict=True):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1.0)
        assert float(a.embedding @ b.embedding) > 0.999
        assert b.score == 0.0


def test_cli_embedder_dlib_gives_the_onnx_vectors(tmp_path: Path) -> None:
    photo = data("people-fr", "obama", "obama.jpg")
    vectors = {}
    for embedder in ("onnx", "dlib"):
        db = tmp_path / f"{embedder}.db"
        faceatlas("index", photo, "--db", db, "--embedder", embedder, "--workers", "1", "-q")
        with Catalog(db) as catalog:
            vectors[embedder] = catalog.face_matrix().vectors
    assert vectors["onnx"].shape == vectors["dlib"].shape and len(vectors["onnx"]) >= 1
    np.testing.assert_allclose(vectors["onnx"], vectors["dlib"], atol=1e-4)
