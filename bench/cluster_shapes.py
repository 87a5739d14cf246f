"""People on collections of many shapes: the automatic cut against the best fixed one and a peer.

Usage::

    # once: index the photo sets into .cache/ (one worker each; LFW takes a while)
    faceatlas index ../shared/data/celeba-dev --db .cache/celeba.db --workers 1 --quiet
    faceatlas index ../shared/data/lfw --db .cache/lfw.db --workers 1 --quiet
    faceatlas index ../shared/data/people-deepface ../shared/data/people-fr \\
        ../shared/data/group-photos --db .cache/mixed.db --workers 1 --quiet
    .venv/bin/python bench/cluster_shapes.py [--shapes celeba-10,lfw-all] [--draws 3] \\
        [--methods infomap,chinese-whispers,leader] [--out .cache/shapes.json]

Every collection is cut out of an already indexed catalog by folder (no re-indexing): a draw
picks people (photo folders), and every face of their photos enters the collection, background
faces included, in the order ``faceatlas cluster`` reads them (by path). As in
``faceatlas eval --labels folder``, only the face nearest each photo's centre carries the
folder's identity and is scored; group photos carry none.

For each shape and method: the cut ``--threshold auto`` picks and pairwise and BCubed F there
(mean and worst over the draws), the best fixed cut of a sweep (the cut with the best mean
pairwise F over the draws) with its pairwise and BCubed F, the best mean BCubed F of any
fixed cut, and the peer: dlib's ``chinese_whispers_clustering`` at 0.5 on the raw descriptors
(dlib's example). The raw descriptors are reconstructed as unit vector x stored norm; with
faceatlas's default mirror averaging (``--flip``) they are the mean of a face's and its
mirror's descriptors, so they differ slightly from face_recognition's (``--no-flip``) ones.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import DATA, REPO

from faceatlas.catalog import Catalog
from faceatlas.graph import knn_graph
from faceatlas.metrics import cluster_scores
from faceatlas.people.cluster import cluster_vectors
from faceatlas.people.threshold import STRANGER_CUTS, photo_pairs

CACHE = REPO / ".cache"
CATALOGS = {"celeba": CACHE / "celeba.db", "lfw": CACHE / "lfw.db", "mixed": CACHE / "mixed.db"}
CUTS = [round(0.24 + 0.01 * i, 2) for i in range(27)]  # 0.24 .. 0.50
METHODS = "infomap,chinese-whispers,leader"
UNLABELLED = ("group-photos",)  # folders whose photos name nobody
HEAVY = 50  # LFW people with at least this many photos are "heavy"
STRANGERS = 2000  # one-photo LFW people beside the heavy ones


@dataclass(slots=True)
class Pool:
    """One indexed catalog: every face with its photo, folder and (central faces) identity."""

    name: str
    vectors: np.ndarray  # (N, D) unit, in path order
    norms: np.ndarray  # raw descriptor lengths
    image_ids: np.ndarray
    folders: np.ndarray  # each face's photo folder, relative to the data root ("lfw/Name")
    identity: np.ndarray  # folder name for central faces of labelled folders, "" otherwise

    def photos_per_folder(self) -> dict[str, int]:
        first = np.unique(self.image_ids, return_index=True)[1]
        names, counts = np.unique(self.folders[first], return_counts=True)
        return dict(zip(names.tolist(), counts.tolist(), strict=True))


@dataclass(slots=True)
class Draw:
    """One collection: rows of a pool."""

    pool: Pool
    rows: np.ndarray

    @property
    def vectors(self) -> np.ndarray:
        return self.pool.vectors[self.rows]

    @property
    def groups(self) -> np.ndarray:
        return self.pool.image_ids[self.rows]

    @property
    def identity(self) -> np.ndarray:
        return self.pool.identity[self.rows]


def load_pool(name: str, path: Path) -> Pool | None:
    """Every face of the catalog at ``path``, read from a copy (upgraded if it is older)."""
    if not path.exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        shutil.copy(path, copy)
        with Catalog(copy) as catalog:
            matrix = catalog.face_matrix(order="path")
            norms = catalog.embedding_norms(matrix.face_ids)
            path_of = {row.image_id: row.path for row in catalog.images()}
            central = {face for face, _ in catalog.central_faces()}
    root = str(DATA.resolve())
    folders, identity = [], []
    for face, image in zip(matrix.face_ids.tolist(), matrix.image_ids.tolist(), strict=True):
        photo = Path(path_of[image]).resolve()
        folder = (
            str(photo.parent.relative_to(root))
            if str(photo).startswith(root)
            else str(photo.parent)
        )
        folders.append(folder)
        labelled = face in central and not folder.startswith(UNLABELLED)
        identity.append(folder if labelled else "")
    return Pool(
        name, matrix.vectors, norms, matrix.image_ids, np.array(folders), np.array(identity)
    )


def rows_of(pool: Pool, folders: set[str]) -> np.ndarray:
    return np.flatnonzero(np.isin(pool.folders, sorted(folders)))


def people(pool: Pool, prefix: str, at_least: int = 1, at_most: int = 10**9) -> list[str]:
    return sorted(
        f
        for f, n in pool.photos_per_folder().items()
        if f.startswith(prefix) and at_least <= n <= at_most
    )


def pick(rng: np.random.Generator, items: list[str], n: int) -> set[str]:
    return set(rng.choice(items, size=min(n, len(items)), replace=False).tolist())


def segment(rng: np.random.Generator, pool: Pool, folders: list[str]) -> np.ndarray:
    """30-100 faces: random people's photos, the last one cut short."""
    size = int(rng.integers(30, 101))
    chosen: list[np.ndarray] = []
    for folder in rng.permutation(folders):
        rows = rows_of(pool, {folder})
        chosen.append(rows[: size - sum(map(len, chosen))])
        if sum(map(len, chosen)) >= size:
            break
    return np.sort(np.concatenate(chosen))


