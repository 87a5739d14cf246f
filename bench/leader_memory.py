"""Peak memory of `cluster --method leader` streaming from the catalog vs loading every
embedding at once (the in-memory path the other methods take), on N synthetic faces.

Each measurement runs in a fresh process; peak RSS is read from the kernel (ru_maxrss).

    .venv/bin/python bench/leader_memory.py --faces 1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult

CHILD = """
import resource, sys, time
from faceatlas.catalog import Catalog
from faceatlas.people.cluster import cluster_catalog
from faceatlas.people.leader import Leader
with Catalog(sys.argv[1]) as catalog:
    started = time.perf_counter()
    if sys.argv[2] == "stream":
        s = cluster_catalog(catalog, method="leader", threshold=0.3)
        people = s.people
    else:
        matrix = catalog.face_matrix(order="path")
        people = int(Leader(threshold=0.3).fit(matrix.vectors).labels_.max()) + 1
    seconds = time.perf_counter() - started
print(people, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def build(path: Path, faces: int, people: int) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(people, 128)).astype(np.float32)
    landmarks = np.zeros((5, 2), np.float32)
    with Catalog(path) as catalog:
        catalog.face_set_for(ModelConfig().spec())
        for start in range(0, faces, 100_000):
            n = min(100_000, faces - start)
            v = centres[rng.integers(0, people, n)] + rng.normal(scale=0.12, size=(n, 128))
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            catalog.add_results(  # one photo per face
                ImageResult(f"/x/{start + i}.jpg", 1, 1, "ok",
                            faces=[Face((0, 0, 1, 1), landmarks, 1.0, row.astype(np.float32))])
                for i, row in enumerate(v)
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.db"
        started = time.perf_counter()
        build(path, args.faces, args.people)
        print(f"catalog of {args.faces:,} faces ({args.people:,} synthetic people) built in "
              f"{time.perf_counter() - started:.0f} s")
        for mode in ("stream", "matrix"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode],
                                 capture_output=True, text=True, check=True).stdout.split()
            people, seconds, peak = int(out[0]), float(out[1]), float(out[2])
            label = "leader streaming (faceatlas)" if mode == "stream" else "whole matrix + fit"
            print(f"{label:32s} people {people:6d}  {seconds:6.1f} s  peak RSS {peak:7.0f} MB")


if __name__ == "__main__":
    main()
