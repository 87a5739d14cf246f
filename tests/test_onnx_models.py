"""Bring-your-own ONNX face models, with the real files in ../shared/models (skipped when absent):
kinds recognised from the graph, each detector on LFW and group photos, fast detectors feeding
dlib's embedder, an ArcFace-style recognizer end to end, two face sets in one catalog, clear
errors for files that are not face models."""

from __future__ import annotations

import json
import logging
import pickle
from pathlib import Path

import numpy as np
import pytest

from faceatlas.catalog import Catalog
from faceatlas.decode import load_rgb
from faceatlas.errors import ModelError, UsageError
from faceatlas.faces import onnx_session
from faceatlas.faces.arcface import ARCFACE_TEMPLATE, arcface_chips, similarity
from faceatlas.faces.onnx_detect import OnnxDetector
from faceatlas.faces.pipeline import DLIB_CUT, ModelConfig
from faceatlas.faces.spec import ModelSpec
from faceatlas.faces.weights import BUNDLED_RETINAFACE
from tests.conftest import REPO, data, faceatlas

MODELS = REPO.parent / "shared" / "models"
YUNET = "face_detection_yunet_2026may.onnx"
RETINA_640 = "retinaface_mnet025_640.onnx"
ULTRAFACE = "ultraface_rfb_320.onnx"
MOBILEFACENET = "mobilefacenet_128.onnx"


def model(name: str) -> Path:
    """A file of ../shared/models; skips the test with a message when it is absent."""
    path = MODELS / name
    if not path.is_file():
        pytest.skip(f"model file not available: {path} (see ../shared/models/README.md)")
    return path


def detector(name: str, min_face: int = 20) -> OnnxDetector:
    if name == "bundled":
        return OnnxDetector(BUNDLED_RETINAFACE, "retinaface", min_face)
    kind = {YUNET: "yunet", RETINA_640: "retinaface", ULTRAFACE: "ultraface"}[name]
    return OnnxDetector(model(name), kind, min_face)


def central(faces: list, width: int = 250):
    """The detection or face nearest the centre of an LFW image."""
    return min(faces, key=lambda f: abs((f.box[0] + f.box[2]) / 2 - width / 2))


@pytest.mark.parametrize(
    ("name", "kind"),
    [(YUNET, "yunet"), (RETINA_640, "retinaface"), (ULTRAFACE, "ultraface")],
)
def test_detector_kind_is_read_from_the_graph(name: str, kind: str) -> None:
    config = ModelConfig(detector=str(model(name)))
    assert config.onnx_detector_kind() == kind
    spec = config.spec()
    assert spec.detector == kind and spec.detector_file == str(model(name))
    assert len(spec.detector_sha256) == 64 and spec.score_cut > 0
    # dlib's embedder: dlib's landmarks placed in the mapped box, so its vectors stay dlib's
    assert spec.embedder == "dlib-resnet-v1" and spec.landmarks == "dlib-5pt"
    assert spec.box_map.startswith(kind) and spec.cut == DLIB_CUT


def test_recognizer_kind_dimension_and_cut_are_recorded() -> None:
    config = ModelConfig(detector="retinaface", embedder=str(model(MOBILEFACENET)))
    spec = config.spec()
    assert spec.embedder_kind == "mobilefacenet" and spec.dim == 128
    assert spec.embedder == f"mobilefacenet-{spec.embedder_sha256[:12]}"
    assert spec.landmarks == "detector" and spec.alignment == "arcface-112"
    assert spec.detector == "retinaface" and spec.detector_file == ""  # the bundled one
    assert 0.8 < spec.cut < 1.3  # calibrated on LFW: far above dlib's 0.4
    assert ModelSpec.from_json(spec.to_json()) == spec
    rebuilt = ModelConfig.from_spec(spec)
    assert rebuilt.spec() == spec and rebuilt.spec().cut == spec.cut
    # the cut is the embedder's property, not part of what made the faces
    assert ModelSpec.from_json(spec.to_json().replace(str(spec.cut), "0.5")) == spec


