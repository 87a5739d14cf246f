"""The ONNX conversion of dlib's face-recognition ResNet matches dlib itself."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from faceatlas.errors import ModelError
from faceatlas.faces import dlib_onnx
from faceatlas.faces.dlib_onnx import OnnxEmbedder, onnx_model_path
from faceatlas.faces.weights import LANDMARKS_5, RESNET, weight_file

dlib = pytest.importorskip("dlib")

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
PEOPLE = ("Aaron_Eckhart", "Abdullah_Gul", "Angelina_Jolie", "Colin_Powell", "Serena_Williams")


@pytest.fixture(scope="module")
def chips() -> np.ndarray:
    """150x150 chips of a few LFW faces, made the way dlib's Python examples make them."""
    if not LFW.is_dir():
        pytest.skip(f"LFW images not found at {LFW}")
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weight_file(LANDMARKS_5)))
    found = []
    for person in PEOPLE:
        images = sorted((LFW / person).glob("*.jpg"))
        if not images:
            continue
        image = dlib.load_rgb_image(str(images[0]))
        boxes = detector(image, 1)
        if boxes:
            box = max(boxes, key=lambda b: b.area())
            found.append(dlib.get_face_chip(image, predictor(image, box), size=150, padding=0.25))
    if len(found) < 3:
        pytest.skip(f"fewer than 3 of {PEOPLE} found in {LFW}")
    return np.stack(found)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_model_path(cache_dir=tmp_path_factory.mktemp("cache"))


def test_matches_dlib(chips: np.ndarray, model_path: Path) -> None:
    facerec = dlib.face_recognition_model_v1(str(weight_file(RESNET)))
    expected = np.array([facerec.compute_face_descriptor(chip) for chip in chips])

    got = OnnxEmbedder(model_path, threads=1, batch_size=2).embed(chips)

    assert got.dtype == np.float32 and got.shape == (len(chips), 128)
    assert np.abs(got - expected).max() <= 1e-4
    got_norm, expected_norm = np.linalg.norm(got, axis=1), np.linalg.norm(expected, axis=1)
    assert ((got * expected).sum(1) / got_norm / expected_norm).min() >= 0.9999
    # Raw descriptors: dlib's are not unit length, and neither are ours.
    np.testing.assert_allclose(got_norm, expected_norm, rtol=1e-5)


def test_batching_does_not_change_results(chips: np.ndarray, model_path: Path) -> None:
    one_by_one = OnnxEmbedder(model_path, threads=1, batch_size=1).embed(chips)
    all_at_once = OnnxEmbedder(model_path, threads=1, batch_size=len(chips)).embed(chips)
    np.testing.assert_allclose(one_by_one, all_at_once, atol=1e-6)


def test_cache_file_is_reused(model_path: Path) -> None:
    before = model_path.stat()
    again = onnx_model_path(cache_dir=model_path.parent)
    assert again == model_path
    assert again.stat().st_mtime_ns == before.st_mtime_ns and again.stat().st_ino == before.st_ino
    assert [p.name for p in model_path.parent.iterdir()] == [model_path.name]


def test_cache_is_keyed_by_content_not_path(model_path: Path, tmp_path: Path) -> None:
    copy = tmp_path / "renamed.dat"
    copy.write_bytes(weight_file(RESNET).read_bytes())
    assert onnx_model_path(copy, cache_dir=model_path.parent) == model_path


def test_truncated_dat_raises_and_caches_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "broken.dat"
    broken.write_bytes(weight_file(RESNET).read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"cannot read the dlib face model .*unexpected end"):
        onnx_model_path(broken, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_pickled_embedder_works(chips: np.ndarray, model_path: Path) -> None:
    embedder = OnnxEmbedder(model_path, threads=1)
    expected = embedder.embed(chips[:2])

    clone = pickle.loads(pickle.dumps(embedder))

    assert clone.model_path == model_path and clone._session is None
    np.testing.assert_array_equal(clone.embed(chips[:2]), expected)


def test_provider_choice(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert OnnxEmbedder(model_path)._choose_providers() == ["CPUExecutionProvider"]
    with pytest.raises(RuntimeError, match="none of"):
        OnnxEmbedder(model_path, providers=["CUDAExecutionProvider"])._choose_providers()


def test_rejects_wrong_chips(model_path: Path) -> None:
    embedder = OnnxEmbedder(model_path)
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(np.zeros((1, 150, 150, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(np.zeros((150, 150, 3), dtype=np.uint8))
    assert embedder.embed(np.zeros((0, 150, 150, 3), dtype=np.uint8)).shape == (0, 128)


def test_reader_decodes_dlib_numbers() -> None:
    # Hand-encoded: 300 = 0x012c in 2 bytes; -5 has the 0x80 sign bit; 0.75 = 3 * 2**-2;
    # "ab" is its length then its bytes.
    reader = dlib_onnx._Reader(b"\x02\x2c\x01\x81\x05\x01\x03\x81\x02\x01\x02ab1")
    assert reader.int() == 300
    assert reader.int() == -5
    assert reader.float() == 0.75
    assert reader.string() == "ab"
    assert reader.bool() is True
    assert reader.at_end()
