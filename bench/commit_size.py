"""What ``faceatlas index --commit-every`` costs and saves: rows/s and work redone after a kill.

1. ``write``: N synthetic results (one face each, a 128-d embedding) stored through
   ``Catalog.add_results``, one transaction per K images as the index loop does, for each K:
   rows/s and milliseconds per commit. This is the catalog's side alone (no model).
2. ``tsv``: ``faceatlas index --tsv`` end to end with ``--commit-every K``, on (a) LFW photos as
   base64 rows (the face model is the bottleneck) and (b) tiny images without a face (the catalog
   is). For each K, an uninterrupted run whose catalog is polled every 50 ms gives rows/s and the
   commits it made (their sizes); from them, the rows at risk at a kill at a random moment (mean
   and worst: analysed but not yet committed, assuming rows arrive evenly between two commits).
   Then a run killed with ``kill -9`` at a fixed time and resumed: rows stored at the kill, rows
   analysed but lost (the run's rate times the time since its last commit), rows the resume did,
   and every row stored exactly once.

    .venv/bin/python bench/commit_size.py [--rows 20000] [--tsv-rows 400] [--kill-at 10]
    .venv/bin/python bench/commit_size.py --only write      # the synthetic part alone (~1 min)

Writes ``.cache/commit-size/results-write.json`` and ``results-tsv.json``; all runs use
``--workers 1``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import LFW, REPO, require
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.errors import FaceatlasError
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import Face, ImageResult

WRITE_SIZES = (1, 4, 16, 32, 128, 512, 2048)
TSV_SIZES = (1, 32, 512)
POLL = 0.05


def synthetic_results(n: int, seed: int = 0) -> list[ImageResult]:
    """``n`` results of one face each, as the dlib model makes them (128-d unit embedding)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    landmarks = np.zeros((5, 2), np.float32)
    return [
        ImageResult(
            path=f"/synthetic/part-0001.tsv#{i}",
            size=20_000 + i,
            mtime_ns=0,
            status="ok",
            width=250,
            height=250,
            faces=[Face((60, 60, 190, 190), landmarks, 1.0, vectors[i], 1.4)],
        )
        for i in range(n)
    ]


def write_rate(rows: int, sizes: tuple[int, ...], folder: Path) -> list[dict]:
    """Rows/s of storing ``rows`` results in transactions of each size, into a fresh catalog."""
    spec = ModelConfig().spec()
    results = synthetic_results(rows)
    out = []
    for size in sizes:
        path = folder / f"write-{size}.db"
        with Catalog(path) as catalog:
            catalog.face_set_for(spec)
            started = time.perf_counter()
            for start in range(0, rows, size):
                with catalog.atomic():
                    catalog.add_results(results[start : start + size])
            seconds = time.perf_counter() - started
            assert catalog.stats()["images"] == rows
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        commits = -(-rows // size)
        out.append(
            {
                "commit_every": size,
                "rows": rows,
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds),
                "ms_per_commit": round(1000 * seconds / commits, 2),
            }
        )
        print(json.dumps(out[-1]), flush=True)
    return out


def lfw_rows(count: int) -> list[bytes]:
    """``count`` LFW photos (people in name order) as base64 fields."""
    photos = sorted(require(LFW).glob("*/*.jpg"))[:count]
    return [base64.b64encode(p.read_bytes()) for p in photos]


def blank_rows(count: int, seed: int = 0) -> list[bytes]:
    """``count`` 48 x 48 noise JPEGs (no face: the detector is quick and nothing is embedded)."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        buffer = io.BytesIO()
        pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(buffer, "JPEG", quality=80)
        rows.append(base64.b64encode(buffer.getvalue()))
    return rows


def write_tsv(path: Path, fields: list[bytes]) -> Path:
    with path.open("wb") as handle:
        for field in fields:
            handle.write(b"x\t" + field + b"\n")
    return path


def stored(db: Path) -> int | None:
    """Rows the catalog holds now (None: not readable yet)."""
    if not db.exists():
        return None
    try:
        with Catalog(db, read_only=True) as catalog:
            return catalog.stats()["images"]
    except (sqlite3.Error, FaceatlasError):
        return None


def index_command(tsv: Path, db: Path, size: int) -> list[str]:
    return [
        sys.executable, "-m", "faceatlas", "index", "--tsv", str(tsv), "--db", str(db),
        "--workers", "1", "--commit-every", str(size), "--quiet", "--no-search-index",
    ]  # fmt: skip


def watched_run(tsv: Path, db: Path, size: int, kill_at: float | None) -> dict:
    """Run ``faceatlas index`` and poll its catalog; kill it with SIGKILL after ``kill_at`` s."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        index_command(tsv, db, size),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    timeline: list[tuple[float, int]] = []  # (seconds since start, rows stored) at each change
    killed_at = None
    while proc.poll() is None:
        time.sleep(POLL)
        now = time.perf_counter() - started
        count = stored(db)
        if count is not None and (not timeline or count != timeline[-1][1]):
            timeline.append((round(now, 3), count))
        if kill_at is not None and now >= kill_at:
            os.killpg(proc.pid, signal.SIGKILL)
            killed_at = time.perf_counter() - started
            proc.wait()
    seconds = time.perf_counter() - started
    final = stored(db) or 0
    if not timeline or timeline[-1][1] != final:
        timeline.append((round(seconds, 3), final))
    return {"seconds": seconds, "timeline": timeline, "killed_at": killed_at, "stored": final}


