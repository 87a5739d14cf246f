"""Audit and clean quality on injected label noise, and audit speed on all of LFW.

1. Audit LFW itself (all 13,233 images, the real folders) and time every step, the cross-folder
   all-pairs pass in particular. The report lands in ``--out/lfw`` (real label noise of LFW).
2. Link LFW's people with >= 2 images into a temporary folder and plant noise, one scenario each:
   ``--noise`` moves a seeded random share of the images into wrong folders; ``--unknown`` adds
   that share of photos of people with a single LFW image (people with no folder here) into
   random folders. Each noisy copy is audited and cleaned (``faceatlas clean``, symlink mode):
   ``mislabeled.csv`` is scored against the planted images (precision, recall, precision@k, and
   which folder it suggests for them: the true one, none -- "unknown person" --, or a wrong
   one); the folder-by-folder "keep the largest cluster" list (``outliers.csv``) alongside; and
   ``removed.csv`` of the clean (precision and recall of what it removed).

The faces come from the LFW catalog (``bench/common.py``; symlinks resolve to its paths, so
nothing is indexed again). The catalog is copied first (SQLite's backup API), so the shared file
is only read.

    .venv/bin/python bench/audit_noise.py [--noise 0.02,0.05,0.1,0.2] [--unknown 0.05,0.1]
                                          [--seed 0] [--skip-full] [--out .cache/audit-bench]
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
from faceatlas.outputs.audit import (
    CleanConfig,
    Dataset,
    audit_dataset,
    clean_dataset,
    run_audit,
    scan_dataset,
)
from faceatlas.outputs.audit.dataset import DatasetFaces


def copy_catalog(source: Path, target: Path) -> Path:
    """A consistent private copy of a (possibly busy) catalog; the source is only read.

    SQLite's backup API on a read-only connection, not ``Catalog(source).backup``: opening the
    shared catalog as a ``Catalog`` would migrate it in place when it was made by an older
    faceatlas. The copy is migrated when the bench opens it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
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


def inject_noise(
    people: dict[str, list[Path]],
    dest: Path,
    share: float,
    seed: int,
    strangers: list[Path] | None = None,
) -> dict[str, str]:
    """Symlink every image into ``dest/<person>/``; a random ``share`` of them goes into a random
    other person's folder instead. With ``strangers`` (photos of people who have no folder),
    ``share`` x the images are added into random folders instead, nothing is moved.

    Returns the planted images' dataset paths -> their true folder ("" for a stranger).
    """
    rng = random.Random(seed)
    everyone = [(name, path) for name, paths in people.items() for path in paths]
    count = round(share * len(everyone))
    moved_idx = set() if strangers else set(rng.sample(range(len(everyone)), count))
    names = sorted(people)
    planted = {}
    for i, (name, path) in enumerate(everyone):
        folder = name
        if i in moved_idx:
            while folder == name:
                folder = rng.choice(names)
        target = dest / folder / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
        if i in moved_idx:
            planted[str(target)] = name
    for path in rng.sample(strangers, count) if strangers else []:
        target = dest / rng.choice(names) / path.name
        target.symlink_to(path)
        planted[str(target)] = ""
    return planted


def strangers_of(only: set[str] | None) -> list[Path]:
    """Photos of LFW people with a single image: people the noisy dataset has no folder for."""
    return [
        images[0]
        for person in sorted(p for p in require(LFW).iterdir() if p.is_dir())
        if len(images := sorted(person.glob("*.jpg"))) == 1
        and (only is None or str(images[0]) in only)
    ]


def read_rows(csv_path: Path) -> list[dict]:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def flagged_paths(csv_path: Path, majority_only: bool = False) -> list[str]:
    """The ``path`` column of a ranked CSV (optionally without rows of no-majority folders)."""
    return [
        row["path"]
        for row in read_rows(csv_path)
        if not (majority_only and row.get("no_majority") == "1")
    ]


