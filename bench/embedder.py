"""Benchmark the ONNX conversion of dlib's face-recognition ResNet against dlib.

Usage::

    .venv/bin/python bench/embedder.py [--lfw ../shared/data/lfw] [--faces 500]

Takes the first image of each LFW person in name order until ``--faces`` faces
are found (HOG detector, largest face, 5-point landmarks, 150x150 chips), then
prints ONNX-vs-dlib equality over all faces, ONNX ms/face per batch size and
thread count, dlib's ms/face on the same chips, and the compute floor.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import dlib
import numpy as np
import onnx

from faceatlas.faces.dlib_onnx import OnnxEmbedder, onnx_model_path
from faceatlas.faces.weights import LANDMARKS_5, RESNET, weight_file

BATCH_SIZES = (1, 8, 32, 128)
THREADS = (1, 2)
FLOP_RATE_PER_CORE = 100e9  # rough AVX2 FMA single-core rate, for the floor only


def load_chips(lfw: Path, n_faces: int) -> tuple[np.ndarray, int]:
    """Chips of the first ``n_faces`` people (in name order) with a detected face."""
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(weight_file(LANDMARKS_5)))
    chips = []
    scanned = 0
    for person in sorted(p for p in lfw.iterdir() if p.is_dir()):
        if len(chips) == n_faces:
            break
        scanned += 1
        image = dlib.load_rgb_image(str(min(person.glob("*.jpg"))))
        boxes = detector(image, 1)
        if not boxes:
            continue
        box = max(boxes, key=lambda b: b.area())
        chips.append(dlib.get_face_chip(image, predictor(image, box), size=150, padding=0.25))
    return np.stack(chips), scanned


def conv_flops(model_path: Path) -> float:
    """Multiply-adds x 2 of the Conv and MatMul nodes for one face."""
    model = onnx.shape_inference.infer_shapes(onnx.load(str(model_path)))
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.value_info, *model.graph.output]
    }
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    flops = 0.0
    for node in model.graph.node:
        if node.op_type == "Conv":
            _, _, h, w = shapes[node.output[0]]
            c_out, c_in, kh, kw = weights[node.input[1]]
            flops += 2 * c_out * c_in * kh * kw * h * w
        elif node.op_type == "MatMul":
            rows, cols = weights[node.input[1]]
            flops += 2 * rows * cols
    return flops


def ms_per_face(fn, chips: np.ndarray) -> float:
    start = time.perf_counter()
    fn(chips)
    return 1000 * (time.perf_counter() - start) / len(chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_lfw = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
    parser.add_argument("--lfw", type=Path, default=default_lfw)
    parser.add_argument("--faces", type=int, default=500)
    args = parser.parse_args()

    start = time.perf_counter()
    chips, scanned = load_chips(args.lfw, args.faces)
    seconds = time.perf_counter() - start
    print(f"faces: {len(chips)} (first image of {scanned} people), detected in {seconds:.1f} s")

    facerec = dlib.face_recognition_model_v1(str(weight_file(RESNET)))
    model_path = onnx_model_path()
    start = time.perf_counter()
    reference = np.array(facerec.compute_face_descriptor(list(chips)), dtype=np.float64)
    dlib_ms = 1000 * (time.perf_counter() - start) / len(chips)

    ours = OnnxEmbedder(model_path, threads=1).embed(chips).astype(np.float64)
    norms = np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1)
    cosine = (ours * reference).sum(1) / norms
    diff = np.abs(ours - reference).max()
    print(
        f"equality vs dlib: max abs diff {diff:.2e}, "
        f"min cosine {cosine.min():.9f} (1 - min cosine = {1 - cosine.min():.1e})"
    )

    print("onnx ms/face     " + "".join(f"  batch {b:>3}" for b in BATCH_SIZES))
    best = np.inf
    for threads in THREADS:
        row = []
        for batch in BATCH_SIZES:
            embedder = OnnxEmbedder(model_path, threads=threads, batch_size=batch)
            embedder.embed(chips[:batch])  # warm-up
            ms = ms_per_face(embedder.embed, chips)
            row.append(ms)
            if threads == 1:
                best = min(best, ms)
        print(f"  {threads} thread(s)     " + "".join(f"  {ms:9.2f}" for ms in row))

    print(f"dlib compute_face_descriptor(list of chips), one process: {dlib_ms:.2f} ms/face")
    print(f"dlib / onnx (1 thread, best batch): {dlib_ms / best:.2f}x")
    flops = conv_flops(model_path)
    rate = FLOP_RATE_PER_CORE
    print(
        f"floor at {rate / 1e9:.0f} GFLOP/s per core: "
        f"{flops / 1e9:.2f} GFLOP/face counted from the graph = {1000 * flops / rate:.1f} ms/face; "
        f"the usual 0.75 GFLOP/face estimate = {1000 * 0.75e9 / rate:.1f} ms/face"
    )


if __name__ == "__main__":
    main()