def at_risk(timeline: list[tuple[float, int]], size: int) -> dict:
    """Rows analysed but not committed at a kill at a random moment between the first and the
    last commit seen (rows taken to arrive evenly between two commits), and at worst.

    Commits closer together than the polling interval are seen as one step; a step of more than
    ``size`` rows is counted as that many equal commits of at most ``size`` rows.
    """
    if len(timeline) < 2:
        return {"mean_rows": 0.0, "worst_rows": timeline[0][1] if timeline else 0}
    times = np.array([t for t, _ in timeline])
    counts = np.array([c for _, c in timeline])
    steps, spans = np.diff(counts), np.diff(times)
    parts = np.maximum(1, -(-steps // size))  # commits merged into one step by the polling
    mean = float((steps * spans / (2 * parts)).sum() / spans.sum())  # mean height of the sawtooth
    return {
        "mean_rows": round(mean, 1),
        "worst_rows": int(max((steps / parts).max(), min(counts[0], size))),
        "commits_seen": len(timeline),
        "median_step_rows": float(np.median(steps / parts)),
    }


def redone_at_kill(timeline: list[tuple[float, int]], kill_at: float) -> tuple[int, float]:
    """(rows stored at the last commit before the kill, rows analysed since then but lost): the
    run's own rate over its commits times the time from its last commit to the kill. The image
    in the worker at the kill is not counted."""
    (first_t, first_n), (last_t, last_n) = timeline[0], timeline[-1]
    rate = (last_n - first_n) / (last_t - first_t) if last_t > first_t else 0.0
    return last_n, max(0.0, rate * (kill_at - last_t))


def tsv_runs(name: str, fields: list[bytes], sizes: tuple[int, ...], kill_at: float) -> list[dict]:
    """Per commit size: an uninterrupted run, then a run killed at ``kill_at`` s and resumed."""
    out = []
    with tempfile.TemporaryDirectory(prefix="commit-size-") as tmp:
        tsv = write_tsv(Path(tmp) / f"{name}.tsv", fields)
        for size in sizes:
            whole_db, kill_db = Path(tmp) / f"whole-{size}.db", Path(tmp) / f"kill-{size}.db"
            whole = watched_run(tsv, whole_db, size, None)
            assert whole["stored"] == len(fields), whole
            times = [t for t, _ in whole["timeline"]]
            first = whole["timeline"][0][0]
            cut = watched_run(tsv, kill_db, size, kill_at)
            resume = watched_run(tsv, kill_db, size, None)
            with Catalog(kill_db, read_only=True) as catalog:
                images = catalog.images()
            paths = [image.path for image in images]
            rate = (len(fields) - whole["timeline"][0][1]) / max(1e-9, times[-1] - first)
            out.append(
                {
                    "rows": name,
                    "commit_every": size,
                    "total_rows": len(fields),
                    "seconds": round(whole["seconds"], 1),
                    "rows_per_s": round(rate, 1),
                    "first_commit_s": first,
                    **at_risk(whole["timeline"], size),
                    "kill_at_s": kill_at,
                    "killed": cut["killed_at"] is not None,
                    "stored_at_kill": cut["stored"],
                    "lost_at_kill_est": None
                    if cut["killed_at"] is None
                    else round(redone_at_kill(cut["timeline"], cut["killed_at"])[1], 1),
                    "resume_rows": resume["stored"] - cut["stored"],
                    "resume_seconds": round(resume["seconds"], 1),
                    "every_row_once": sorted(paths) == sorted(set(paths))
                    and len(paths) == len(fields),
                }
            )
            print(json.dumps(out[-1]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic results written")
    parser.add_argument("--tsv-rows", type=int, default=400, help="LFW rows in the face TSV")
    parser.add_argument("--blank-rows", type=int, default=12_000, help="rows in the no-face TSV")
    parser.add_argument("--kill-at", type=float, default=10.0, help="seconds after the start")
    parser.add_argument("--only", choices=("write", "tsv"), default=None)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "commit-size")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for part in ("write", "tsv"):
        if args.only not in (None, part):
            continue
        report: dict = {"load_average_at_start": os.getloadavg()}
        if part == "write":
            with tempfile.TemporaryDirectory(prefix="commit-size-", dir=args.out) as tmp:
                report["write"] = write_rate(args.rows, WRITE_SIZES, Path(tmp))
        else:
            faces, blank = lfw_rows(args.tsv_rows), blank_rows(args.blank_rows)
            report["tsv_faces"] = tsv_runs("lfw", faces, TSV_SIZES, args.kill_at)
            report["tsv_no_face"] = tsv_runs("blank", blank, TSV_SIZES, args.kill_at)
        report["load_average_at_end"] = os.getloadavg()
        target = args.out / f"results-{part}.json"
        target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