def score(
    csv_path: Path,
    planted: dict[str, str],
    majority_only: bool = False,
    known: set[str] = frozenset(),
) -> dict:
    """Precision, recall and precision@k of a ranked CSV's ``path`` column against the planted
    images (path -> true folder, "" for a person with no folder).

    ``known``: real paths the audit of unmodified LFW already flags (LFW's own label noise);
    ``precision_new`` leaves them out of the count. For ``mislabeled.csv`` the suggestions of
    the planted images found are counted too: the true folder, "unknown person" (empty), or a
    wrong folder.
    """
    rows = [
        row for row in read_rows(csv_path)
        if not (majority_only and row.get("no_majority") == "1")
    ]  # fmt: skip
    flagged = [row["path"] for row in rows]
    hits = [p in planted for p in flagged]
    k = len(planted)
    tp = sum(hits)
    fresh = [p for p in flagged if p in planted or os.path.realpath(p) not in known]
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
    if rows and "suggested_folder" in rows[0]:
        said = [(planted[r["path"]], r["suggested_folder"]) for r in rows if r["path"] in planted]
        result["suggested"] = {
            "true_folder": sum(1 for truth, got in said if truth and got == truth),
            "unknown_person": sum(1 for _, got in said if not got),
            "wrong_folder": sum(1 for truth, got in said if got and got != truth),
        }
        others = [r["suggested_folder"] for r in rows if r["path"] not in planted]
        result["suggested"]["folder_for_unplanted"] = sum(1 for got in others if got)
    return result


def score_clean(out: Path, planted: dict[str, str]) -> dict:
    """The photos ``faceatlas clean`` left out against the planted ones.

    ``judged``: in the folders it kept, the photos it left out for their face (other person,
    outlier) -- precision against the planted photos, recall over the planted photos in those
    folders (removed for any reason). ``all``: everything left out, whole folders below the
    minimum included. Also the reasons given, the likely folder named for planted photos, and the
    planted photos that were kept (the noise left in the cleaned set).
    """
    removed = read_rows(out / "removed.csv")
    kept = read_rows(out / "kept.csv")
    folders = {row["folder"]: row["status"] for row in read_rows(out / "folders.csv")}
    in_kept = [r for r in removed if folders[r["folder"]] == "kept"]
    judged = [r for r in in_kept if r["reason"] in ("other person", "outlier")]
    planted_in_kept = sum(
        1 for p in planted if folders[os.path.basename(os.path.dirname(p))] == "kept"
    )

    def pr(rows: list[dict], found: list[dict], total: int) -> dict:
        tp = sum(1 for r in rows if r["path"] in planted)
        return {
            "removed": len(rows),
            "precision": round(tp / len(rows), 4) if rows else 0.0,
            "recall": round(sum(1 for r in found if r["path"] in planted) / total, 4)
            if total
            else 0.0,
        }

    reasons: dict[str, dict[str, int]] = {}
    for r in removed:
        kind = "planted" if r["path"] in planted else "not_planted"
        reasons.setdefault(r["reason"], {"planted": 0, "not_planted": 0})[kind] += 1
    said = [(planted[r["path"]], r["likely_folder"]) for r in removed if r["path"] in planted]
    return {
        "all": pr(removed, removed, len(planted)),
        "judged": {**pr(judged, in_kept, planted_in_kept), "planted": planted_in_kept},
        "reasons": reasons,
        "likely_folder": {
            "true_folder": sum(1 for truth, got in said if truth and got == truth),
            "none": sum(1 for _, got in said if not got),
            "wrong_folder": sum(1 for truth, got in said if got and got != truth),
        },
        "kept_images": len(kept),
        "planted_kept": sum(1 for r in kept if r["path"] in planted),
        "kept_folders": sum(1 for status in folders.values() if status == "kept"),
    }


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