@pytest.mark.parametrize("name", ["bundled", RETINA_640, YUNET, ULTRAFACE])
def test_each_detector_finds_lfw_and_group_faces(name: str) -> None:
    found = detector(name)
    for person in ("Colin_Powell", "Serena_Williams", "Aaron_Eckhart"):
        rgb = load_rgb(data("lfw", person, f"{person}_0001.jpg"))
        face = central(found.detect(rgb))
        left, top, right, bottom = face.box
        assert 30 < left < 125 < right < 220 and 20 < top < 125 < bottom < 230, face.box
        assert face.score >= found.score
        if name == ULTRAFACE:
            assert face.landmarks.shape == (0, 2)  # no landmarks: the pipeline uses dlib's
        else:
            assert face.landmarks.shape == (5, 2)
    group = load_rgb(data("group-photos", "ultra-light-imgs", "1.jpg"))  # ~60 faces of 25-35 px
    faces = found.detect(group)
    assert len(faces) >= 35, len(faces)
    for face in faces:
        left, top, right, bottom = face.box
        assert right - left >= found.min_face
        for x, y in face.landmarks:  # landmarks inside their box (a little slack at the edge)
            pad = 0.1 * (right - left)
            assert left - pad <= x <= right + pad and top - pad <= y <= bottom + pad


def test_fixed_and_free_input_retinaface_agree() -> None:
    """The same network at a fixed 640x640 input (image fitted top-left) and at a free size."""
    rgb = load_rgb(data("people-fr", "biden", "biden.jpg"))
    free, fixed = detector("bundled", 40).detect(rgb), detector(RETINA_640, 40).detect(rgb)
    assert len(free) >= 1 and len(fixed) >= 1
    a, b = max(free, key=lambda f: f.score), max(fixed, key=lambda f: f.score)
    side = a.box[2] - a.box[0]
    assert np.abs(np.subtract(a.box, b.box)).max() < 0.15 * side
    assert np.abs(a.landmarks - b.landmarks).max() < 0.1 * side


@pytest.mark.parametrize("name", ["retinaface", YUNET, ULTRAFACE])
def test_fast_detectors_feed_dlibs_embedder(name: str) -> None:
    """Boxes mapped to HOG's shape: dlib's landmarks, chips and vectors stay dlib's."""
    detector_name = name if name == "retinaface" else str(model(name))
    fast = ModelConfig(detector=detector_name).build()
    hog = ModelConfig().build()
    vectors = {}
    for person, number in (("Colin_Powell", 1), ("Colin_Powell", 2), ("Aaron_Eckhart", 1)):
        rgb = load_rgb(data("lfw", person, f"{person}_{number:04d}.jpg"))
        a, b = central(fast.analyze(rgb)), central(hog.analyze(rgb))
        # the same face, embedded nearly alike through either detector's box
        assert np.linalg.norm(a.embedding - b.embedding) < 0.15
        assert np.abs(np.subtract(a.box, b.box)).max() < 0.2 * (b.box[2] - b.box[0])
        vectors[(person, number)] = a.embedding
    same = np.linalg.norm(vectors["Colin_Powell", 1] - vectors["Colin_Powell", 2])
    other = np.linalg.norm(vectors["Colin_Powell", 1] - vectors["Aaron_Eckhart", 1])
    assert same < DLIB_CUT < other


def test_similarity_and_warp_put_landmarks_on_the_template() -> None:
    rgb = load_rgb(data("lfw", "Colin_Powell", "Colin_Powell_0001.jpg"))
    face = central(detector("bundled").detect(rgb))
    matrix = similarity(face.landmarks, ARCFACE_TEMPLATE)
    moved = face.landmarks @ matrix[:, :2].T + matrix[:, 2]
    assert np.abs(moved - ARCFACE_TEMPLATE).max() < 6  # five points, four degrees of freedom
    # a synthetic image: a white dot at a landmark lands at its template position in the chip
    dot = np.zeros_like(rgb)
    x, y = np.round(face.landmarks[2]).astype(int)
    dot[y - 1 : y + 2, x - 1 : x + 2] = 255
    (chip,) = arcface_chips(dot, [face.landmarks])
    cy, cx = np.unravel_index(np.argmax(chip[..., 0]), chip.shape[:2])
    target = (np.array([x, y]) @ matrix[:, :2].T) + matrix[:, 2]
    assert abs(cx - target[0]) <= 1.5 and abs(cy - target[1]) <= 1.5