Shape = tuple[str, str, int, Callable[[np.random.Generator, Pool], np.ndarray]]


def shapes() -> list[Shape]:
    """(name, pool, draws wanted, draw(rng, pool) -> rows)."""

    def celeba(n: int) -> Callable:
        return lambda rng, pool: rows_of(pool, pick(rng, people(pool, "celeba-dev/"), n))

    def lfw20(n: int) -> Callable:
        return lambda rng, pool: rows_of(pool, pick(rng, people(pool, "lfw/", 20), n))

    def heavy(rng: np.random.Generator, pool: Pool) -> np.ndarray:
        chosen = pick(rng, people(pool, "lfw/", HEAVY), 5)
        return rows_of(pool, chosen | pick(rng, people(pool, "lfw/", 1, 1), STRANGERS))

    every = 10**9
    return [
        *[(f"celeba-{n}", "celeba", 3 if n < 60 else 1, celeba(n)) for n in (5, 10, 20, 40, 60)],
        *[(f"lfw20-{n}", "lfw", 3 if n < 62 else 1, lfw20(n)) for n in (5, 10, 20, 62)],
        ("lfw-2plus", "lfw", 1, lambda rng, pool: rows_of(pool, set(people(pool, "lfw/", 2)))),
        ("lfw-all", "lfw", 1, lambda rng, pool: np.arange(len(pool.vectors))),
        ("heavy+2000", "lfw", 3, heavy),
        ("photos", "mixed", 1, lambda rng, pool: np.arange(len(pool.vectors))),
        ("segments-celeba", "celeba", 10, lambda rng, p: segment(rng, p, people(p, "celeba"))),
        ("segments-lfw", "lfw", 10, lambda rng, p: segment(rng, p, people(p, "lfw/", 2, every))),
    ]


def each_shape(names: str | None = None) -> Iterator[tuple[Shape, Pool]]:
    """Each shape (all, or those of the comma-separated ``names``) with its pool, each catalog
    loaded once; a shape whose catalog is not indexed is said and skipped."""
    wanted = set(names.split(",")) if names else None
    pools: dict[str, Pool | None] = {}
    for shape in shapes():
        name, pool_name = shape[0], shape[1]
        if wanted is not None and name not in wanted:
            continue
        if pool_name not in pools:
            pools[pool_name] = load_pool(pool_name, CATALOGS[pool_name])
        if pools[pool_name] is None:
            print(f"{name}: skipped, {CATALOGS[pool_name]} not indexed (see --help)", flush=True)
            continue
        yield shape, pools[pool_name]


