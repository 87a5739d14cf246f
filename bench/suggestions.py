"""Merge suggestions on collections of many shapes: precision, recall and the share of the cut.

Usage::

    # the catalogs of bench/cluster_shapes.py (.cache/celeba.db, lfw.db, mixed.db)
    .venv/bin/python bench/suggestions.py [--shapes celeba-10,lfw-all] [--draws 3] \\
        [--out .cache/suggestions.json]
    .venv/bin/python bench/suggestions.py --table .cache/suggestions.json   # reprint a run

Every shape and draw of ``bench/cluster_shapes.py``: the faces are grouped as ``faceatlas
cluster`` does by default (Infomap at the automatic cut), then the people page's merge
suggestions are made with ``faceatlas.people.suggest.close_pairs`` exactly as
``merge_suggestions`` calls it, over every person (singletons included), at ``share x cut``
(``--cut``: 0.40, dlib's ResNet; the page's bound is the model's cut itself, ``PAGE_SHARE``
1.0): average linkage below the bound, no pair of two single faces, candidates among each
person's ``NEIGHBOURS`` nearest by mean direction. The pairs whose two people hold faces of one
photo are dropped (as ``merge_suggestions`` does; no one is named or dismissed here).

Scoring: only the face nearest each photo's centre carries its folder's identity. A person's
identity is the majority identity of its labelled faces; pairs with a person holding no
labelled face are counted apart (``unscored``). A suggestion is right when its two people
have one identity. A **split pair** is a pair of people with one identity (a person left in
two parts): recall is the share of them suggested; its ceiling is the share whose average
linkage is below the bound, not sharing a photo and not two single faces (what ``close_pairs``
would find looking at every pair instead of ``NEIGHBOURS``). Precision and recall pool the
pairs of every draw of a shape (ratio of sums); counts are means over the draws.

Two peers rank every pair of people, exactly, after the same photo rule and the same exclusion
of pairs of two single faces, and take as many pairs as ours made, so the precisions compare
rankings at equal numbers: **single linkage** (the distance between the two people's nearest
faces) and **mean direction** (the distance between the renormalised plain means, what the page
ranked by before). ``ratio`` is our precision over each peer's. Last, the page's first
``DEFAULT_LIMIT`` suggestions (nearest first) against the peers' first as many. The full run
takes well under a minute on one core.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from cluster_shapes import Draw, draws, each_shape, knn_graph

from faceatlas.people.cluster import cluster_vectors
from faceatlas.people.suggest import DEFAULT_LIMIT, average_linkage, close_pairs, person_means

PAGE_SHARE = 1.0  # the page's bound is the model's cut itself (catalog.face_set.spec.cut)
SHARES = (0.75, 0.875, PAGE_SHARE, 1.125)
CUT = 0.40  # dlib's ResNet (ModelSpec.cut): the .cache catalogs are indexed with it
METHOD = "infomap"  # faceatlas cluster's default
PEERS = ("single", "direction")  # single linkage (nearest faces), mean direction
Pair = tuple[int, int]


def majority_identity(labels: np.ndarray, identity: np.ndarray) -> dict[int, int]:
    """Person -> code of the majority identity of its labelled faces (ties: the lower code);
    people with no labelled face are left out."""
    kept = (labels >= 0) & (identity != "")
    codes = np.unique(identity[kept], return_inverse=True)[1]
    pairs, counts = np.unique(np.stack([labels[kept], codes], axis=1), axis=0, return_counts=True)
    best: dict[int, tuple[int, int]] = {}
    for (person, code), count in zip(pairs.tolist(), counts.tolist(), strict=True):
        if person not in best or count > best[person][0]:
            best[person] = (count, code)
    return {person: code for person, (_, code) in best.items()}


def photo_sharing_pairs(labels: np.ndarray, groups: np.ndarray) -> set[Pair]:
    """(low, high) people holding faces of one photo."""
    kept = labels >= 0
    order = np.lexsort((labels[kept], groups[kept]))
    g, p = groups[kept][order], labels[kept][order]
    sharing: set[Pair] = set()
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    for start, end in zip(starts, np.r_[starts[1:], len(g)], strict=True):
        held = np.unique(p[start:end]).tolist()
        sharing.update((a, b) for i, a in enumerate(held) for b in held[i + 1 :])
    return sharing


def split_pairs(majority: dict[int, int]) -> set[Pair]:
    """(low, high) labelled people with one majority identity."""
    by_identity: dict[int, list[int]] = {}
    for person, code in sorted(majority.items()):
        by_identity.setdefault(code, []).append(person)
    return {
        (a, b) for held in by_identity.values() for i, a in enumerate(held) for b in held[i + 1 :]
    }


def single_linkage(vectors: np.ndarray, labels: np.ndarray, block: int = 1024) -> np.ndarray:
    """(P, P) distances between the nearest faces of every two people (exact), people in id
    order."""
    kept = np.flatnonzero(labels >= 0)
    order = kept[np.argsort(labels[kept], kind="stable")]
    X = vectors[order]
    _, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    n = len(starts)
    best = np.empty((n, n), np.float32)  # highest similarity between two people's faces
    first = 0
    while first < n:  # whole people per block, at least one
        last = first + 1
        while last < n and starts[last] + sizes[last] - starts[first] <= block:
            last += 1
        rows = slice(starts[first], starts[last - 1] + sizes[last - 1])
        sims = np.maximum.reduceat(X[rows] @ X.T, starts, axis=1)
        best[first:last] = np.maximum.reduceat(sims, starts[first:last] - starts[first], axis=0)
        first = last
    return np.sqrt(np.clip(2.0 - 2.0 * best, 0.0, 4.0))


def mean_direction(means: np.ndarray) -> np.ndarray:
    """(P, P) distances between the people's mean directions (renormalised plain means)."""
    lengths = np.maximum(np.linalg.norm(means, axis=1), 1e-12)
    units = (means / lengths[:, None]).astype(np.float32)
    return np.sqrt(np.clip(2.0 - 2.0 * units @ units.T, 0.0, 4.0))