@pytest.mark.parametrize("detector_name", ["retinaface", ULTRAFACE])
def test_mobilefacenet_separates_people(detector_name: str) -> None:
    """RetinaFace's landmarks, or dlib's in UltraFace's boxes (no landmarks of its own)."""
    name = detector_name if detector_name == "retinaface" else str(model(detector_name))
    config = ModelConfig(detector=name, embedder=str(model(MOBILEFACENET)))
    spec = config.spec()
    pipeline = pickle.loads(pickle.dumps(config)).build()  # what a worker receives
    faces = {}
    for person, number in (
        ("Colin_Powell", 1),
        ("Colin_Powell", 2),
        ("Serena_Williams", 1),
        ("Serena_Williams", 2),
        ("Aaron_Eckhart", 1),
    ):
        rgb = load_rgb(data("lfw", person, f"{person}_{number:04d}.jpg"))
        face = central(pipeline.analyze(rgb))
        assert face.embedding.shape == (128,) and abs(np.linalg.norm(face.embedding) - 1) < 1e-5
        faces[person, number] = face.embedding
    distance = lambda a, b: float(np.linalg.norm(faces[a] - faces[b]))  # noqa: E731
    assert distance(("Colin_Powell", 1), ("Colin_Powell", 2)) < spec.cut
    assert distance(("Serena_Williams", 1), ("Serena_Williams", 2)) < spec.cut
    assert distance(("Colin_Powell", 1), ("Serena_Williams", 1)) > spec.cut
    assert distance(("Colin_Powell", 1), ("Aaron_Eckhart", 1)) > spec.cut


def test_a_recorded_model_file_must_be_there_unchanged(tmp_path: Path) -> None:
    copy = tmp_path / "mfn.onnx"
    copy.write_bytes(model(MOBILEFACENET).read_bytes())
    spec = ModelConfig(detector="retinaface", embedder=str(copy)).spec()
    assert spec.embedder_file == str(copy)
    copy.write_bytes(copy.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="changed since"):
        ModelConfig.from_spec(spec)
    copy.unlink()
    with pytest.raises(ModelError, match="is gone"):
        ModelConfig.from_spec(spec)


def test_files_that_are_not_face_models_raise_model_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.onnx"
    notes.write_text("my holiday notes, not a model\n" * 50)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(model(YUNET).read_bytes()[:5000])
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    for path, words in (
        (notes, "not a readable ONNX"),
        (truncated, "not a readable ONNX"),
        (empty, "empty"),
    ):
        for config in (ModelConfig(detector=str(path)), ModelConfig(embedder=str(path))):
            with pytest.raises(ModelError, match=words):
                config.check_files()
    # real ONNX files of the wrong kind: a recognizer as detector, a detector as recognizer
    with pytest.raises(ModelError, match="match no face detector"):
        ModelConfig(detector=str(model(MOBILEFACENET))).check_files()
    with pytest.raises(ModelError, match="not a face recognizer"):
        ModelConfig(embedder=str(model(YUNET))).check_files()
    with pytest.raises(ModelError, match="not found"):
        ModelConfig(detector=str(tmp_path / "missing.onnx")).check_files()
    with pytest.raises(UsageError, match="unknown detector"):
        ModelConfig(detector="mtcnn")
    with pytest.raises(UsageError, match="--detector-kind is for a detector file"):
        ModelConfig(detector="hog", detector_kind="yunet")


def test_a_bad_model_file_is_one_line_at_the_cli(tmp_path: Path) -> None:
    notes = tmp_path / "notes.onnx"
    notes.write_text("not a model\n" * 100)
    photo = data("people-fr", "obama", "obama.jpg")
    for option in ("--detector", "--embedder"):
        result = faceatlas("index", photo, "--db", tmp_path / "x.db", option, notes, check=False)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "notes.onnx" in lines[0] and "not a readable ONNX model" in lines[0]