def draws(shape: Shape, pool: Pool, count: int | None, seed: int) -> Iterator[Draw]:
    name, _, wanted, draw = shape
    rng = np.random.default_rng([seed, *name.encode()])
    seen: set[bytes] = set()
    for _ in range(wanted if count is None else min(count, wanted)):
        rows = draw(rng, pool)
        key = rows.tobytes()
        if key not in seen:  # a shape that is the whole pool has one draw
            seen.add(key)
            yield Draw(pool, rows)


def scores(identity: np.ndarray, labels: np.ndarray) -> dict:
    labelled = identity != ""
    labels = np.asarray(labels).copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(int(noise.sum()))
    s = cluster_scores(identity[labelled], labels[labelled])
    return {
        "pairwise_f": round(s.pairwise_f, 4),
        "bcubed_f": round(s.bcubed_f, 4),
        "pairwise_p": round(s.pairwise_precision, 4),
        "pairwise_r": round(s.pairwise_recall, 4),
        "people": len(np.unique(labels)),
    }


def same_photo_people(groups: np.ndarray, labels: np.ndarray) -> int:
    """People holding two or more faces of one photo."""
    pairs, counts = np.unique(np.stack([labels, groups], axis=1), axis=0, return_counts=True)
    bad = pairs[counts > 1, 0]
    return len(np.unique(bad[bad >= 0]))


def run_draw(draw: Draw, methods: list[str], cuts: list[float], peer: bool) -> dict:
    X, groups, identity = draw.vectors, draw.groups, draw.identity
    out: dict = {
        "faces": len(X),
        "labelled": int((identity != "").sum()),
        "identities": len(np.unique(identity[identity != ""])),
        "pairs": photo_pairs(groups, len(X)),
    }
    started = time.monotonic()
    graph = knn_graph(X, 30, method="exact")
    out["graph_s"] = round(time.monotonic() - started, 2)
    for method in methods:
        started = time.monotonic()
        labels, used, auto = cluster_vectors(X, groups, method=method, graph=graph)
        row = {
            "cut": used,
            **scores(identity, labels),
            "same_photo_people": same_photo_people(groups, labels),
            "seconds": round(time.monotonic() - started, 2),
            "auto": auto,
        }
        sweep = []
        for t in cuts:
            labels, _, _ = cluster_vectors(X, groups, method=method, threshold=t, graph=graph)
            sweep.append({"cut": t, **scores(identity, labels)})
        out[method] = {"auto": row, "sweep": sweep}
    if peer:
        import dlib

        raw = (X * draw.pool.norms[draw.rows][:, None]).astype(np.float64)
        started = time.monotonic()
        labels = np.asarray(dlib.chinese_whispers_clustering([dlib.vector(v) for v in raw], 0.5))
        out["peer"] = {**scores(identity, labels), "seconds": round(time.monotonic() - started, 2)}
    return out


