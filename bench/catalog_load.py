"""Seconds to load N face embeddings from a catalog as one float32 matrix (target: 1 M in seconds).

Peer in the same run: the row-by-row load a naive implementation does (np.frombuffer per row,
then np.stack).

    .venv/bin/python bench/catalog_load.py --faces 1000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.db"
        rng = np.random.default_rng(0)
        with Catalog(path) as catalog, catalog.atomic() as conn:
            conn.execute("INSERT INTO images(id, path, size, mtime_ns, status, indexed_at)"
                         " VALUES (1, '/x', 1, 1, 'ok', 'now')")
            for start in range(0, args.faces, 100_000):
                block = rng.normal(size=(min(100_000, args.faces - start), 128))
                conn.executemany(
                    "INSERT INTO faces(image_id, left, top, right, bottom, score, landmarks,"
                    " embedding, embedding_norm, model) VALUES (1, 0, 0, 1, 1, 1, x'', ?, 1, 'm')",
                    ((v.astype(np.float32).tobytes(),) for v in block),
                )
        with Catalog(path) as catalog:
            started = time.perf_counter()
            matrix = catalog.face_matrix()
            ours = time.perf_counter() - started
            started = time.perf_counter()
            rows = catalog.conn.execute("SELECT embedding FROM faces ORDER BY id")
            naive = np.stack([np.frombuffer(r[0], dtype=np.float32) for r in rows])
            peer = time.perf_counter() - started
        assert naive.shape == matrix.vectors.shape
    print(f"faces {args.faces:,}: face_matrix {ours:.2f} s, row-by-row stack {peer:.2f} s, "
          f"ratio {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
