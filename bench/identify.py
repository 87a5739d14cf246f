"""`faceatlas identify` against face_recognition's command line, on CelebA identities.

Usage::

    .venv/bin/python bench/identify.py [--celeba ../shared/data/celeba-dev] [--queries 200]
        [--cpus 1] [--seed 0] [--lower 0.38,0.36]

``--known`` identities (default 20, of those with more than ``--refs`` photos, drawn with
``--seed``) are the known people, ``--refs`` photos each (default 3) in a flat folder of links
named as face_recognition wants them (``7440_1.jpg``: "7440"). The queries are their other
photos and every photo of ``--strangers`` other identities (default 20), whose right answer is
unknown; ``--queries`` of each kind are drawn (same seed), in one flat folder of links. Both tools
read the same two folders with their defaults: faceatlas through the library
(``identify_photos``, the default model; its default tolerance is the model's cut, 0.4 between
unit vectors, lowered for the number of reference faces by ``identification_cut``: 0.375 for
60; the run is made at 0.4 and scored at each tolerance) and face_recognition 1.3.0's CLI in
a subprocess (tolerance 0.6 on dlib's raw scale,
``--show-distance true``), each with ``--cpus`` processes. Seconds are wall time from start
to the last line, model loading and the known photos included, and the CPU seconds of the tool's
processes (steadier than wall time on a shared machine; face_recognition's only with
``--cpus 1``: its pool workers are children of its forkserver, out of reach).

Scoring is per photo, from what each tool prints, by one rule for both: a photo's answer is the
name on its line of smallest distance (unknown when no line names anyone: unknown_person,
no_persons_found). Not the largest face: face_recognition's lines carry no box, and a face
within its tolerance of several known photos gets one line per photo, so its lines cannot be
split into faces; the nearest name is the one a user would pick from them. A CelebA photo shows
its identity as the main face, so another face rarely decides the answer; when one does (a
known person in a stranger's photo) both tools are scored alike. Accuracy: share of the known
people's photos answered with their name. True reject: share of the strangers' photos left
unknown. Wrongly named: share of all query photos answered with a wrong name. faceatlas is also
scored at the ``--lower`` tolerances (a face's line keeps the distance to its nearest reference
face, so a lower tolerance is the same run re-thresholded): the trade between strangers left
unknown and known people found.

With ``--cpus`` above 1, face_recognition's workers share its stdout with block buffering, so
lines can be cut and interleaved; lines that name no query photo are counted and reported.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import DATA, require

from faceatlas.faces.pipeline import ModelConfig
from faceatlas.identify import identify_photos
from faceatlas.people.known import name_of_file, read_known_folder
from faceatlas.people.threshold import identification_cut
from faceatlas.sources import iter_image_files

PEER = "face_recognition.face_recognition_cli"
NO_NAME = ("unknown_person", "no_persons_found")
PEER_TOLERANCE = 0.6  # face_recognition's default, on dlib's raw scale


@dataclass(slots=True)
class Run:
    """What one tool printed: (name or None, distance) per line of each query photo (by its
    file name), its tolerance, its wall time, and the lines that named no query photo."""

    tool: str
    lines: dict[str, list[tuple[str | None, float]]]
    tolerance: float
    seconds: float
    cpu_seconds: float | None  # None: not measurable
    malformed: int = 0

    def answer(self, photo: str, tolerance: float | None = None) -> str | None:
        """The name on the photo's nearest line within ``tolerance`` (default the tool's)."""
        cut = self.tolerance if tolerance is None else tolerance
        if cut > self.tolerance:  # faces farther than the tool's tolerance were printed unnamed
            raise SystemExit(f"{self.tool} can be re-scored below {self.tolerance} only")
        named = [(d, name) for name, d in self.lines.get(photo, []) if name and d <= cut]
        return min(named)[1] if named else None


def draw(
    root: Path, args: argparse.Namespace
) -> tuple[dict[str, list[Path]], dict[Path, str | None]]:
    """(known name -> reference photos, query photo -> true name or None for a stranger)."""
    rng = np.random.default_rng(args.seed)
    people = {p.name: sorted(p.glob("*.jpg")) for p in sorted(root.iterdir()) if p.is_dir()}
    eligible = sorted(name for name, photos in people.items() if len(photos) > args.refs)
    known = sorted(rng.choice(eligible, args.known, replace=False).tolist())
    others = sorted(set(people) - set(known))
    strangers = sorted(rng.choice(others, args.strangers, replace=False).tolist())
    references, own = {}, []
    for name in known:
        photos = [people[name][i] for i in rng.permutation(len(people[name]))]
        references[name] = photos[: args.refs]
        own += [(photo, name) for photo in photos[args.refs :]]
    alien = [(photo, None) for name in strangers for photo in people[name]]
    queries: dict[Path, str | None] = {}
    for pool in (own, alien):
        for i in sorted(rng.permutation(len(pool))[: args.queries]):
            queries[pool[i][0]] = pool[i][1]
    return references, queries


def link_folders(
    work: Path, references: dict[str, list[Path]], queries: dict[Path, str | None]
) -> tuple[Path, Path, dict[str, str | None]]:
    """Flat folders of links: known/NAME_N.jpg and queries/qNNNN.jpg; the truth by link name."""
    known, asked = work / "known", work / "queries"
    known.mkdir()
    asked.mkdir()
    for name, photos in references.items():
        for number, photo in enumerate(photos, start=1):
            (known / f"{name}_{number}.jpg").symlink_to(photo)
    truth = {}
    for number, (photo, name) in enumerate(queries.items(), start=1):
        link = asked / f"q{number:04d}.jpg"
        link.symlink_to(photo)
        truth[link.name] = name
    return known, asked, truth


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (workers, subprocesses)."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def run_faceatlas(known: Path, asked: Path, cpus: int) -> Run:
    start, cpu = time.perf_counter(), cpu_seconds()
    model = ModelConfig()
    tolerance = model.spec().cut  # the loosest scored: the run can be re-scored below it
    left_out: list[str] = []
    lines = {
        Path(photo.item.found_path).name: [(v.name, v.distance) for v in photo.verdicts]
        for photo in identify_photos(
            iter_image_files([asked]),
            model,
            read_known_folder(known),
            tolerance,
            cpus,
            warn=left_out.append,
        )
    }
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    print(f"faceatlas: {len(left_out)} known photos left out", file=sys.stderr)
    return Run("faceatlas", lines, tolerance, seconds, cpu)


def run_face_recognition(known: Path, asked: Path, cpus: int, truth: dict[str, str | None]) -> Run:
    start, cpu = time.perf_counter(), cpu_seconds()
    command = [sys.executable, "-m", PEER, "--cpus", str(cpus), "--show-distance", "true"]
    out = subprocess.run(
        [*command, str(known), str(asked)], capture_output=True, text=True, check=True
    )
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    if cpus != 1:  # its pool workers are children of its forkserver: their CPU time escapes
        cpu = None
    lines: dict[str, list[tuple[str | None, float]]] = {}
    malformed = left_out = 0
    for line in out.stdout.splitlines():
        if line.startswith("WARNING"):  # its warnings about known photos go to stdout
            left_out += "No faces found" in line
            continue
        parts = line.rsplit(",", 2)
        photo = Path(parts[0]).name
        if len(parts) != 3 or photo not in truth:
            malformed += 1
            continue
        _, name, distance = parts
        named = name not in NO_NAME
        entry = (name_of_file(name), float(distance)) if named else (None, np.inf)
        lines.setdefault(photo, []).append(entry)
    print(f"face_recognition: {left_out} known photos left out", file=sys.stderr)
    return Run("face_recognition", lines, PEER_TOLERANCE, seconds, cpu, malformed)


def score(run: Run, truth: dict[str, str | None], tolerance: float | None = None) -> list[float]:
    """[accuracy on known people, true-reject rate of strangers, wrongly named share]."""
    answer = {photo: run.answer(photo, tolerance) for photo in truth}
    own = [answer[p] == name for p, name in truth.items() if name is not None]
    strangers = [answer[p] is None for p, name in truth.items() if name is None]
    wrong = [answer[p] is not None and answer[p] != name for p, name in truth.items()]
    return [float(np.mean(own)), float(np.mean(strangers)), float(np.mean(wrong))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--celeba", type=Path, default=DATA / "celeba-dev")
    parser.add_argument("--known", type=int, default=20, help="known identities")
    parser.add_argument("--refs", type=int, default=3, help="reference photos per known person")
    parser.add_argument("--strangers", type=int, default=20, help="identities not known")
    parser.add_argument("--queries", type=int, default=200, help="photos drawn of each kind")
    parser.add_argument("--cpus", type=int, default=1, help="processes of each tool")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lower",
        type=lambda text: [float(t) for t in text.split(",")],
        default=[0.38, 0.36],
        help="faceatlas also scored at these tolerances under its cut (same run, re-thresholded)",
    )
    args = parser.parse_args()
    if importlib.util.find_spec("face_recognition") is None:
        sys.exit("face_recognition is not installed: pip install --no-deps face_recognition==1.3.0")
    references, queries = draw(require(args.celeba), args)
    with tempfile.TemporaryDirectory() as tmp:
        known, asked, truth = link_folders(Path(tmp), references, queries)
        own = sum(name is not None for name in truth.values())
        print(
            f"{len(references)} known people x {args.refs} photos; {own} of their other photos "
            f"and {len(truth) - own} of {args.strangers} strangers; --cpus {args.cpus}",
            file=sys.stderr,
        )
        runs = [run_faceatlas(known, asked, args.cpus)]
        runs.append(run_face_recognition(known, asked, args.cpus, truth))
    print(
        "| tool | tolerance | accuracy, known people | strangers called unknown | "
        "wrongly named | seconds | CPU seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    spec = ModelConfig().spec()
    default = identification_cut(spec.cut, len(references) * args.refs, spec.embedder)
    rows = [(runs[0], default, "faceatlas (default)"), (runs[1], None, runs[1].tool)]
    rows += [(runs[0], t, runs[0].tool) for t in (spec.cut, *args.lower) if t != default]
    for run, tolerance, tool in rows:
        shares = " | ".join(f"{share:.1%}" for share in score(run, truth, tolerance))
        shown = run.tolerance if tolerance is None else tolerance
        cpu = "-" if run.cpu_seconds is None else f"{run.cpu_seconds:.0f}"
        seconds = f"{run.seconds:.0f} | {cpu}"
        if run is runs[0] and tool != "faceatlas (default)":
            seconds = "(same run) | "
        print(f"| {tool} | {shown:g} | {shares} | {seconds} |")
    for run in runs:
        missing = sum(photo not in run.lines for photo in truth)
        if missing or run.malformed:
            print(f"{run.tool}: {missing} photos without a line, {run.malformed} malformed lines")
    ratio = f"faceatlas / face_recognition: wall time {runs[0].seconds / runs[1].seconds:.2f}"
    if runs[1].cpu_seconds is not None:
        ratio += f", CPU time {runs[0].cpu_seconds / runs[1].cpu_seconds:.2f}"
    print(ratio)


if __name__ == "__main__":
    main()
