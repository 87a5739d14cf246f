"""Seconds to load N face embeddings from a catalog as one float32 matrix (target: 1 M in seconds).

Peer in the same run: the row-by-row load a naive implementation does (np.frombuffer per row,
then np.stack).

    .venv/bin/python bench/catalog_load.py --faces 1000000
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.db"
        rng = np.random.default_rng(0)
        landmarks = np.zeros((5, 2), np.float32)
        with Catalog(path) as catalog:
            catalog.face_set_for(ModelConfig().spec())
            for start in range(0, args.faces, 1000):  # one image of 1,000 faces at a time
                vectors = rng.normal(size=(min(1000, args.faces - start), 128)).astype(np.float32)
                catalog.add_results([ImageResult(
                    f"/x/{start}.jpg", 1, 1, "ok",
                    faces=[Face((0, 0, 1, 1), landmarks, 1.0, v) for v in vectors],
                )])
        with Catalog(path) as catalog:
            started = time.perf_counter()
            matrix = catalog.face_matrix()
            ours = time.perf_counter() - started
        with sqlite3.connect(path) as conn:  # the peer: what a naive reader of the file does
            started = time.perf_counter()
            rows = conn.execute("SELECT embedding FROM faces ORDER BY id")
            naive = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
            peer = time.perf_counter() - started
        assert naive.shape == matrix.vectors.shape
    print(f"faces {args.faces:,}: face_matrix {ours:.2f} s, row-by-row stack {peer:.2f} s, "
          f"ratio {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
