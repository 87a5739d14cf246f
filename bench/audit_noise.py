"""Audit quality on injected label noise, and audit speed on all of LFW.

1. Audit LFW itself (all 13,233 images, the real folders) and time every step, the cross-folder
   all-pairs pass in particular. The report lands in ``--out/lfw`` (real label noise of LFW).
2. Link LFW's people with >= 2 images into a temporary folder, move a seeded random 2 % of the
   images into wrong folders, audit that folder, and score ``mislabeled.csv`` against the moved
   images: precision and recall at the default cut, precision@k (k = number moved). The
   folder-by-folder "keep the largest cluster" method (``outliers.csv``) is scored alongside.

The faces come from the LFW catalog (``bench/common.py``; symlinks resolve to its paths, so
nothing is indexed again). The catalog is copied first, so the shared file is only read.

    .venv/bin/python bench/audit_noise.py [--noise 0.02] [--seed 0] [--out .cache/audit-bench]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_LFW_CATALOG, LFW, REPO, require

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow
from faceatlas.outputs.audit import Dataset, audit_dataset, run_audit, scan_dataset
from faceatlas.outputs.audit.dataset import DatasetFaces


def copy_catalog(source: Path, target: Path) -> Path:
    """A consistent private copy of a (possibly busy) SQLite catalog."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    src.backup(dst)
    dst.close()
    src.close()
    return target


def audit_folder(root: Path, catalog: Catalog, out: Path, only_indexed: bool) -> dict:
    """Run the whole audit on ``root`` (no new indexing), write into ``out``; returns timings."""
    started = time.perf_counter()
    dataset = scan_dataset(root)
    known = catalog.known_images()
    missing = [p for p in dataset.real_paths if p not in known]
    if missing and not only_indexed:
        sys.exit(
            f"{len(missing)} of {len(dataset)} images are not in the catalog yet (e.g. "
            f"{missing[0]}); wait for the LFW catalog or pass --only-indexed"
        )
    scanned = time.perf_counter() - started
    # with every image known, indexing is a no-op here: it shows that the catalog is reused
    audit = audit_dataset(dataset, out, catalog, index=not missing, top=40)
    seconds = audit.seconds
    return {
        "images": len(dataset),
        "summary": audit.summary(),
        "seconds": {
            "scan": round(scanned + seconds["index"], 2),
            "load_faces": seconds["load_faces"],
            "hash_files": seconds["hash_files"],
            "analysis": seconds["analysis"],
            "write_csv_and_report": seconds["write"],
        },
    }


def people_folders(only: set[str] | None) -> dict[str, list[Path]]:
    """LFW people with >= 2 images (restricted to fully indexed ones when ``only`` is given)."""
    chosen = {}
    for person in sorted(p for p in require(LFW).iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) < 2:
            continue
        if only is not None and not all(str(p) in only for p in images):
            continue
        chosen[person.name] = images
    return chosen


def inject_noise(people: dict[str, list[Path]], dest: Path, share: float, seed: int) -> set[str]:
    """Symlink every image into ``dest/<person>/``, except a random ``share`` that goes into a
    random other person's folder. Returns the moved images' dataset paths."""
    rng = random.Random(seed)
    everyone = [(name, path) for name, paths in people.items() for path in paths]
    moved_idx = set(rng.sample(range(len(everyone)), round(share * len(everyone))))
    names = sorted(people)
    moved = set()
    for i, (name, path) in enumerate(everyone):
        folder = name
        if i in moved_idx:
            while folder == name:
                folder = rng.choice(names)
        target = dest / folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
        if i in moved_idx:
            moved.add(str(target))
    return moved


