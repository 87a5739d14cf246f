"""Faces in videos: tracks against the truth, people found, speed, on clips made from real photos.

Clips are generated from LFW and people-deepface photos that hold exactly one face (the model
finds one, at least ``MIN_SIDE`` pixels): each shot shows 1 to 3 people side by side while the
camera pans and zooms, shots are cut one after the other, and everything is encoded with PyAV
(H.264, 640x360, 25 fps). The truth is known: every photo of a shot is one track of one person.

Each way of indexing the same clips gets a fresh catalog, indexed on ONE core (the process is
pinned to one CPU, one worker), then grouped with the default method and automatic cut:

- ``tracks 2 fps`` (the default) and ``tracks 1 fps``: faces tracked, one face per track;
- ``every frame``: every frame indexed as a photo (no sampling, no tracking);
- ``1 fps, no tracking``: one frame a second indexed as a photo (what face-grouper does).

Reported: truth tracks found (a stored face on the track), missed, extra faces on a truth track
(fragments; for the untracked ways, faces per track), stray faces (on no photo), faces two
people share a still with and that were put in one person (must be 0), pairwise and BCubed F of
the people against the truth, and seconds of video indexed per second of CPU (the process
is alone on its core, so this is what one core does; wall-clock seconds too, which on a
busy machine are longer).

    .venv/bin/python bench/video.py [--clips 6] [--shots 4] [--seconds 2] [--seed 0]
        [--out .cache/video-bench] [--ways tracks-2,tracks-1,every-frame,untracked-1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from common import DATA, REPO, require

sys.path.insert(0, str(REPO))  # tests.clips: the clip writer the tests use too

from faceatlas.catalog import Catalog
from faceatlas.decode import load_rgb
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig, index_paths
from faceatlas.metrics import cluster_scores
from faceatlas.people.cluster import cluster_catalog
from faceatlas.video import split_still_key
from tests.clips import Clip, Shot, write_clip

SIZE = (640, 360)
FPS = 25
MIN_SIDE = 60  # pixels of the face in its photo
PER_PERSON = 6  # photos tried per person
LFW_PEOPLE = 12  # LFW people with the most photos
WAYS = {
    "tracks-2": ("tracks 2 fps", {"video_fps": 2.0}),
    "tracks-1": ("tracks 1 fps", {"video_fps": 1.0}),
    "every-frame": ("every frame", {"video_fps": float(FPS), "video_tracking": False}),
    "untracked-1": ("1 fps, no tracking", {"video_fps": 1.0, "video_tracking": False}),
}


def photo_pool() -> dict[str, list[Path]]:
    """person -> photos with exactly one face the model finds (at least MIN_SIDE pixels)."""
    lfw = require(DATA / "lfw")
    counts = sorted(
        ((len(list(p.glob("*.jpg"))), p.name) for p in lfw.iterdir() if p.is_dir()), reverse=True
    )
    folders = [lfw / name for _, name in counts[:LFW_PEOPLE]]
    folders += sorted(p for p in require(DATA / "people-deepface").iterdir() if p.is_dir())
    pipeline = ModelConfig().build()
    pool: dict[str, list[Path]] = {}
    for folder in folders:
        kept = []
        for photo in sorted(folder.iterdir())[: PER_PERSON * 2]:
            try:
                faces = pipeline.analyze(load_rgb(photo))
            except Exception:  # an odd file among the photos: not used
                continue
            if len(faces) == 1 and min(faces[0].width, faces[0].height) >= MIN_SIDE:
                kept.append(photo)
            if len(kept) == PER_PERSON:
                break
        if len(kept) >= 2:
            pool[folder.name] = kept
    return pool


def make_clips(
    pool: dict[str, list[Path]], folder: Path, clips: int, shots: int, seconds: float, seed: int
) -> list[Clip]:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(clips):
        unused = {person: rng.sample(photos, len(photos)) for person, photos in pool.items()}
        plan = []
        for _ in range(shots):
            people = rng.sample([p for p, left in unused.items() if left], rng.choice([1, 2, 2, 3]))
            plan.append(
                Shot(
                    [unused[p].pop() for p in people],
                    seconds=seconds,
                    pan=rng.uniform(0.0, 0.15),
                    zoom=rng.uniform(1.0, 1.25),
                )
            )
        made.append(write_clip(folder / f"clip{number:02d}.mp4", plan, size=SIZE, fps=FPS))
    return made


def run_way(name: str, settings: dict, clips: list[Clip], folder: Path, work: Path) -> dict:
    db = work / f"{name}.db"
    for stale in work.glob(f"{name}.db*"):
        stale.unlink()
    with Catalog(db) as catalog:
        started, cpu = time.perf_counter(), time.process_time()
        summary = index_paths(catalog, [folder], IndexConfig(workers=1, **settings))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        grouped = cluster_catalog(catalog)
        faces = catalog.faces()
        result = score(clips, faces)
    video = sum(c.seconds for c in clips)
    return {
        "way": WAYS[name][0],
        "faces": len(faces),
        **result,
        "people": grouped.people,
        "index_seconds": round(seconds, 1),
        "index_cpu_seconds": round(cpu, 1),
        "video_seconds_per_second": round(video / seconds, 2),
        "video_seconds_per_cpu_second": round(video / cpu, 2),
        "errors": summary.errors,
    }


def score(clips: list[Clip], faces) -> dict:
    """Tracks found and people against the truth (each placed photo is one truth track)."""
    by_path = {str(c.path): c for c in clips}
    truth_tracks = {(str(c.path), p.shot, p.slot) for c in clips for p in c.placed}
    on_track: Counter = Counter()
    truth, predicted, still_people = [], [], defaultdict(list)
    strays = 0
    for face in faces:
        video, t = split_still_key(face.image_path)
        placed = by_path[video].person_at(t, face.box)
        if placed is None:
            strays += 1
            truth.append(f"stray-{face.face_id}")
        else:
            on_track[(video, placed.shot, placed.slot)] += 1
            truth.append(placed.person)
        predicted.append(face.person_id if face.person_id is not None else f"u{face.face_id}")
        still_people[face.image_id].append(predicted[-1])
    together = sum(len(p) - len(set(p)) for p in still_people.values())
    scores = cluster_scores(truth, predicted)
    found = sum(1 for t in truth_tracks if on_track[t])
    return {
        "truth_tracks": len(truth_tracks),
        "found": found,
        "missed": len(truth_tracks) - found,
        "faces_per_track": round(sum(on_track.values()) / max(found, 1), 2),
        "extra": sum(n - 1 for n in on_track.values()),
        "strays": strays,
        "same_still_joined": together,
        "pairwise_f": round(scores.pairwise_f, 3),
        "pairwise_precision": round(scores.pairwise_precision, 3),
        "pairwise_recall": round(scores.pairwise_recall, 3),
        "bcubed_f": round(scores.bcubed_f, 3),
        "identities": scores.identities,
    }


def table(rows: list[dict]) -> str:
    head = (
        "| way | faces | truth tracks found | extra faces on a track | strays | pairwise F"
        " (P / R) | BCubed F | people (truth) | video s per CPU s (per s), 1 core |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(
            f"| {r['way']} | {r['faces']} | {r['found']}/{r['truth_tracks']} | {r['extra']} |"
            f" {r['strays']} | {r['pairwise_f']:.3f} ({r['pairwise_precision']:.3f} /"
            f" {r['pairwise_recall']:.3f}) | {r['bcubed_f']:.3f} | {r['people']}"
            f" ({r['identities']}) | {r['video_seconds_per_cpu_second']:.2f}"
            f" ({r['video_seconds_per_second']:.2f}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--shots", type=int, default=4, help="shots per clip")
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds per shot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / ".cache" / "video-bench")
    parser.add_argument("--ways", default=",".join(WAYS), help=f"any of {', '.join(WAYS)}")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core: decoding, detection and embedding
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    args.out.mkdir(parents=True, exist_ok=True)
    pool = photo_pool()
    print(f"{len(pool)} people, {sum(map(len, pool.values()))} one-face photos", flush=True)
    clips = make_clips(pool, args.out / "clips", args.clips, args.shots, args.seconds, args.seed)
    total = sum(c.seconds for c in clips)
    print(f"{len(clips)} clips, {total:.0f} s of video, {sum(len(c.placed) for c in clips)}"
          " truth tracks", flush=True)  # fmt: skip
    rows = []
    for name in args.ways.split(","):
        rows.append(run_way(name, WAYS[name][1], clips, args.out / "clips", args.out))
        print(json.dumps(rows[-1]), flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    print(table(rows))


if __name__ == "__main__":
    main()