def summarise(name: str, runs: list[dict], methods: list[str]) -> dict:
    """Means over the draws: auto, the best fixed cut, the peer."""
    summary: dict = {
        "shape": name,
        "draws": len(runs),
        "faces": round(float(np.mean([r["faces"] for r in runs]))),
        "identities": round(float(np.mean([r["identities"] for r in runs]))),
    }
    for method in methods:
        auto = [r[method]["auto"] for r in runs]
        cuts = [s["cut"] for s in runs[0][method]["sweep"]]
        pf = np.array([[s["pairwise_f"] for s in r[method]["sweep"]] for r in runs]).mean(axis=0)
        bf = np.array([[s["bcubed_f"] for s in r[method]["sweep"]] for r in runs]).mean(axis=0)
        best = int(np.argmax(pf))
        # how far each draw's auto falls below that draw's own best fixed cut
        draw_gap = max(
            max(
                max(x["pairwise_f"] for x in r[method]["sweep"]) - r[method]["auto"]["pairwise_f"],
                max(x["bcubed_f"] for x in r[method]["sweep"]) - r[method]["auto"]["bcubed_f"],
            )
            for r in runs
        )
        summary[method] = {
            "auto_cut": round(float(np.mean([a["cut"] for a in auto])), 4),
            "auto_cut_range": [min(a["cut"] for a in auto), max(a["cut"] for a in auto)],
            "auto_pairwise_f": round(float(np.mean([a["pairwise_f"] for a in auto])), 4),
            "auto_bcubed_f": round(float(np.mean([a["bcubed_f"] for a in auto])), 4),
            "auto_worst_pairwise_f": min(a["pairwise_f"] for a in auto),
            "auto_worst_bcubed_f": min(a["bcubed_f"] for a in auto),
            "same_photo_people": sum(a["same_photo_people"] for a in auto),
            "best_cut": cuts[best],
            "best_pairwise_f": round(float(pf[best]), 4),
            "best_bcubed_f_at_best_cut": round(float(bf[best]), 4),
            "best_bcubed_f": round(float(bf.max()), 4),
            "best_bcubed_cut": cuts[int(np.argmax(bf))],
            "worst_draw_gap": round(float(draw_gap), 4),
        }
    if all("peer" in r for r in runs):
        summary["peer"] = {
            "pairwise_f": round(float(np.mean([r["peer"]["pairwise_f"] for r in runs])), 4),
            "bcubed_f": round(float(np.mean([r["peer"]["bcubed_f"] for r in runs])), 4),
        }
    return summary


def verdict(row: dict, peer: dict | None) -> str:
    """Whether auto meets the issue's bar on this shape (means over draws)."""
    misses = []
    if row["auto_pairwise_f"] < row["best_pairwise_f"] - 0.02:
        misses.append("pF")
    if row["auto_bcubed_f"] < row["best_bcubed_f"] - 0.02:
        misses.append("bF")
    if peer and (
        row["auto_pairwise_f"] < peer["pairwise_f"] or row["auto_bcubed_f"] < peer["bcubed_f"]
    ):
        misses.append("peer")
    if row["best_pairwise_f"] >= 0.95 and row["auto_pairwise_f"] < 0.93:
        misses.append("<0.93")
    if row.get("worst_draw_gap", 0.0) > 0.05:
        misses.append("draw")
    return "ok" if not misses else "miss " + ",".join(misses)


