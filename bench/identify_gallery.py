"""`identify` with many reference faces per person (a catalog's named people), on embeddings.

Usage::

    .venv/bin/python bench/identify_gallery.py [--draws 3] [--known 20] [--strangers 20]

``bench/identify.py`` runs both command lines on photos with 3 reference photos per person.
This one asks what happens when the references are many faces per person, as with
``faceatlas identify --db`` (every face of the catalog's named people), without running a
detector: the faces are those of the indexed catalogs of ``bench/cluster_shapes.py``
(``.cache/celeba.db``, ``.cache/lfw.db``), their central face per photo with the folder's
identity. Per draw (``--seed``): ``--known`` identities of at least 5 photos, 70 % of each one's
faces as references and the rest as queries, plus every face of ``--strangers`` other
identities as queries (their right answer: unknown).

Scored per query face, nearest reference face first: faceatlas's default tolerance (the model's
cut lowered for the number of reference faces, ``identification_cut``), the plain pairwise cut
(0.4), and face_recognition's rule, measured in the same run: Euclidean distance between the raw
128-d descriptors (unit vector x stored length) within its default 0.6. The raw descriptors are
those of faceatlas's default mirror averaging, so they differ slightly from face_recognition's.
"""

from __future__ import annotations

import argparse

import numpy as np
from cluster_shapes import CATALOGS, Pool, load_pool

from faceatlas.people.threshold import identification_cut

EMBEDDER = "dlib-resnet-v1"
CUT = 0.4  # the dlib ResNet's same-person cut (ModelSpec.cut)
PEER_TOLERANCE = 0.6  # face_recognition's default, on the raw descriptors
SHARE_AS_REFERENCE = 0.7
MIN_PHOTOS = 5


def draw(pool: Pool, rng: np.random.Generator, known: int, strangers: int) -> dict:
    """Reference rows, query rows and each query's right name (None: a stranger)."""
    labelled = np.flatnonzero(pool.identity != "")
    names, counts = np.unique(pool.identity[labelled], return_counts=True)
    eligible = names[counts >= MIN_PHOTOS]
    chosen = rng.choice(eligible, size=min(known, len(eligible)), replace=False)
    others = np.setdiff1d(names, chosen)
    strange = rng.choice(others, size=min(strangers, len(others)), replace=False)
    references, queries = [], []
    for name in chosen:
        rows = rng.permutation(labelled[pool.identity[labelled] == name])
        cut = round(len(rows) * SHARE_AS_REFERENCE)
        references.extend(rows[:cut].tolist())
        queries.extend(rows[cut:].tolist())
    queries.extend(labelled[np.isin(pool.identity[labelled], strange)].tolist())
    truth = [str(pool.identity[q]) if pool.identity[q] in set(chosen) else None for q in queries]
    return {"references": np.array(references), "queries": np.array(queries), "truth": truth}


def nearest(references: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query's nearest reference and the Euclidean distance to it."""
    squared = (
        (queries**2).sum(1)[:, None] + (references**2).sum(1)[None, :] - 2 * queries @ references.T
    )
    best = squared.argmin(axis=1)
    return best, np.sqrt(np.clip(squared[np.arange(len(queries)), best], 0, None))


def score(names: list[str | None], truth: list[str | None]) -> tuple[float, float, float]:
    """Accuracy on known people's faces, strangers' faces left unknown, faces wrongly named."""
    known = [n == t for n, t in zip(names, truth, strict=True) if t is not None]
    strangers = [n is None for n, t in zip(names, truth, strict=True) if t is None]
    wrong = [n is not None and n != t for n, t in zip(names, truth, strict=True)]
    return float(np.mean(known)), float(np.mean(strangers)), float(np.mean(wrong))


def run(pool: Pool, args: argparse.Namespace) -> dict[str, list]:
    rng = np.random.default_rng(args.seed)
    rows: dict[str, list] = {}
    for _ in range(args.draws):
        cut = draw(pool, rng, args.known, args.strangers)
        refs, queries, truth = cut["references"], cut["queries"], cut["truth"]
        ref_names = pool.identity[refs]
        unit_best, unit_dist = nearest(pool.vectors[refs], pool.vectors[queries])
        raw = pool.vectors * pool.norms[:, None]
        raw_best, raw_dist = nearest(raw[refs], raw[queries])
        tolerance = identification_cut(CUT, len(refs), EMBEDDER)
        tools = {
            f"faceatlas default ({tolerance:.3f})": (unit_best, unit_dist, tolerance),
            f"faceatlas at the pairwise cut ({CUT})": (unit_best, unit_dist, CUT),
            f"face_recognition's rule ({PEER_TOLERANCE} raw)": (raw_best, raw_dist, PEER_TOLERANCE),
        }
        for tool, (best, dist, tol) in tools.items():
            names = [
                str(ref_names[b]) if d <= tol else None for b, d in zip(best, dist, strict=True)
            ]
            found = rows.setdefault(tool.split(" (")[0], [])
            found.append((len(refs), len(queries), tol, *score(names, truth)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--known", type=int, default=20)
    parser.add_argument("--strangers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        "| pool | tool | reference faces | query faces | tolerance | accuracy, known | "
        "strangers unknown | wrongly named |"
    )
    print("|---|---|---|---|---|---|---|---|")
    peer = {}
    for name in ("celeba", "lfw"):
        pool = load_pool(name, CATALOGS[name])
        if pool is None:
            print(f"| {name} | skipped: {CATALOGS[name]} not indexed (see cluster_shapes.py) |")
            continue
        for tool, runs in run(pool, args).items():
            mean = np.mean(np.array(runs, dtype=float), axis=0)
            refs, queries, tol, acc, unknown, wrong = mean
            print(
                f"| {name} | {tool} | {refs:.0f} | {queries:.0f} | {tol:.3f} | {acc:.1%} | "
                f"{unknown:.1%} | {wrong:.1%} |"
            )
            peer.setdefault(name, {})[tool] = wrong
        ours, theirs = peer[name]["faceatlas default"], peer[name]["face_recognition's rule"]
        print(f"| {name} | wrongly named, faceatlas / face_recognition: {ours / theirs:.2f} |")


if __name__ == "__main__":
    main()
