"""Merge suggestions on collections of many shapes: precision, recall and the share of the cut.

Usage::

    # the catalogs of bench/cluster_shapes.py (.cache/celeba.db, lfw.db, mixed.db)
    .venv/bin/python bench/suggestions.py [--shapes celeba-10,lfw-all] [--draws 3] \\
        [--out .cache/suggestions.json]
    .venv/bin/python bench/suggestions.py --table .cache/suggestions.json   # reprint a run

Every shape and draw of ``bench/cluster_shapes.py``: the faces are grouped as ``faceatlas
cluster`` does by default (Infomap at the automatic cut), then the people page's merge
suggestions are made with ``faceatlas.people.suggest.close_pairs`` over every person
(singletons included) at ``share x cut`` (``--cut``: 0.40, dlib's ResNet; the page uses
``SUGGEST_SHARE`` 0.75), and the pairs whose two people hold faces of one photo are dropped (as
``merge_suggestions`` does; no one is named or dismissed here).

Scoring: only the face nearest each photo's centre carries its folder's identity. A person's
identity is the majority identity of its labelled faces; pairs with a person holding no
labelled face are counted apart (``unscored``). A suggestion is right when its two people
have one identity. A **split pair** is a pair of people with one identity (a person left in
two parts): recall is the share of them suggested. Precision and recall pool the pairs of
every draw of a shape (ratio of sums); counts are means over the draws.

The peer ranks every pair of people by the distance between their nearest faces (single
linkage, exact), drops the pairs sharing a photo in the same way and takes as many pairs as
ours made, so the two precisions are compared at equal numbers; ``ratio`` is ours over the
peer's. Average linkage, from the same per-person sums as ours (the root mean squared distance
between two people's faces, ``sqrt(2 - 2 m_a . m_b)`` with ``m`` the plain mean vector), is
measured both at as many pairs and below the same bounds. Last, the page's first
``DEFAULT_LIMIT`` suggestions (nearest first) against the others' at as many. The full run
takes about a minute on one core.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from cluster_shapes import CATALOGS, Draw, Pool, draws, knn_graph, load_pool, shapes

from faceatlas.people.cluster import cluster_vectors
from faceatlas.people.suggest import DEFAULT_LIMIT, SUGGEST_SHARE, close_pairs, person_means

SHARES = (0.5, 0.625, 0.75, 0.875, 1.0)
CUT = 0.40  # dlib's ResNet (ModelSpec.cut): the .cache catalogs are indexed with it
METHOD = "infomap"  # faceatlas cluster's default
Pair = tuple[int, int]
Linkage = tuple[np.ndarray, np.ndarray]  # people's ids, (P, P) distances between them
RankedPairs = list[tuple[Pair, float]]


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


def single_linkage(vectors: np.ndarray, labels: np.ndarray, block: int = 1024) -> Linkage:
    """Distance between the nearest faces of every two people (exact)."""
    kept = np.flatnonzero(labels >= 0)
    order = kept[np.argsort(labels[kept], kind="stable")]
    X, person = vectors[order], labels[order]
    ids, starts, sizes = np.unique(person, return_index=True, return_counts=True)
    n = len(ids)
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
    return ids, np.sqrt(np.clip(2.0 - 2.0 * best, 0.0, 4.0))


def average_linkage(vectors: np.ndarray, labels: np.ndarray) -> Linkage:
    """Root mean squared distance between the faces of every two people: from the people's
    plain (not renormalised) mean vectors ``m``, ``sqrt(2 - 2 m_a . m_b)``."""
    kept = labels >= 0
    ids, inverse = np.unique(labels[kept], return_inverse=True)
    sums = np.zeros((len(ids), vectors.shape[1]), np.float64)
    np.add.at(sums, inverse, vectors[kept])
    means = (sums / np.bincount(inverse)[:, None]).astype(np.float32)
    return ids, np.sqrt(np.clip(2.0 - 2.0 * means @ means.T, 0.0, 4.0))


def ranked(linkage: Linkage, ruled_out: set[Pair], bound: float, wanted: int) -> RankedPairs:
    """The pairs of people of ``linkage`` closer than ``bound``, and at least the ``wanted``
    nearest, nearest first (ties by ids), leaving out ``ruled_out``."""
    ids, dist = linkage
    n = len(ids)
    dist = dist.copy()
    dist[np.tril_indices(n)] = np.inf
    index = {int(p): i for i, p in enumerate(ids.tolist())}
    for a, b in ruled_out:
        if a in index and b in index:
            dist[index[a], index[b]] = np.inf
    flat = dist.ravel()
    take = min(max(wanted, int((flat < bound).sum())), int(np.isfinite(flat).sum()))
    top = np.argpartition(flat, take - 1)[:take] if take else np.zeros(0, np.int64)
    top = top[np.lexsort((top, flat[top]))]
    return [((int(ids[i // n]), int(ids[i % n])), float(flat[i])) for i in top.tolist()]


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
    sizes = np.bincount(labels[labels >= 0])
    multi = set(np.flatnonzero(sizes >= 2).tolist())
    clustered = time.monotonic() - started
    ids, means = person_means(X, labels, people)
    row = {int(p): i for i, p in enumerate(ids.tolist())}
    split_distance = {
        (a, b): float(np.linalg.norm(means[row[a]] - means[row[b]])) for a, b in sorted(split)
    }
    out: dict = {
        "faces": len(X),
        "identities": len(np.unique(identity[identity != ""])),
        "cut": used,
        "people": len(people),
        "no_person_faces": int((labels < 0).sum()),
        "singletons": int((sizes == 1).sum()),
        "unlabelled_people": len(people - set(majority)),
        "split_pairs": len(split),
        "split_pairs_sharing_a_photo": len(split & sharing),
        "split_pairs_multi": sum(a in multi and b in multi for a, b in split),
        "split_distances": sorted(round(d / cut, 3) for d in split_distance.values()),
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
            "splits_within_bound": sum(  # the most close_pairs could find (NEIGHBOURS)
                d < share * cut and pair not in sharing for pair, d in split_distance.items()
            ),
        }
    started = time.monotonic()
    wanted = max(DEFAULT_LIMIT, *map(len, ours.values()))
    top = max(shares) * cut
    peer = [pair for pair, _ in ranked(single_linkage(X, labels), sharing, 0.0, wanted)]
    average = ranked(average_linkage(X, labels), sharing, top, wanted)
    for share, pairs in ours.items():
        row = out["shares"][str(share)]
        row["peer"] = score(peer[: len(pairs)], majority, split, multi)
        row["average"] = score([p for p, _ in average[: len(pairs)]], majority, split, multi)
        row["average_bound"] = score(
            [p for p, d in average if d < share * cut], majority, split, multi
        )
    page = ours.get(SUGGEST_SHARE, [])[:DEFAULT_LIMIT]
    out["page"] = {
        "ours": score(page, majority, split, multi),
        "peer": score(peer[: len(page)], majority, split, multi),
        "average": score([p for p, _ in average[: len(page)]], majority, split, multi),
        "average_first": score(
            [p for p, d in average if d < top][:DEFAULT_LIMIT], majority, split, multi
        ),
    }
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
    for share in runs[0]["shares"]:
        row = {
            who: pooled(runs, lambda r, x=share, who=who: r["shares"][x][who])
            for who in ("ours", "peer", "average", "average_bound")
        }
        within = sum(r["shares"][share]["splits_within_bound"] for r in runs)
        row["ratio"] = _over(row["ours"]["precision"], row["peer"]["precision"])
        row["ratio_average"] = _over(row["ours"]["precision"], row["average"]["precision"])
        row["recall_ceiling"] = _ratio(within, splits)
        summary["shares"][share] = row
    summary["page"] = {
        who: pooled(runs, lambda r, who=who: r["page"][who])
        for who in ("ours", "peer", "average", "average_first")
    }
    return summary


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _count(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.1f}"


def print_tables(summaries: list[dict], share: float = SUGGEST_SHARE) -> None:
    key = str(share)
    print(
        f"\nAt {share:g} of the cut (the page's bound): suggestions (unscored), precision, recall "
        "of the split pairs; the peer (nearest faces) and average linkage at as many suggestions."
    )
    print(
        "\n| shape | draws | faces | auto cut | people (1 face) | no label | split pairs (both "
        "≥ 2 faces / share a photo) | split means apart, × cut | suggestions (unscored) "
        "| precision | recall | peer P / R | ratio | average linkage P / R |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        row = s["shares"].get(key)
        if row is None:
            continue
        ours, peer, average = row["ours"], row["peer"], row["average"]
        quartiles = s["split_distance_quartiles"]
        apart = f"{quartiles[1]:.2f} ({quartiles[0]:.2f}–{quartiles[2]:.2f})" if quartiles else "–"
        print(
            f"| {s['shape']} | {s['draws']} | {_count(s['faces'])} | {s['cut']:.3f} "
            f"| {_count(s['people'])} ({_count(s['singletons'])}) "
            f"| {_count(s['unlabelled_people'])} | {_count(s['split_pairs'])} "
            f"({_count(s['split_pairs_multi'])} / {_count(s['split_pairs_sharing_a_photo'])}) "
            f"| {apart} | {_count(ours['suggested'])} ({_count(ours['unscored'])}) "
            f"| {_num(ours['precision'])} | {_num(ours['recall'])} "
            f"| {_num(peer['precision'])} / {_num(peer['recall'])} | {_num(row['ratio'], 2)} "
            f"| {_num(average['precision'])} / {_num(average['recall'])} |"
        )
    shares = list(summaries[0]["shares"]) if summaries else []
    head = "| shape | " + " | ".join(f"{float(x):g} × cut" for x in shares) + " |"
    rule = "|---|" + "---|" * len(shares)
    print("\nThe share of the cut: suggestions · precision / recall (peer's precision).")
    print("\n" + head + "\n" + rule)
    for s in summaries:
        cells = []
        for x in shares:
            ours, peer = s["shares"][x]["ours"], s["shares"][x]["peer"]
            cells.append(
                f"{_count(ours['suggested'])} · {_num(ours['precision'], 2)} / "
                f"{_num(ours['recall'], 2)} ({_num(peer['precision'], 2)})"
            )
        print(f"| {s['shape']} | " + " | ".join(cells) + " |")
    print(
        "\nAverage linkage (root mean squared distance between the two people's faces, from "
        "their plain mean vectors) below the same bounds: suggestions · precision / recall."
    )
    print("\n" + head + "\n" + rule)
    for s in summaries:
        cells = []
        for x in shares:
            average = s["shares"][x]["average_bound"]
            cells.append(
                f"{_count(average['suggested'])} · {_num(average['precision'], 2)} / "
                f"{_num(average['recall'], 2)}"
            )
        print(f"| {s['shape']} | " + " | ".join(cells) + " |")
    print(
        f"\nThe page's first {DEFAULT_LIMIT} (nearest first): ours at {share:g} of the cut, the "
        f"peer and average linkage at as many, and average linkage's own first {DEFAULT_LIMIT} "
        f"below {max(map(float, shares)):g} × cut: "
        "suggestions (unscored) · precision."
    )
    print(
        "\n| shape | ours | peer | average linkage | average linkage's first "
        f"{DEFAULT_LIMIT} below {max(map(float, shares)):g} × cut |\n|---|---|---|---|---|"
    )
    for s in summaries:
        page = s["page"]
        cells = [
            f"{_count(page[who]['suggested'])} ({_count(page[who]['unscored'])}) · "
            f"{_num(page[who]['precision'], 2)}"
            for who in ("ours", "peer", "average", "average_first")
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
    wanted = set(args.shapes.split(",")) if args.shapes else None
    pools: dict[str, Pool | None] = {}
    results: dict = {"cut": args.cut, "shares": shares, "method": METHOD, "shapes": {}}
    summaries = []
    for shape in shapes():
        name, pool_name = shape[0], shape[1]
        if wanted is not None and name not in wanted:
            continue
        if pool_name not in pools:
            pools[pool_name] = load_pool(pool_name, CATALOGS[pool_name])
        pool = pools[pool_name]
        if pool is None:
            print(f"{name}: skipped, {CATALOGS[pool_name]} not indexed", flush=True)
            continue
        runs = []
        for i, draw in enumerate(draws(shape, pool, args.draws, args.seed)):
            started = time.monotonic()
            run = run_draw(draw, shares, args.cut)
            runs.append(run)
            mine = run["shares"].get(str(SUGGEST_SHARE), {}).get("ours", {})
            print(
                f"{name} draw {i}: {run['faces']} faces, {run['people']} people "
                f"(cut {run['cut']:.3f}), {run['split_pairs']} split pairs; at "
                f"{SUGGEST_SHARE}: {mine.get('suggested')} suggested, {mine.get('right')} of "
                f"{mine.get('scored')} right ({time.monotonic() - started:.0f} s)",
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