def print_table(summaries: list[dict], methods: list[str]) -> None:
    print(
        "\n| shape | draws | faces | people | method | auto cut | auto pF / bF (worst draw) "
        "| best cut | best pF / bF | best bF | peer pF / bF | verdict |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        peer = s.get("peer")
        peer_text = f"{peer['pairwise_f']:.3f} / {peer['bcubed_f']:.3f}" if peer else "–"
        for method in methods:
            r = s[method]
            lo, hi = r["auto_cut_range"]
            cut = f"{lo:.3f}" if lo == hi else f"{lo:.3f}–{hi:.3f}"
            print(
                f"| {s['shape']} | {s['draws']} | {s['faces']:,} | {s['identities']:,} "
                f"| {method} | {cut} | {r['auto_pairwise_f']:.3f} / {r['auto_bcubed_f']:.3f} "
                f"({r['auto_worst_pairwise_f']:.3f} / {r['auto_worst_bcubed_f']:.3f}) "
                f"| {r['best_cut']:.2f} | {r['best_pairwise_f']:.3f} / "
                f"{r['best_bcubed_f_at_best_cut']:.3f} | {r['best_bcubed_f']:.3f} "
                f"| {peer_text} | {verdict(r, peer)} |"
            )


CURVE_CUTS = STRANGER_CUTS  # where people/threshold.py keeps the curve


def model_curve(pool: Pool, block: int = 2048) -> dict:
    """The model's stranger and same-person curves: every pair of labelled LFW faces."""
    labelled = np.flatnonzero(pool.identity != "")
    X = pool.vectors[labelled]
    ids = np.unique(pool.identity[labelled], return_inverse=True)[1]
    edges = np.round(np.arange(0.0, 2.0001, 0.0025), 4)
    strangers, same = np.zeros(len(edges) - 1), np.zeros(len(edges) - 1)
    for start in range(0, len(X), block):
        d = np.sqrt(np.clip(2.0 - 2.0 * X[start : start + block] @ X.T, 0.0, 4.0))
        upper = np.arange(start, start + len(d))[:, None] < np.arange(len(X))[None, :]
        twin = ids[start : start + block, None] == ids[None, :]
        strangers += np.histogram(d[upper & ~twin], edges)[0]
        same += np.histogram(d[upper & twin], edges)[0]
    cdf_s = np.r_[0.0, np.cumsum(strangers)] / strangers.sum()
    cdf_t = np.r_[0.0, np.cumsum(same)] / same.sum()
    return {
        "faces": len(X),
        "stranger_pairs": int(strangers.sum()),
        "same_pairs": int(same.sum()),
        "cuts": list(CURVE_CUTS),
        "log10_stranger_cdf": [
            round(float(np.log10(np.interp(t, edges, cdf_s))), 3) for t in CURVE_CUTS
        ],
        "stranger_pairs_below": {
            t: int(np.interp(t, edges, cdf_s) * strangers.sum()) for t in (0.2, 0.25, 0.28, 0.3)
        },
        "same_cdf": {t: round(float(np.interp(t, edges, cdf_t)), 4) for t in CURVE_CUTS},
        "stranger_quantiles": {
            q: round(float(np.interp(q, cdf_s, edges)), 4) for q in (1e-4, 1e-3, 0.01, 0.5)
        },
        "same_quantiles": {
            q: round(float(np.interp(q, cdf_t, edges)), 4) for q in (0.05, 0.5, 0.95, 0.99)
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", help="comma-separated shape names (default: all)")
    parser.add_argument("--methods", default=METHODS)
    parser.add_argument("--draws", type=int, help="at most this many draws per shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-peer", action="store_true", help="skip dlib's Chinese whispers")
    parser.add_argument("--out", type=Path, help="write every draw's results as JSON here")
    parser.add_argument(
        "--table", type=Path, help="print the table of an earlier --out file and exit"
    )
    parser.add_argument(
        "--model-curve",
        action="store_true",
        help="measure the model's stranger curve on all of LFW (people/threshold.py) and exit",
    )
    args = parser.parse_args()
    if args.model_curve:
        pool = load_pool("lfw", CATALOGS["lfw"])
        if pool is None:
            raise SystemExit(f"{CATALOGS['lfw']} not indexed (see --help)")
        print(json.dumps(model_curve(pool), indent=1))
        return
    if args.table:
        earlier = json.loads(args.table.read_text())
        shapes_run = earlier["shapes"].items()
        summaries = [summarise(name, v["draws"], earlier["methods"]) for name, v in shapes_run]
        print_table(summaries, earlier["methods"])
        return
    methods = [m for m in args.methods.split(",") if m]
    results: dict = {"cuts": CUTS, "methods": methods, "shapes": {}}
    summaries = []
    for shape, pool in each_shape(args.shapes):
        name = shape[0]
        runs = []
        for i, draw in enumerate(draws(shape, pool, args.draws, args.seed)):
            started = time.monotonic()
            run = run_draw(draw, methods, CUTS, not args.no_peer)
            runs.append(run)
            line = ", ".join(
                f"{m} {run[m]['auto']['cut']:.3f}: {run[m]['auto']['pairwise_f']:.3f}/"
                f"{run[m]['auto']['bcubed_f']:.3f}"
                for m in methods
            )
            print(
                f"{name} draw {i}: {run['faces']} faces, {run['identities']} people; auto {line}"
                f" ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
        summary = summarise(name, runs, methods)
        summaries.append(summary)
        results["shapes"][name] = {"summary": summary, "draws": runs}
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
    print_table(summaries, methods)


if __name__ == "__main__":
    main()