def run_scenario(
    name: str,
    people: dict[str, list[Path]],
    catalog: Catalog,
    out: Path,
    share: float,
    seed: int,
    args: argparse.Namespace,
    known: set[str],
    strangers: list[Path] | None = None,
) -> dict:
    """Plant noise, audit the noisy copy and clean it; score both against the planted photos."""
    with tempfile.TemporaryDirectory(prefix="audit-noise-") as tmp:
        root = Path(tmp) / "dataset"
        planted = inject_noise(people, root, share, seed, strangers)
        noisy = audit_folder(root, catalog, out / "audit", args.only_indexed)
        result = {
            "scenario": name,
            "noise": share,
            "strangers": bool(strangers),
            "seed": seed,
            "images": sum(len(v) for v in people.values()) + (len(planted) if strangers else 0),
            "planted": len(planted),
            "mislabeled_csv": score(out / "audit" / "mislabeled.csv", planted, known=known),
            "largest_cluster_only": score(out / "audit" / "outliers.csv", planted),
            "audit": noisy,
        }
        if args.clean:
            started = time.perf_counter()
            run = clean_dataset(
                root, out / "clean", catalog, CleanConfig(min_faces=args.min_faces, mode="symlink"),
                index=False,
            )  # fmt: skip
            result["clean"] = {
                **score_clean(out / "clean", planted),
                "seconds": round(time.perf_counter() - started, 1),
                "steps": run.seconds,
            }
        (out / "planted.csv").write_text(
            "path,true_folder\n"
            + "".join(f"{os.path.relpath(p, root)},{t}\n" for p, t in sorted(planted.items())),
            encoding="utf-8",
        )
    return result


def table(results: list[dict]) -> str:
    """The markdown table of docs/audit.md."""
    lines = [
        "| noise | planted | mislabeled.csv P / R | P, LFW's own findings set aside | "
        "suggested: true / unknown / wrong folder | clean: removed P / R (kept folders) | "
        "clean: planted photos kept |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        m = r["mislabeled_csv"]
        s = m.get("suggested", {})
        c = r.get("clean", {})
        kf = c.get("judged", {})
        lines.append(
            f"| {r['scenario']} | {r['planted']} | {m['precision']:.3f} / {m['recall']:.3f} | "
            f"{m.get('precision_new', float('nan')):.3f} | "
            f"{s.get('true_folder', 0)} / {s.get('unknown_person', 0)} / "
            f"{s.get('wrong_folder', 0)} | "
            + (
                f"{kf['precision']:.3f} / {kf['recall']:.3f} | {c['planted_kept']} of "
                f"{c['kept_images']} |"
                if c
                else "| |"
            )
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_LFW_CATALOG)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "audit-bench")
    parser.add_argument(
        "--noise", default="0.02,0.05,0.1,0.2",
        help="shares of photos moved into a wrong folder, one scenario each",
    )  # fmt: skip
    parser.add_argument(
        "--unknown", default="0.05,0.1",
        help="shares of photos of people with no folder added into folders, one scenario each",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-faces", type=int, default=5, help="faceatlas clean --min-faces")
    parser.add_argument("--no-clean", dest="clean", action="store_false", help="audit only")
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
        known = {os.path.realpath(p) for p in flagged_paths(clean)}
    only = set(catalog.known_images()) if args.only_indexed else None
    people = people_folders(only)
    strangers = strangers_of(only)
    scenarios = [(f"moved {float(x):.0%}", float(x), None) for x in args.noise.split(",") if x]
    scenarios += [
        (f"no folder {float(x):.0%}", float(x), strangers) for x in args.unknown.split(",") if x
    ]
    results = []
    for name, share, pool in scenarios:
        slug = name.replace(" ", "-").replace("%", "")
        result = run_scenario(
            name, people, catalog, args.out / slug, share, args.seed, args, known, pool
        )
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "audit"}, indent=2), flush=True)
    report["scenarios"] = results
    report["table"] = table(results)
    print(report["table"])
    (args.out / f"results-seed{args.seed}.json").write_text(
        json.dumps(report, indent=2) + "\n", encoding="utf-8"
    )
    catalog.close()


if __name__ == "__main__":
    main()
