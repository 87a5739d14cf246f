"""Face extraction speed and agreement: faceatlas against the ``face_recognition`` package.

Usage::

    .venv/bin/python bench/extract.py [--lfw-images 500] [--sets lfw,wild] [--min-face 40]
                                      [--no-flip] [--detector hog|cnn|retinaface|FILE.onnx]
    .venv/bin/python bench/extract.py --group-photos [--models ../shared/models]
    .venv/bin/python bench/extract.py --fit-box-maps 800 [--models ../shared/models]

Both pipelines see the same images in one run: (a) ``--lfw-images`` LFW images spread over the
alphabet (every 26th file in name order) and (b) every photo in ``people-deepface`` and
``group-photos`` at full size. For each set it prints images/s in one process (= per core) for
``face_recognition`` 1.3 (``load_image_file``, ``face_locations`` = HOG at upsample 1,
``face_encodings``) and for faceatlas (decode, HOG at the ``--min-face`` scale, 5 landmarks,
chips, ONNX ResNet, by default on each chip and its mirror: the code a worker runs), the ratio,
the faces each found, and, with ``--no-flip`` (face_recognition's vectors exactly), whether the
two agree on the faces both found (matched by box IoU >= 0.5; cosine of the embeddings). Then
faceatlas once more as ``faceatlas index --workers 2`` would run it (spawned workers, catalog
writes), and the embedder alone at batch sizes 1, 8, 32 and 128 against the compute floor.
``--detection-variants N`` instead times dlib's HOG alone in colour and grey, upsampled by dlib
or Pillow or not at all (the table in docs/model.md).

``--group-photos`` counts the faces each detector finds on the 33 photos of ``group-photos``
(HOG, the bundled RetinaFace, and the RetinaFace, YuNet and UltraFace files of ``--models``;
``--with-cnn`` adds dlib's CNN, minutes per photo on a CPU), with the time per photo, then the
bundled RetinaFace's faces at each score cut and ``--min-face``, and how many of them no other
detector confirms (no YuNet or UltraFace box at score >= 0.3 with IoU >= 0.3): the measurements
behind its default score cut. ``--fit-box-maps N`` refits ``faces/boxmap.py``'s maps (detector
box -> HOG's box) and ``faces/arcface.py``'s ``DLIB_POINTS_TEMPLATE`` on N LFW images.

``face_recognition`` is a benchmark-only dependency: ``pip install --no-deps face_recognition``;
its ``face_recognition_models`` import needs ``pkg_resources`` (``setuptools<81``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from common import DATA, LFW, require
from embedder import BATCH_SIZES, FLOP_RATE_PER_CORE, conv_flops, load_chips, ms_per_face

from faceatlas.catalog import Catalog
from faceatlas.decode import DEFAULT_MAX_PIXELS
from faceatlas.engines.task import analyze_image
from faceatlas.faces.dlib_onnx import OnnxEmbedder, onnx_model_path
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig, index_paths
from faceatlas.sources import iter_image_files

WILD = ("people-deepface", "group-photos")


@dataclass(slots=True)
class Run:
    """One pipeline over one image set: seconds and, per image, boxes and unit embeddings."""

    seconds: float = 0.0
    boxes: list[np.ndarray] = field(default_factory=list)  # (n, 4) left, top, right, bottom
    vectors: list[np.ndarray] = field(default_factory=list)  # (n, 128) unit rows

    @property
    def faces(self) -> int:
        return sum(len(b) for b in self.boxes)


def lfw_sample(count: int) -> list[Path]:
    paths = sorted(require(LFW).glob("*/*.jpg"))
    return paths[:: max(1, len(paths) // count)][:count]


def wild_photos() -> list[Path]:
    return [Path(item.path) for item in iter_image_files([require(DATA / d) for d in WILD])]


def unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64).reshape(-1, 128)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def run_face_recognition(paths: list[Path]) -> Run:
    import face_recognition

    run = Run()
    start = time.perf_counter()
    for path in paths:
        image = face_recognition.load_image_file(str(path))
        locations = face_recognition.face_locations(image)  # HOG, upsample 1: its default
        encodings = face_recognition.face_encodings(image, locations)
        boxes = [(left, top, right, bottom) for top, right, bottom, left in locations]
        run.boxes.append(np.array(boxes).reshape(-1, 4))
        run.vectors.append(unit(np.array(encodings)))
    run.seconds = time.perf_counter() - start
    return run


def group_photos(models: Path, with_cnn: bool) -> None:
    """Faces found on the group photos by each detector, and the RetinaFace score-cut table."""
    from faceatlas.decode import load_rgb
    from faceatlas.faces.dlib_detect import DlibDetector
    from faceatlas.faces.onnx_detect import OnnxDetector
    from faceatlas.faces.pipeline import ONNX_MIN_FACE, RETINAFACE_SCORE
    from faceatlas.faces.weights import BUNDLED_RETINAFACE

    photos = [Path(i.path) for i in iter_image_files([require(DATA / "group-photos")])]
    retina = f"retinaface, bundled (score {RETINAFACE_SCORE}"
    detectors: dict[str, object] = {
        "hog (--min-face 40)": DlibDetector("hog", 40),
        f"{retina}, --min-face 40)": OnnxDetector(
            BUNDLED_RETINAFACE, "retinaface", 40, score=RETINAFACE_SCORE
        ),
        f"{retina}, --min-face {ONNX_MIN_FACE}: its defaults)": OnnxDetector(
            BUNDLED_RETINAFACE, "retinaface", ONNX_MIN_FACE, score=RETINAFACE_SCORE
        ),
        f"{retina}, --min-face 16)": OnnxDetector(
            BUNDLED_RETINAFACE, "retinaface", 16, score=RETINAFACE_SCORE
        ),
    }
    files = {
        "retinaface_mnet025_640.onnx": "retinaface",
        "face_detection_yunet_2026may.onnx": "yunet",
        "ultraface_rfb_320.onnx": "ultraface",
    }
    for name, kind in files.items():
        if (models / name).is_file():
            detectors[f"{name} ({kind}, its defaults)"] = OnnxDetector(
                models / name, kind, ONNX_MIN_FACE
            )
    if with_cnn:
        detectors["cnn (--min-face 40)"] = DlibDetector("cnn", 40)
    images = [load_rgb(path) for path in photos]
    print(f"\n== faces found on {len(photos)} group photos ==")
    for label, detector in detectors.items():
        detector.detect(images[0])  # load outside the timing
        start, faces = time.perf_counter(), 0
        for rgb in images:
            faces += len(detector.detect(rgb))
        ms = 1000 * (time.perf_counter() - start) / len(images)
        print(f"{label:62s} {faces:5d} faces {ms:8.1f} ms/photo", flush=True)

    others = [
        OnnxDetector(models / name, kind, 8, score=0.3)
        for name, kind in files.items()
        if kind != "retinaface" and (models / name).is_file()
    ]
    candidates = OnnxDetector(BUNDLED_RETINAFACE, "retinaface", 16, score=0.3)
    cuts, sizes = (0.5, 0.7, 0.8, 0.9, 0.95), (16, 20, 24, 32, 40)
    found = {(c, m): [0, 0] for c in cuts for m in sizes}
    for rgb in images:
        confirm = np.array([d.box for o in others for d in o.detect(rgb)]).reshape(-1, 4)
        for face in candidates.detect(rgb):
            box = np.array([face.box])
            alone = not len(confirm) or iou(box, confirm).max() < 0.3
            for c, m in found:
                if face.score >= c and face.box[2] - face.box[0] >= m:
                    found[c, m][0] += 1
                    found[c, m][1] += alone
    print("\n== bundled RetinaFace: faces (unconfirmed by YuNet/UltraFace) by score cut ==")
    print("min-face " + "".join(f"{c:>16}" for c in cuts))
    for m in sizes:
        print(f"{m:8d} " + "".join(f"{found[c, m][0]:>10d} ({found[c, m][1]:>3d})" for c in cuts))


def fit_box_maps(count: int, models: Path) -> None:
    """Refit the detector-box -> HOG-box maps and dlib's points on ArcFace chips, on LFW."""
    from faceatlas.decode import load_rgb
    from faceatlas.faces.arcface import ARCFACE_TEMPLATE, similarity
    from faceatlas.faces.boxmap import BOX_MAPS
    from faceatlas.faces.dlib_detect import DlibDetector
    from faceatlas.faces.onnx_detect import OnnxDetector
    from faceatlas.faces.weights import BUNDLED_RETINAFACE

    everything = sorted(require(LFW).glob("*/*.jpg"))
    step = max(1, len(everything) // count)
    hog = DlibDetector("hog", 40)
    detectors = {"retinaface": OnnxDetector(BUNDLED_RETINAFACE, "retinaface", 20, score=0.5)}
    for name, kind in (("face_detection_yunet_2026may.onnx", "yunet"),
                       ("ultraface_rfb_320.onnx", "ultraface")):  # fmt: skip
        if (models / name).is_file():
            detectors[kind] = OnnxDetector(models / name, kind, 20, score=0.5)

    def central(boxes: list) -> tuple | None:
        off = [abs((b[0] + b[2]) / 2 - 125) + abs((b[1] + b[3]) / 2 - 125) for b in boxes]
        return boxes[int(np.argmin(off))] if off and min(off) < 40 else None

    pairs: dict[str, list] = {kind: [] for kind in detectors}
    for path in everything[::step][:count]:
        rgb = load_rgb(path)
        theirs = central([d.box for d in hog.detect(rgb)])
        for kind, detector in detectors.items():
            ours = central([d.box for d in detector.detect(rgb)])
            if theirs is not None and ours is not None:
                pairs[kind].append((ours, theirs))
    print(f"\n== box maps, {count} LFW images (every {step}th) ==")
    for kind, rows in pairs.items():
        box, hog_box = np.array(rows, dtype=float).transpose(1, 0, 2)
        w, h = box[:, 2] - box[:, 0], box[:, 3] - box[:, 1]
        shift = (hog_box[:, :2] + hog_box[:, 2:]) / 2 - (box[:, :2] + box[:, 2:]) / 2
        a = float(np.linalg.lstsq(w[:, None], shift[:, 0], rcond=None)[0][0])
        b = float(np.linalg.lstsq(h[:, None], shift[:, 1], rcond=None)[0][0])
        side = hog_box[:, 2] - hog_box[:, 0]
        c, d = np.linalg.lstsq(np.stack([w, h], 1), side, rcond=None)[0]
        mapped = np.array([type(BOX_MAPS[kind])("fit", a, b, c, d)(tuple(x)) for x in box])
        err = np.abs(mapped - hog_box).mean(axis=1) / side
        raw = np.abs(box - hog_box).mean(axis=1) / side
        print(f"{kind}: {len(rows)} faces  a={a:.4f} b={b:.4f} c={c:.4f} d={d:.4f}  "
              f"error {err.mean():.3f} of the side (unmapped {raw.mean():.3f})")  # fmt: skip

    retina = detectors["retinaface"]
    points = []
    for path in everything[8::step][:count]:
        rgb = load_rgb(path)
        faces = retina.detect(rgb)
        if not faces:
            continue
        face = min(faces, key=lambda f: abs((f.box[0] + f.box[2]) / 2 - 125)
                   + abs((f.box[1] + f.box[3]) / 2 - 125))  # fmt: skip
        (located,) = hog.locate(rgb, [BOX_MAPS["retinaface"](face.box)])
        matrix = similarity(face.landmarks, ARCFACE_TEMPLATE)
        points.append(located.landmarks @ matrix[:, :2].T + matrix[:, 2])
    points = np.array(points)
    print(f"\n== dlib's 5 points on ArcFace chips, {len(points)} LFW faces ==")
    print("mean", np.round(points.mean(axis=0), 2).tolist())
    print("std ", np.round(points.std(axis=0), 2).tolist())


def run_faceatlas(paths: list[Path], model: ModelConfig) -> Run:
    pipeline = model.build()
    items = list(iter_image_files(paths))
    analyze_image(pipeline, items[0], DEFAULT_MAX_PIXELS)  # load the models outside the timing
    run = Run()
    start = time.perf_counter()
    for item in items:
        faces = analyze_image(pipeline, item, DEFAULT_MAX_PIXELS).faces or []
        run.boxes.append(np.array([f.box for f in faces]).reshape(-1, 4))
        run.vectors.append(unit(np.array([f.embedding for f in faces])))
    run.seconds = time.perf_counter() - start
    return run


def run_index(paths: list[Path], model: ModelConfig, workers: int) -> float:
    """Seconds for ``faceatlas index`` with ``workers`` processes into a fresh catalog."""
    with tempfile.TemporaryDirectory() as tmp:
        links = Path(tmp) / "images"
        links.mkdir()
        for i, path in enumerate(paths):  # one folder, so the catalog sees exactly these files
            (links / f"{i:05d}{path.suffix}").symlink_to(path)
        with Catalog(Path(tmp) / "bench.db") as catalog:
            summary = index_paths(catalog, [links], IndexConfig(model=model, workers=workers))
    return summary.seconds


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of boxes."""
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


AGREE_COSINE = 0.99  # the two pipelines agree on a face above this cosine
AGREE_SHARE = 0.99  # ... and on at least this share of the faces both found


def agreement(theirs: Run, ours: Run) -> tuple[int, np.ndarray]:
    """(faces both found, cosine of each matched pair), greedy matching by IoU >= 0.5."""
    cosines = []
    for boxes_a, vec_a, boxes_b, vec_b in zip(
        theirs.boxes, theirs.vectors, ours.boxes, ours.vectors, strict=True
    ):
        if not len(boxes_a) or not len(boxes_b):
            continue
        overlap = iou(boxes_a.astype(float), boxes_b.astype(float))
        while overlap.size and overlap.max() >= 0.5:
            i, j = np.unravel_index(np.argmax(overlap), overlap.shape)
            cosines.append(float(vec_a[i] @ vec_b[j]))
            overlap[i, :] = overlap[:, j] = -1
    return len(cosines), np.array(cosines)


def compare(name: str, paths: list[Path], model: ModelConfig, workers: int) -> None:
    print(f"\n== {name}: {len(paths)} images ==", flush=True)
    theirs = run_face_recognition(paths)
    ours = run_faceatlas(paths, model)
    fr_rate, our_rate = len(paths) / theirs.seconds, len(paths) / ours.seconds
    print(f"face_recognition 1.3, 1 process: {fr_rate:7.2f} images/s  {theirs.faces:5d} faces")
    print(f"faceatlas,        1 process: {our_rate:7.2f} images/s  {ours.faces:5d} faces")
    print(f"ratio per core: {our_rate / fr_rate:.2f}x")
    matched, cosines = agreement(theirs, ours)
    if model.flip:
        print("embeddings: mirror-averaged, not face_recognition's (--no-flip to compare them)")
    elif matched:
        agree = float(np.mean(cosines >= AGREE_COSINE))
        print(
            f"same faces: {matched} found by both; embedding cosine min {cosines.min():.5f}, "
            f"median {np.median(cosines):.5f}, {agree:.1%} >= {AGREE_COSINE}"
        )
        # The embedder alone is identical (bench/embedder.py); the rare lower cosines come from
        # boxes a pixel apart (Pillow's vs dlib's upsampling), which move the landmarks.
        verdict = "PASS" if agree >= AGREE_SHARE else "FAIL"
        print(
            f"agreement check: {verdict} ({agree:.1%} of shared faces at cosine >= "
            f"{AGREE_COSINE}; required {AGREE_SHARE:.0%})"
        )
    only_fr = sum(max(0, len(a) - len(b)) for a, b in zip(theirs.boxes, ours.boxes, strict=True))
    print(f"images where face_recognition found more faces: {only_fr} extra faces")
    if workers > 1:
        seconds = run_index(paths, model, workers)
        rate = len(paths) / seconds
        print(
            f"faceatlas index --workers {workers} (wall, incl. catalog): {rate:7.2f} images/s "
            f"= {rate / workers:.2f} per core, {rate / fr_rate:.2f}x face_recognition's one core"
        )


def detection_variants(name: str, paths: list[Path]) -> None:
    """Faces and ms/image of dlib's HOG alone: colour or grey, dlib's or Pillow's 2x, or 1x."""
    import dlib
    from PIL import Image

    from faceatlas.decode import load_rgb

    detector = dlib.get_frontal_face_detector()

    def twice(image: np.ndarray) -> np.ndarray:
        size = (image.shape[1] * 2, image.shape[0] * 2)
        return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))

    variants = {
        "dlib detector(rgb, 1) = face_recognition": lambda rgb, grey: detector(rgb, 1),
        "dlib detector(grey, 1)": lambda rgb, grey: detector(grey, 1),
        "Pillow 2x rgb (faceatlas --min-face 40)": lambda rgb, grey: detector(twice(rgb), 0),
        "Pillow 2x grey": lambda rgb, grey: detector(twice(grey), 0),
        "1x rgb (faceatlas --min-face 80)": lambda rgb, grey: detector(rgb, 0),
        "1x grey": lambda rgb, grey: detector(grey, 0),
    }
    images = [load_rgb(path) for path in paths]
    greys = [np.asarray(Image.fromarray(rgb).convert("L")) for rgb in images]
    print(f"\n== HOG variants, {name}: {len(paths)} images, no size cap ==")
    for label, detect in variants.items():
        start, faces = time.perf_counter(), 0
        for rgb, grey in zip(images, greys, strict=True):
            faces += len(detect(rgb, grey))
        ms = 1000 * (time.perf_counter() - start) / len(images)
        print(f"{label:42s} {faces:5d} faces {ms:8.1f} ms/image", flush=True)