def ranked(ids: np.ndarray, dist: np.ndarray, excluded: np.ndarray, wanted: int) -> list[Pair]:
    """The ``wanted`` nearest pairs of people of ``dist`` (people ``ids``), nearest first (ties
    by ids), leaving out the lower triangle and ``excluded``."""
    n = len(ids)
    flat = np.where(excluded, np.inf, dist).ravel()
    take = min(wanted, int(np.isfinite(flat).sum()))
    top = np.argpartition(flat, take - 1)[:take] if take else np.zeros(0, np.int64)
    top = top[np.lexsort((top, flat[top]))]
    return [(int(ids[i // n]), int(ids[i % n])) for i in top.tolist()]


def score(
    pairs: Iterable[Pair], majority: dict[int, int], split: set[Pair], multi: set[int]
) -> dict:
    """Counts of ``pairs``; ``*_multi``: among the pairs of two people of two or more faces
    (``multi``)."""
    pairs = list(pairs)
    scored = [(a, b) for a, b in pairs if a in majority and b in majority]
    both = [(a, b) for a, b in scored if a in multi and b in multi]
    return {
        "suggested": len(pairs),
        "scored": len(scored),
        "right": sum(majority[a] == majority[b] for a, b in scored),
        "splits_found": sum(pair in split for pair in scored),
        "scored_multi": len(both),
        "right_multi": sum(majority[a] == majority[b] for a, b in both),
        "splits_found_multi": sum(pair in split for pair in both),
    }


def run_draw(draw: Draw, shares: Iterable[float], cut: float) -> dict:
    X, groups, identity = draw.vectors, draw.groups, draw.identity
    started = time.monotonic()
    graph = knn_graph(X, 30, method="exact")
    labels, used, _ = cluster_vectors(X, groups, method=METHOD, graph=graph)
    labels = np.asarray(labels)
    people = set(np.unique(labels[labels >= 0]).tolist())
    majority = majority_identity(labels, identity)
    sharing = photo_sharing_pairs(labels, groups)
    split = split_pairs(majority)
    ids, means, counts = person_means(X, labels, people)
    size = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    multi = {p for p, c in size.items() if c >= 2}
    row = {p: i for i, p in enumerate(ids.tolist())}
    clustered = time.monotonic() - started
    eligible = {  # split pairs close_pairs may suggest at some bound
        (a, b): float(average_linkage(means[row[a]], means[row[b]][None])[0])
        for a, b in sorted(split)
        if (a, b) not in sharing and (size[a] >= 2 or size[b] >= 2)
    }
    out: dict = {
        "faces": len(X),
        "identities": len(np.unique(identity[identity != ""])),
        "cut": used,
        "people": len(people),
        "no_person_faces": int((labels < 0).sum()),
        "singletons": int((counts == 1).sum()),
        "unlabelled_people": len(people - set(majority)),
        "split_pairs": len(split),
        "split_pairs_sharing_a_photo": len(split & sharing),
        "split_pairs_multi": sum(a in multi and b in multi for a, b in split),
        "split_pairs_single": sum(a not in multi and b not in multi for a, b in split),
        "split_distances": sorted(round(d / cut, 3) for d in eligible.values()),
        "cluster_s": round(clustered, 2),
        "shares": {},
    }
    ours = {}
    for share in shares:
        close = close_pairs(X, labels, people, share * cut)
        ours[share] = [pair for pair in close if pair not in sharing]
        out["shares"][str(share)] = {
            "dropped_sharing_a_photo": len(close) - len(ours[share]),
            "ours": score(ours[share], majority, split, multi),
            "splits_within_bound": sum(d < share * cut for d in eligible.values()),
        }
    started = time.monotonic()
    n = len(ids)
    excluded = np.tri(n, dtype=bool)  # the lower triangle and the diagonal
    single = counts == 1
    excluded |= single[:, None] & single[None, :]
    for a, b in sharing:
        excluded[row[a], row[b]] = True
    wanted = max(DEFAULT_LIMIT, *map(len, ours.values()))
    peers = {
        "single": ranked(ids, single_linkage(X, labels), excluded, wanted),
        "direction": ranked(ids, mean_direction(means), excluded, wanted),
    }
    for share, pairs in ours.items():
        cell = out["shares"][str(share)]
        for who, theirs in peers.items():
            cell[who] = score(theirs[: len(pairs)], majority, split, multi)
    page = ours.get(PAGE_SHARE, [])[:DEFAULT_LIMIT]
    out["page"] = {"ours": score(page, majority, split, multi)}
    for who, theirs in peers.items():
        out["page"][who] = score(theirs[: len(page)], majority, split, multi)
    out["peer_s"] = round(time.monotonic() - started, 2)
    return out


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def pooled(runs: list[dict], pick: Callable[[dict], dict]) -> dict:
    """The counts ``pick`` finds in each draw, pooled: precision and recall as ratios of sums,
    counts as means over the draws."""
    total = {key: sum(pick(r)[key] for r in runs) for key in pick(runs[0])}
    splits = sum(r["split_pairs"] for r in runs)
    splits_multi = sum(r["split_pairs_multi"] for r in runs)
    return {
        "suggested": round(total["suggested"] / len(runs), 1),
        "unscored": round((total["suggested"] - total["scored"]) / len(runs), 1),
        "scored_total": total["scored"],
        "right_total": total["right"],
        "precision": _ratio(total["right"], total["scored"]),
        "recall": _ratio(total["splits_found"], splits),
        "multi": round(total["scored_multi"] / len(runs), 1),
        "precision_multi": _ratio(total["right_multi"], total["scored_multi"]),
        "recall_multi": _ratio(total["splits_found_multi"], splits_multi),
    }


def _over(mine: float | None, theirs: float | None) -> float | None:
    return round(mine / theirs, 3) if mine is not None and theirs else None


def summarise(name: str, runs: list[dict]) -> dict:
    keys = ("faces", "identities", "people", "singletons", "unlabelled_people")
    keys += ("split_pairs", "split_pairs_sharing_a_photo", "split_pairs_multi")
    keys += ("split_pairs_single",)
    summary: dict = {
        "shape": name,
        "draws": len(runs),
        **{key: round(float(np.mean([r[key] for r in runs])), 1) for key in keys},
        "cut": round(float(np.mean([r["cut"] for r in runs])), 3),
        "shares": {},
    }
    apart = [d for r in runs for d in r["split_distances"]]
    summary["split_distance_quartiles"] = (
        [round(float(q), 2) for q in np.quantile(apart, [0.25, 0.5, 0.75])] if apart else None
    )
    splits = sum(r["split_pairs"] for r in runs)
    before = None
    for share in runs[0]["shares"]:
        row = {who: pooled(runs, lambda r, x=share, w=who: r["shares"][x][w]) for who in PEERS}
        row["ours"] = pooled(runs, lambda r, x=share: r["shares"][x]["ours"])
        for who in PEERS:
            row[f"ratio_{who}"] = _over(row["ours"]["precision"], row[who]["precision"])
        within = sum(r["shares"][share]["splits_within_bound"] for r in runs)
        row["recall_ceiling"] = _ratio(within, splits)
        mine = row["ours"]
        added = mine["scored_total"] - (before["scored_total"] if before else 0)
        right = mine["right_total"] - (before["right_total"] if before else 0)
        row["added_precision"] = _ratio(right, added)  # of the pairs this share adds
        before = mine
        summary["shares"][share] = row
    summary["page"] = {who: pooled(runs, lambda r, w=who: r["page"][w]) for who in ("ours", *PEERS)}
    return summary


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def print_tables(summaries: list[dict], share: float = PAGE_SHARE) -> None:
    key = str(share)
    print(
        f"\nAt {share:g} × the cut (the page's bound): suggestions (unscored), precision, recall "
        f"(ceiling), the page's first {DEFAULT_LIMIT}; the peers at as many suggestions."
    )
    print(
        "\n| shape | draws | faces | auto cut | people (1 face) | no label | split pairs (both "
        "≥ 2 faces / both 1 / share a photo) | split apart, × cut | suggestions (unscored) "
        f"| precision | recall (ceiling) | first {DEFAULT_LIMIT}: n · P "
        "| single linkage P / R | mean direction P / R | ratio (single / direction) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        row = s["shares"].get(key)
        if row is None:
            continue
        ours, single, direction, page = row["ours"], row["single"], row["direction"], s["page"]
        quartiles = s["split_distance_quartiles"]
        apart = f"{quartiles[1]:.2f} ({quartiles[0]:.2f}–{quartiles[2]:.2f})" if quartiles else "–"
        print(
            f"| {s['shape']} | {s['draws']} | {_count(s['faces'])} | {s['cut']:.3f} "
            f"| {_count(s['people'])} ({_count(s['singletons'])}) "
            f"| {_count(s['unlabelled_people'])} | {_count(s['split_pairs'])} "
            f"({_count(s['split_pairs_multi'])} / {_count(s['split_pairs_single'])} / "
            f"{_count(s['split_pairs_sharing_a_photo'])}) "
            f"| {apart} | {_count(ours['suggested'])} ({_count(ours['unscored'])}) "
            f"| {_num(ours['precision'])} | {_num(ours['recall'])} "
            f"({_num(row['recall_ceiling'])}) "
            f"| {_count(page['ours']['suggested'])} · {_num(page['ours']['precision'], 2)} "
            f"| {_num(single['precision'])} / {_num(single['recall'])} "
            f"| {_num(direction['precision'])} / {_num(direction['recall'])} "
            f"| {_num(row['ratio_single'], 2)} / {_num(row['ratio_direction'], 2)} |"
        )
    shares = list(summaries[0]["shares"]) if summaries else []
    head = "| shape | " + " | ".join(f"{float(x):g} × cut" for x in shares) + " |"
    rule = "|---|" + "---|" * len(shares)
    print(
        "\nThe share of the cut: suggestions · precision / recall [precision of the pairs this "
        "share adds to the one before] (single linkage's / mean direction's precision)."
    )
    print("\n" + head + "\n" + rule)
    for s in summaries:
        cells = []
        for x in shares:
            row = s["shares"][x]
            ours = row["ours"]
            cells.append(
                f"{_count(ours['suggested'])} · {_num(ours['precision'], 2)} / "
                f"{_num(ours['recall'], 2)} [{_num(row['added_precision'], 2)}] "
                f"({_num(row['single']['precision'], 2)} / "
                f"{_num(row['direction']['precision'], 2)})"
            )
        print(f"| {s['shape']} | " + " | ".join(cells) + " |")
    print(
        f"\nThe page's first {DEFAULT_LIMIT} (nearest first, at {share:g} × cut) and the peers' "
        "first as many: suggestions (unscored) · precision."
    )
    print("\n| shape | ours | single linkage | mean direction |\n|---|---|---|---|")
    for s in summaries:
        page = s["page"]
        cells = [
            f"{_count(page[who]['suggested'])} ({_count(page[who]['unscored'])}) · "
            f"{_num(page[who]['precision'], 2)}"
            for who in ("ours", *PEERS)
        ]
        print(f"| {s['shape']} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", help="comma-separated shape names (default: all)")
    parser.add_argument("--draws", type=int, help="at most this many draws per shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cut", type=float, default=CUT, help="the model's cut (0.40: dlib)")
    parser.add_argument(
        "--shares", default=",".join(map(str, SHARES)), help="shares of the cut to sweep"
    )
    parser.add_argument("--out", type=Path, help="write every draw's results as JSON here")
    parser.add_argument("--table", type=Path, help="print the tables of an earlier --out file")
    args = parser.parse_args()
    if args.table:
        earlier = json.loads(args.table.read_text())
        print_tables([summarise(n, v["draws"]) for n, v in earlier["shapes"].items()])
        return
    shares = [float(x) for x in args.shares.split(",") if x]
    if PAGE_SHARE not in shares:
        shares.append(PAGE_SHARE)  # the page's first DEFAULT_LIMIT are measured there
    results: dict = {"cut": args.cut, "shares": shares, "method": METHOD, "shapes": {}}
    summaries = []
    for shape, pool in each_shape(args.shapes):
        name = shape[0]
        runs = []
        for i, draw in enumerate(draws(shape, pool, args.draws, args.seed)):
            started = time.monotonic()
            run = run_draw(draw, shares, args.cut)
            runs.append(run)
            mine = run["shares"][str(PAGE_SHARE)]["ours"]
            print(
                f"{name} draw {i}: {run['faces']} faces, {run['people']} people "
                f"(cut {run['cut']:.3f}), {run['split_pairs']} split pairs; at "
                f"{PAGE_SHARE:g} × cut: {mine['suggested']} suggested, {mine['right']} of "
                f"{mine['scored']} right ({time.monotonic() - started:.0f} s)",
                flush=True,
            )
        summary = summarise(name, runs)
        summaries.append(summary)
        results["shapes"][name] = {"summary": summary, "draws": runs}
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))
    print_tables(summaries)


if __name__ == "__main__":
    main()
