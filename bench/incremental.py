"""New photos joining existing people: as good as grouping all at once, and how fast.

Usage::

    .venv/bin/python bench/incremental.py quality [--catalog .cache/lfw.db] [--method infomap]
    .venv/bin/python bench/incremental.py speed [--sizes 10000,100000] [--added 1,100,1000]

``quality``: the faces of a labelled catalog (default the LFW catalog of bench/common.py; any
catalog of ``<identity>/<photo>`` folders, e.g. celeba-dev, works) are copied, photo by photo in
a random order, into two fresh catalogs. One groups all photos at once; the other groups the
first 80 % and then adds the other 20 % with ``assign_new_faces`` (faces join existing people
or form new ones, nothing is regrouped). Pairwise and BCubed F of both against the folders.

``speed``: synthetic LFW-like embeddings (bench/lfw_like.py), N faces grouped (by their true
identity: the grouping's cost is not measured here), then B new photos of one face each added;
milliseconds per added photo for ``assign_new_faces`` (reading the catalog, the neighbour
search, grouping the rest, storing), which is what a photo costs beyond its detection.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import lfw_like
import numpy as np
from common import DEFAULT_LFW_CATALOG, require

from faceatlas.catalog import Catalog
from faceatlas.evaluate import folder_labels, score_labels
from faceatlas.faces.record import Face, ImageResult
from faceatlas.faces.spec import ModelSpec
from faceatlas.people.cluster import cluster_catalog
from faceatlas.people.incremental import assign_new_faces

NO_LANDMARKS = np.zeros((5, 2), np.float32)


def _photos(source: Catalog) -> list[ImageResult]:
    """Every photo of ``source``'s face set with its stored faces, as index results."""
    matrix = source.face_matrix()
    vector = dict(zip(matrix.face_ids.tolist(), matrix.vectors, strict=True))
    by_image: dict[str, list[Face]] = {}
    for row in source.faces():
        by_image.setdefault(row.image_path, []).append(
            Face(row.box, NO_LANDMARKS, row.score, vector[row.face_id], 1.0)
        )
    return [ImageResult(path, 1, 1, "ok", 1, 1, faces=faces) for path, faces in by_image.items()]


def _catalog(path: Path, spec: ModelSpec, photos: list[ImageResult]) -> Catalog:
    catalog = Catalog(path)
    catalog.face_set_for(spec)
    for start in range(0, len(photos), 2000):
        catalog.add_results(photos[start : start + 2000])
    return catalog


def _score(catalog: Catalog) -> dict:
    face_ids, people = catalog.assignments()
    scores = score_labels(folder_labels(catalog), face_ids, people)
    return {"pairwise_f": round(scores.pairwise_f, 4), "bcubed_f": round(scores.bcubed_f, 4)}


def quality(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:  # a copy: opening may upgrade its schema
        copy = Path(tmp, "source.db")
        shutil.copy(require(Path(args.catalog)), copy)
        with Catalog(copy) as source:
            spec = source.face_set.spec
            photos = _photos(source)
    order = np.random.default_rng(args.seed).permutation(len(photos))
    photos = [photos[i] for i in order]
    first = int(len(photos) * args.share)
    settings = {"method": args.method, "threshold": args.threshold}
    with tempfile.TemporaryDirectory() as tmp:
        with _catalog(Path(tmp, "all.db"), spec, photos) as whole:
            started = time.monotonic()
            cluster_catalog(whole, **settings)
            at_once = {**_score(whole), "seconds": round(time.monotonic() - started, 2),
                       "cut": whole.clustering()["params"]["threshold"]}  # fmt: skip
        with _catalog(Path(tmp, "grown.db"), spec, photos[:first]) as grown:
            cluster_catalog(grown, **settings)
            grown.add_results(photos[first:])
            started = time.monotonic()
            done = assign_new_faces(grown)
            added = {**_score(grown), "seconds": round(time.monotonic() - started, 2),
                     "joined": done.joined, "new_faces": done.new_faces,
                     "new_people": done.new_people, "waiting": done.waiting}  # fmt: skip
    return {"catalog": str(args.catalog), "photos": len(photos), "first": first,
            "method": args.method, "all_at_once": at_once, "incremental": added}  # fmt: skip


def speed(args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:  # fitted on a copy: opening may upgrade it
        copy = Path(tmp, "lfw.db")
        if not lfw_like.STATS.exists():
            shutil.copy(require(DEFAULT_LFW_CATALOG), copy)
        stats = lfw_like.load(copy)
    spec = ModelSpec(detector="synthetic", min_face=40, embedder="lfw-like", dim=len(stats.mean))
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        added = [int(b) for b in args.added.split(",")]
        X, identity = lfw_like.sample(stats, size + sum(added), seed=args.seed)
        photos = [
            ImageResult(f"/syn/{i:07d}.jpg", 1, 1, "ok", 1, 1,
                        faces=[Face((0, 0, 9, 9), NO_LANDMARKS, 1.0, X[i], 1.0)])
            for i in range(len(X))
        ]  # fmt: skip
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            with _catalog(Path(tmp, "c.db"), spec, photos[:size]) as catalog:
                built = time.monotonic() - started
                catalog.save_clustering("truth", {"threshold": args.threshold},
                                        catalog.face_matrix().face_ids, identity[:size])
                offset = size
                for batch in added:
                    catalog.add_results(photos[offset : offset + batch])
                    started = time.monotonic()
                    done = assign_new_faces(catalog)
                    seconds = time.monotonic() - started
                    truth = identity[offset : offset + batch]
                    rows.append({
                        "faces": offset, "added": batch, "seconds": round(seconds, 3),
                        "ms_per_photo": round(1000 * seconds / batch, 2),
                        "joined": done.joined, "new_people": done.new_people,
                        "new_faces_of_new_people": int(np.sum(~np.isin(truth, identity[:size]))),
                        "catalog_build_s": round(built, 1),
                    })  # fmt: skip
                    print(json.dumps(rows[-1]), file=sys.stderr)
                    offset += batch
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--catalog", default=str(DEFAULT_LFW_CATALOG))
    q.add_argument("--method", default="infomap")
    q.add_argument("--threshold", default="auto")
    q.add_argument("--share", type=float, default=0.8, help="share of photos grouped first")
    q.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("speed")
    s.add_argument("--sizes", default="10000,100000")
    s.add_argument("--added", default="1,100,1000")
    s.add_argument("--threshold", type=float, default=0.4)
    s.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if getattr(args, "threshold", None) not in (None, "auto") and args.what == "quality":
        args.threshold = float(args.threshold)
    result = quality(args) if args.what == "quality" else speed(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