def embedder_speed(faces: int) -> None:
    chips, _ = load_chips(require(LFW), faces)
    path = onnx_model_path()
    flops = conv_flops(path)
    floor = 1000 * flops / FLOP_RATE_PER_CORE
    print(f"\n== embedder alone, 1 thread, {len(chips)} LFW chips ==")
    for batch in BATCH_SIZES:
        embedder = OnnxEmbedder(path, threads=1, batch_size=batch)
        embedder.embed(chips[:batch])  # warm-up
        ms = ms_per_face(embedder.embed, chips)
        print(f"batch {batch:3d}: {ms:6.2f} ms/face ({ms / floor:.2f}x the {floor:.1f} ms floor)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-images", type=int, default=500)
    parser.add_argument("--sets", default="lfw,wild", help="comma-separated: lfw, wild")
    parser.add_argument("--min-face", type=int, default=None, help="faceatlas --min-face")
    parser.add_argument("--workers", type=int, default=2, help="also time index --workers N")
    parser.add_argument(
        "--flip",
        action=argparse.BooleanOptionalAction,
        default=ModelConfig().flip,
        help="faceatlas --flip (default) or --no-flip",
    )
    parser.add_argument("--embedder-faces", type=int, default=128, help="0: skip")
    parser.add_argument("--detector", default="hog", help="faceatlas --detector")
    parser.add_argument("--group-photos", action="store_true", help="faces found per detector")
    parser.add_argument("--with-cnn", action="store_true", help="--group-photos: dlib's CNN too")
    parser.add_argument("--fit-box-maps", type=int, default=0, metavar="N")
    parser.add_argument("--models", type=Path, default=DATA.parent / "models")
    parser.add_argument(
        "--detection-variants",
        type=int,
        default=0,
        metavar="N",
        help="only time HOG variants (colour/grey, 2x/1x) on N LFW images and the wild photos",
    )
    args = parser.parse_args()

    if args.group_photos:
        group_photos(args.models, args.with_cnn)
        return
    if args.fit_box_maps:
        fit_box_maps(args.fit_box_maps, args.models)
        return
    flip = "--flip" if args.flip else "--no-flip"
    print(
        f"cores: {os.cpu_count()}, faceatlas --detector {args.detector} "
        f"--min-face {args.min_face or 'default'} {flip}"
    )
    sets = set(args.sets.split(","))
    if args.detection_variants:
        if "lfw" in sets:
            sample = lfw_sample(args.lfw_images)[: args.detection_variants]
            detection_variants("LFW", sample)
        if "wild" in sets:
            detection_variants("people-deepface + group-photos", wild_photos())
        return
    model = ModelConfig(detector=args.detector, min_face=args.min_face, threads=1, flip=args.flip)
    if "lfw" in sets:
        compare("LFW sample (every 26th)", lfw_sample(args.lfw_images), model, args.workers)
    if "wild" in sets:
        compare("people-deepface + group-photos", wild_photos(), model, args.workers)
    if args.embedder_faces:
        embedder_speed(args.embedder_faces)


if __name__ == "__main__":
    main()
