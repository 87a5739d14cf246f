"""Benchmark: `faceatlas report` of 10,000 LFW faces, cold (no thumbnails yet) and warm.

Copies the shared LFW catalog (``.cache/lfw.db``, built by ``bench/common.py``), keeps the
photos holding the first 10,000 faces (by path), clusters the copy with the defaults and
writes the report with folder labels. Run from the repository root::

    .venv/bin/python bench/report.py [--faces 10000] [--map pca] [--workers 0]

``--synthetic 100000`` instead times a catalog of random embeddings (N/10 people) whose photos
do not exist: everything but the cropping (which then fails fast), i.e. the cost of scale.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_LFW_CATALOG, REPO, require

from faceatlas.catalog import Catalog
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult, normalise
from faceatlas.outputs.report import ReportConfig, write_report
from faceatlas.people.cluster import cluster_catalog

LFW_IMAGES = 13_233


def subset_catalog(source: Path, target: Path, faces: int) -> None:
    """Copy ``source`` to ``target`` and keep only the photos of its first ``faces`` faces."""
    with Catalog(source) as catalog:
        done = catalog.stats()["images"]
        if done < LFW_IMAGES:
            sys.exit(f"{source} holds {done} of {LFW_IMAGES} LFW images; wait for it to complete")
        target.unlink(missing_ok=True)
        catalog.backup(target)  # consistent copy even while others read the WAL file
    with Catalog(target) as catalog:
        kept, total = set(), 0
        for image in (i for i in catalog.images() if i.face_count):  # by path
            if total + image.face_count > faces:
                break
            kept.add(image.path)
            total += image.face_count
        catalog.remove_images(i.path for i in catalog.images() if i.path not in kept)


def synthetic(faces: int, out: Path, map_method: str) -> dict:
    """Report of ``faces`` random faces in ``faces // 10`` people; photos absent."""
    db = REPO / ".cache" / f"report-synthetic-{faces}.db"
    db.unlink(missing_ok=True)
    rng = np.random.default_rng(0)
    centres = normalise(rng.normal(size=(max(1, faces // 10), 128)))[0]
    people = rng.integers(0, len(centres), faces)
    noise = 0.05 * rng.normal(size=(faces, 128)).astype(np.float32)
    vectors = normalise(centres[people] + noise)[0]
    landmarks = np.zeros((5, 2), np.float32)
    with Catalog(db) as catalog:
        catalog.face_set_for(ModelConfig().spec())
        catalog.add_results(
            ImageResult(
                f"/nonexistent/{i // 100}/{i}.jpg",
                1,
                1,
                "ok",
                250,
                250,
                faces=[Face((80, 80, 170, 170), landmarks, 1.0, vectors[i])],
            )
            for i in range(faces)
        )
        catalog.save_clustering(
            "synthetic", {"threshold": 0.4}, catalog.face_matrix().face_ids, people
        )
        logging.disable(logging.WARNING)  # one warning per missing photo
        shutil.rmtree(out, ignore_errors=True)
        summary = write_report(catalog, out, ReportConfig(map_method=map_method))
    db.unlink()
    return {
        "synthetic_faces": faces,
        "seconds": summary.seconds,
        "timings": summary.timings,
        "map_points": summary.map_points,
        "people": summary.people,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=10_000)
    parser.add_argument("--map", default="pca", choices=("pca", "tsne", "umap"))
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "report-bench")
    parser.add_argument("--synthetic", type=int, default=0, metavar="N")
    args = parser.parse_args()
    if args.synthetic:
        print(json.dumps(synthetic(args.synthetic, args.out, args.map), indent=2))
        return

    db = REPO / ".cache" / f"report-bench-{args.faces}.db"
    subset_catalog(require(DEFAULT_LFW_CATALOG), db, args.faces)
    results: dict = {"faces_asked": args.faces, "map": args.map}
    with Catalog(db) as catalog:
        started = time.monotonic()
        clustered = cluster_catalog(catalog)
        results["cluster_seconds"] = round(time.monotonic() - started, 2)
        results["clustering"] = {"method": clustered.method, **catalog.clustering()["params"]}
        results["faces"] = clustered.faces
        results["images"] = catalog.stats()["images"]
        config = ReportConfig(map_method=args.map, labels="folder", workers=args.workers)
        shutil.rmtree(args.out, ignore_errors=True)
        for run in ("cold", "warm"):
            summary = write_report(catalog, args.out, config)
            results[run] = {
                "seconds": summary.seconds,
                "timings": summary.timings,
                "thumbnails": summary.thumbnails,
                "map_points": summary.map_points,
                "people": summary.people,
                "people_shown": summary.people_shown,
            }
        results["scores"] = summary.scores
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    results["report_megabytes"] = round(size / 1e6, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