def test_providers_fall_back_to_cpu_and_are_logged(monkeypatch, caplog) -> None:
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert onnx_session.choose_providers() == ["CPUExecutionProvider"]  # CUDA first, if there
    with pytest.raises(ModelError, match="none of the providers"):
        onnx_session.choose_providers(["CUDAExecutionProvider"])
    onnx_session._log_providers.cache_clear()
    with caplog.at_level(logging.INFO, logger="faceatlas.faces.onnx_session"):
        session = onnx_session.open_session(model(YUNET), "detector test", threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "ONNX Runtime on ['CPUExecutionProvider']" in caplog.text


def test_cnn_finds_small_faces_at_its_80px_window() -> None:
    """The CNN's smallest box is 80 px: searched at 80 / --min-face, it finds the school
    photo's 25-35 px faces (it found none when its window was taken to be 40 px)."""
    rgb = load_rgb(data("group-photos", "ultra-light-imgs", "1.jpg"))[150:330, 250:470]
    faces = ModelConfig(detector="cnn", min_face=25).build().detector.detect(rgb)
    assert len(faces) >= 4


def test_run_retinaface_mobilefacenet_groups_people(tmp_path: Path) -> None:
    """RetinaFace + MobileFaceNet end to end: index, cluster, export.

    ``--threshold auto`` reads dlib's stranger curve (people/threshold.py), so the cut is given:
    1.12 is where MobileFaceNet's LFW stranger curve reaches the share auto allows ~70 faces
    (10^-3.3; dlib's curve: 0.36). docs/model.md has both curves."""
    recognizer = model(MOBILEFACENET)
    out = tmp_path / "out"
    faceatlas(
        "run", data("people-deepface"), data("people-fr"), out, "--quiet", "--workers", "2",
        "--detector", "retinaface", "--embedder", recognizer, "--threshold", "1.12",
    )  # fmt: skip
    db = out / "faceatlas.db"
    with Catalog(db) as catalog:
        spec = catalog.face_set.spec
    assert spec.embedder_kind == "mobilefacenet" and spec.cut == pytest.approx(1.18)
    scores = json.loads(faceatlas("eval", "--db", db, "--labels", "folder", "--json").stdout)
    assert scores["pairwise_f"] >= 0.9, scores


def test_one_catalog_two_face_sets_each_searchable_and_clusterable(tmp_path: Path) -> None:
    photos = data("people-fr")
    db = tmp_path / "two.db"
    recognizer = model(MOBILEFACENET)
    faceatlas("index", photos, "--db", db, "-q", "--workers", "1")
    faceatlas(
        "index", photos, "--db", db, "-q", "--workers", "1",
        "--detector", "retinaface", "--embedder", recognizer,
    )  # fmt: skip
    with Catalog(db) as catalog:
        sets = {s.spec.embedder: s for s in catalog.face_sets()}
    assert len(sets) == 2
    dlib_set = sets["dlib-resnet-v1"]
    mfn_set = next(s for name, s in sets.items() if name.startswith("mobilefacenet-"))
    assert (dlib_set.spec.dim, mfn_set.spec.dim) == (128, 128)
    query = data("people-fr-queries", "obama1.jpg")
    for face_set, cut in ((dlib_set, "0.4"), (mfn_set, "1.12")):
        faceatlas("cluster", "--db", db, "--model", face_set.name, "--threshold", cut)
        found = json.loads(
            faceatlas(
                "search", query, "--db", db, "--model", face_set.name, "--json", "-k", "2"
            ).stdout
        )
        assert len(found) == 1, face_set.name
        best = found[0]["matches"][0]
        assert "/people-fr/obama/" in best["path"] and best["distance"] < face_set.spec.cut
    with Catalog(db, model=dlib_set.name) as catalog:
        dlib_faces = catalog.face_matrix()
    with Catalog(db, model=mfn_set.name) as catalog:
        mfn_faces = catalog.face_matrix()
    # the two sets never mix: each holds its own faces of the same photos
    assert not set(dlib_faces.face_ids.tolist()) & set(mfn_faces.face_ids.tolist())


# --------------------------------------------------------------------------- no model files needed


def signature(inputs: list[tuple[str, tuple]], outputs: list[tuple[str, tuple]]):
    from faceatlas.faces.onnx_session import Signature, Tensor

    return Signature(
        tuple(Tensor(n, s) for n, s in inputs), tuple(Tensor(n, s) for n, s in outputs)
    )


def test_kinds_are_recognised_from_signatures_alone() -> None:
    from faceatlas.faces.kinds import detector_kind_of, embedder_kind_of

    image = [("input.1", (1, 3, "?", "?"))]
    scrfd = [(f"s{i}", ("?", 1)) for i in range(3)] + [(f"b{i}", ("?", 4)) for i in range(3)]
    assert detector_kind_of(signature(image, scrfd), "det_500m") == "scrfd"
    with_points = scrfd + [(f"k{i}", ("?", 10)) for i in range(3)]
    assert detector_kind_of(signature(image, with_points), "det_10g") == "scrfd"
    chip = [("input.1", ("None", 3, 112, 112))]
    assert embedder_kind_of(signature(chip, [("683", (1, 512))]), "w600k_r50") == "arcface"
    sface = signature([("data", (1, 3, 112, 112))], [("fc1", (1, 128))])
    assert embedder_kind_of(sface, "sface") == "sface"
    with pytest.raises(ModelError, match="--embedder-kind"):
        embedder_kind_of(signature(chip, [("embedding", (1, 256))]), "mystery")
    with pytest.raises(ModelError, match="one 3-channel image"):
        detector_kind_of(signature([("x", (1, 150, 150, 3))], scrfd), "dlib resnet")


def test_scrfd_decoding_by_hand() -> None:
    """One anchor of stride 8 at cell (x=3, y=2), 2 anchors per cell: SCRFD's distances."""
    from faceatlas.faces.onnx_detect import decode_scrfd

    height, width = 32, 64  # stride 8: 4 x 8 cells; 16: 2 x 4; 32: 1 x 2
    cells = {8: 32, 16: 8, 32: 2}
    scores = [np.zeros((2 * n, 1), np.float32) for n in cells.values()]
    boxes = [np.zeros((2 * n, 4), np.float32) for n in cells.values()]
    points = [np.zeros((2 * n, 10), np.float32) for n in cells.values()]
    row = 2 * (2 * 8 + 3) + 1  # cell y=2, x=3, second anchor
    scores[0][row] = 0.9
    boxes[0][row] = [1, 2, 3, 4]  # left, top, right, bottom distances in strides
    points[0][row] = [0.5, 0.5] * 5
    found, score, marks = decode_scrfd(scores + boxes + points, height, width)
    assert score.argmax() == row and score.max() == pytest.approx(0.9)
    centre = np.array([3 * 8, 2 * 8])
    np.testing.assert_allclose(found[row], [centre[0] - 8, centre[1] - 16, centre[0] + 24,
                                            centre[1] + 32])  # fmt: skip
    np.testing.assert_allclose(marks[row], np.tile(centre + 4, (5, 1)))


def test_yunet_decoding_by_hand() -> None:
    from faceatlas.faces.onnx_detect import decode_yunet

    height, width = 64, 64
    out = {}
    for stride in (8, 16, 32):
        n = (height // stride) * (width // stride)
        for part, size in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
            out[f"{part}_{stride}"] = np.zeros((1, n, size))
    out["cls_16"][0, 5], out["obj_16"][0, 5] = 0.81, 1.0  # cell x=1, y=1 of the 4x4 grid
    out["bbox_16"][0, 5] = [0.5, 0.5, np.log(2), np.log(3)]
    boxes, scores, marks = decode_yunet(out, height, width)
    best = scores.argmax()
    assert scores[best] == pytest.approx(0.9)  # sqrt(cls * obj)
    np.testing.assert_allclose(boxes[best], [24 - 16, 24 - 24, 24 + 16, 24 + 24], atol=1e-9)
    np.testing.assert_allclose(marks[best], np.full((5, 2), 16.0))


def test_retinaface_priors_follow_biubug6() -> None:
    from faceatlas.faces.onnx_detect import retinaface_priors

    priors = retinaface_priors(640, 640)
    assert len(priors) == 16800  # the fixed 640x640 file's output length
    np.testing.assert_allclose(priors[:2], [[4, 4, 16, 16], [4, 4, 32, 32]])
    np.testing.assert_allclose(priors[-1], [624, 624, 512, 512])


def catalog_faces(db: Path) -> int:
    with Catalog(db) as catalog:
        return len(catalog.face_matrix().face_ids)


def test_a_pack_folder_gives_its_detector_and_recognizer(tmp_path: Path) -> None:
    from faceatlas.faces.pack import pack_models

    pack = tmp_path / "pack"
    pack.mkdir()
    for name in (RETINA_640, MOBILEFACENET):
        (pack / name).symlink_to(model(name))
    found = pack_models(pack)
    assert (found.detector.name, found.embedder.name) == (RETINA_640, MOBILEFACENET)
    db, photo = tmp_path / "pack.db", data("people-fr", "obama", "obama.jpg")
    faceatlas("index", photo, "--db", db, "--model-dir", pack, "-q", "--workers", "1")
    with Catalog(db) as catalog:
        spec = catalog.face_set.spec
    assert (spec.detector, spec.embedder_kind) == ("retinaface", "mobilefacenet")
    assert spec.detector_file.endswith(RETINA_640) and catalog_faces(db) == 1
    both = faceatlas("index", photo, "--db", db, "--model-dir", pack, "--detector", "hog",
                     check=False)  # fmt: skip
    assert both.returncode == 2 and "drop --detector or --model-dir" in both.stderr
    (pack / YUNET).symlink_to(model(YUNET))
    with pytest.raises(ModelError, match="expected one face detector"):
        pack_models(pack)