def flagged_paths(csv_path: Path, majority_only: bool = False) -> list[str]:
    """The ``path`` column of a ranked CSV (optionally without rows of no-majority folders)."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return [
            row["path"]
            for row in csv.DictReader(handle)
            if not (majority_only and row.get("no_majority") == "1")
        ]


def score(
    csv_path: Path, moved: set[str], majority_only: bool = False, known: set[str] = frozenset()
) -> dict:
    """Precision, recall and precision@k of a ranked CSV's ``path`` column against ``moved``.

    ``known``: real paths the audit of unmodified LFW already flags (LFW's own label noise);
    ``precision_new`` leaves them out of the count.
    """
    flagged = flagged_paths(csv_path, majority_only)
    hits = [p in moved for p in flagged]
    k = len(moved)
    tp = sum(hits)
    fresh = [p for p in flagged if p in moved or os.path.realpath(p) not in known]
    result = {
        "flagged": len(flagged),
        "precision": round(tp / len(flagged), 4) if flagged else 0.0,
        "recall": round(tp / k, 4) if k else 0.0,
        "precision_at_k": round(sum(hits[:k]) / k, 4) if k else 0.0,
        "k": k,
    }
    if known:
        result["false_alarms_already_flagged_in_lfw"] = len(flagged) - len(fresh)
        result["precision_new"] = round(tp / len(fresh), 4) if fresh else 0.0
    return result


def scale_run(n: int, seed: int = 0) -> dict:
    """The analysis alone on ``n`` synthetic identities-like unit vectors (5 per folder, 1 %
    moved): time of each step and peak memory, to show the cost grows without an N x N matrix."""
    rng = np.random.default_rng(seed)
    dim, per = 128, 5
    folders = n // per
    mean = rng.normal(size=dim)
    mean /= np.linalg.norm(mean)
    centres = mean + 0.45 * rng.normal(size=(folders, dim)).astype(np.float32) / np.sqrt(dim)
    label = np.repeat(np.arange(folders), per)
    X = centres[label] + 0.22 * rng.normal(size=(len(label), dim)).astype(np.float32) / np.sqrt(dim)
    X = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
    observed = label.copy()
    moved = rng.choice(len(label), size=len(label) // 100, replace=False)
    observed[moved] = (label[moved] + 1 + rng.integers(0, folders - 1, len(moved))) % folders
    names = [f"id{f:07d}" for f in observed]
    paths = [f"/synthetic/{name}/{i}.jpg" for i, name in enumerate(names)]
    dataset = Dataset(root=Path("/synthetic"), paths=paths, real_paths=paths, folders=names)
    rows = [
        FaceRow(i, i, p, (0, 0, 1, 1), np.zeros((5, 2), np.float32), 1.0, None, None)
        for i, p in enumerate(paths)
    ]
    faces = DatasetFaces(rows, X, [[i] for i in range(len(X))], ["ok"] * len(X), [""] * len(X))
    digests = [f"{i:040x}" for i in range(len(X))]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = run_audit(dataset, faces, digests)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    found = {m.item for m in result.mislabeled}
    return {
        "n": len(X),
        "seconds_total": round(seconds, 2),
        "seconds": result.summary()["seconds"],
        "cpu_seconds": result.summary()["cpu_seconds"],
        "peak_rss_mb": round(peak / 1024),
        "rss_growth_mb": round((peak - before) / 1024),
        "n_by_n_float32_would_be_mb": round(len(X) ** 2 * 4 / 2**20),
        "suspect_pairs": len(result.suspect_pairs),
        "mislabeled_precision": round(len(found & set(moved.tolist())) / max(1, len(found)), 4),
        "mislabeled_recall": round(len(found & set(moved.tolist())) / len(moved), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_LFW_CATALOG)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "audit-bench")
    parser.add_argument("--noise", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only-indexed",
        action="store_true",
        help="use only the images the catalog already has (while it is still being built)",
    )
    parser.add_argument("--skip-full", action="store_true", help="skip the audit of LFW itself")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        help="instead: time the analysis on this many synthetic embeddings (memory check)",
    )
    args = parser.parse_args()
    if args.scale:
        print(json.dumps({"scale": scale_run(args.scale, args.seed)}, indent=2))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(copy_catalog(require(args.catalog), args.out / "lfw-copy.db"))
    report: dict = {"catalog_images": catalog.stats()["images"]}

    if not args.skip_full:
        full = audit_folder(LFW, catalog, args.out / "lfw", args.only_indexed)
        report["lfw"] = full
        print(json.dumps({"lfw": full}, indent=2), flush=True)

    known: set[str] = set()  # LFW's own findings (from this run or an earlier one), to tell
    clean = args.out / "lfw" / "mislabeled.csv"  # them apart from real false alarms
    if clean.is_file():
        known = set(flagged_paths(clean))
    only = set(catalog.known_images()) if args.only_indexed else None
    people = people_folders(only)
    with tempfile.TemporaryDirectory(prefix="audit-noise-") as tmp:
        root = Path(tmp) / "dataset"
        moved = inject_noise(people, root, args.noise, args.seed)
        noisy = audit_folder(root, catalog, args.out / "noise", args.only_indexed)
        quality = {
            "people": len(people),
            "images": sum(len(v) for v in people.values()),
            "moved": len(moved),
            "noise": args.noise,
            "seed": args.seed,
            "mislabeled_csv": score(args.out / "noise" / "mislabeled.csv", moved, known=known),
            "largest_cluster_only": score(args.out / "noise" / "outliers.csv", moved),
            "largest_cluster_only_majority_folders": score(
                args.out / "noise" / "outliers.csv", moved, majority_only=True
            ),
            "audit": noisy,
        }
        (args.out / "noise" / "moved.txt").write_text(
            "\n".join(os.path.relpath(p, root) for p in sorted(moved)) + "\n", encoding="utf-8"
        )
    report["noise"] = quality
    print(json.dumps({"noise": quality}, indent=2))
    (args.out / f"results-seed{args.seed}.json").write_text(
        json.dumps(report, indent=2) + "\n", encoding="utf-8"
    )
    catalog.close()


if __name__ == "__main__":
    main()
