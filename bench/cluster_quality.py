"""Who is who on all of LFW: every clustering method against the true identities.

Usage::

    .venv/bin/python bench/common.py          # once: index all of LFW (resumable)
    .venv/bin/python bench/cluster_quality.py [--catalog .cache/lfw.db] [--out FILE.json]

One exact 30-NN graph of all faces is built once and shared. Each method runs at its
``--threshold auto`` setting (labels unused) and over a sweep of fixed thresholds; the table
gives pairwise F, BCubed F, NMI and seconds (graph excluded, it is listed once) at auto and at
the best swept threshold. kmeans has no threshold: "auto" gives it the number of people the
default method found, "best" the true number of identities. Peers in the same run:
``dlib.chinese_whispers_clustering`` at 0.5 on dlib's raw descriptors (as in dlib's example)
and scikit-learn DBSCAN (min_samples=1) on the same raw descriptors at eps 0.40 and 0.45.
Only the face nearest each photo's centre carries the photo's label and is scored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from common import DEFAULT_LFW_CATALOG, require

from faceatlas.catalog import Catalog
from faceatlas.evaluate import FaceLabels, folder_labels, score_labels
from faceatlas.graph import knn_graph
from faceatlas.people.cluster import cluster_vectors
from faceatlas.people.methods import DEFAULT_METHOD, METHODS

LFW_IMAGES = 13_233
FINE = [round(0.26 + 0.01 * i, 2) for i in range(17)]  # 0.26 .. 0.42
COARSE = [round(0.30 + 0.02 * i, 2) for i in range(11)]  # 0.30 .. 0.50
SWEEP = {
    "infomap": FINE,
    "chinese-whispers": FINE,
    "dbscan": FINE,
    "rank-order": FINE,
    "hdbscan": [round(0.20 + 0.01 * i, 2) for i in range(17)],  # 0.20 .. 0.36
    "leader": COARSE,
    "agglomerative": COARSE,
}


def scores_row(truth: FaceLabels, face_ids: np.ndarray, labels: np.ndarray, seconds: float) -> dict:
    s = score_labels(truth, face_ids, labels)
    return {
        "pairwise_f": round(s.pairwise_f, 4),
        "pairwise_p": round(s.pairwise_precision, 4),
        "pairwise_r": round(s.pairwise_recall, 4),
        "bcubed_f": round(s.bcubed_f, 4),
        "nmi": round(s.nmi, 4),
        "clusters": s.clusters,
        "seconds": round(seconds, 2),
    }


def agglomerative_sweep(X: np.ndarray, cuts: list[float]) -> dict[float, np.ndarray]:
    """Average linkage computed once (scipy), cut at each threshold: same as the method's."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    tree = linkage(pdist(X.astype(np.float64)), method="average")
    return {t: fcluster(tree, t, criterion="distance") for t in cuts}


def run_method(
    method: str, X, groups, graph, truth, face_ids, n_clusters=None
) -> tuple[dict, np.ndarray]:
    started = time.monotonic()
    labels, used, _ = cluster_vectors(X, groups, method=method, graph=graph, n_clusters=n_clusters)
    row = scores_row(truth, face_ids, labels, time.monotonic() - started)
    row["threshold"] = None if used is None else round(used, 4)
    return row, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=Path, default=DEFAULT_LFW_CATALOG)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    with Catalog(require(args.catalog)) as catalog:
        images = catalog.stats()["images"]
        if images < LFW_IMAGES:
            sys.exit(
                f"{args.catalog} holds {images} of {LFW_IMAGES} LFW images; "
                "run bench/common.py to finish it"
            )
        matrix = catalog.face_matrix(order="path")  # the input `faceatlas cluster` gives
        truth = folder_labels(catalog)
        norms = catalog.embedding_norms(matrix.face_ids)
    X, groups, face_ids = matrix.vectors, matrix.image_ids, matrix.face_ids
    print(
        f"{len(X)} faces in {images} images, {len(truth)} labelled, "
        f"{len(set(truth.identities))} identities",
        flush=True,
    )
    started = time.monotonic()
    graph = knn_graph(X, 30, method="exact")
    results: dict = {"faces": len(X), "graph_s": round(time.monotonic() - started, 1)}
    print(f"exact 30-NN graph: {results['graph_s']} s", flush=True)
    methods = [m for m in args.methods.split(",") if m]
    default_people = None
    for method in [DEFAULT_METHOD] + [m for m in methods if m != DEFAULT_METHOD]:
        if method not in methods:
            continue
        if method == "kmeans":
            auto, _ = run_method(method, X, groups, graph, truth, face_ids, default_people)
            best, _ = run_method(
                method, X, groups, graph, truth, face_ids, len(set(truth.identities))
            )
            auto["k"], best["k"] = default_people, len(set(truth.identities))
            results[method] = {"auto": auto, "best": best, "sweep": []}
            print(f"{method}: auto {auto}\n  best {best}", flush=True)
            continue
        auto, labels = run_method(method, X, groups, graph, truth, face_ids)
        if method == DEFAULT_METHOD:
            default_people = len(np.unique(labels[labels >= 0]))
        sweep = []
        if method == "agglomerative":
            started = time.monotonic()
            cuts = agglomerative_sweep(X, SWEEP[method])
            each = (time.monotonic() - started) / len(cuts)
            for t, labels in cuts.items():
                sweep.append({"threshold": t, **scores_row(truth, face_ids, labels, each)})
        else:
            for t in SWEEP[method]:
                started = time.monotonic()
                labels, _, _ = cluster_vectors(X, groups, method=method, threshold=t, graph=graph)
                sweep.append(
                    {
                        "threshold": t,
                        **scores_row(truth, face_ids, labels, time.monotonic() - started),
                    }
                )
        best = max(sweep, key=lambda r: r["pairwise_f"])
        results[method] = {"auto": auto, "best": best, "sweep": sweep}
        print(f"{method}: auto {auto}\n  best {best}", flush=True)
    results["peers"] = peers(X * norms[:, None], truth, face_ids)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print_table(results)


def peers(raw: np.ndarray, truth: FaceLabels, face_ids: np.ndarray) -> dict:
    """dlib's Chinese whispers and scikit-learn DBSCAN on dlib's raw descriptors."""
    import dlib
    from sklearn.cluster import DBSCAN

    out = {}
    vectors = [dlib.vector(row.tolist()) for row in raw.astype(np.float64)]
    started = time.monotonic()
    labels = np.asarray(dlib.chinese_whispers_clustering(vectors, 0.5))
    out["dlib chinese_whispers_clustering 0.5 (raw)"] = scores_row(
        truth, face_ids, labels, time.monotonic() - started
    )
    for eps in (0.40, 0.45):
        started = time.monotonic()
        labels = DBSCAN(eps=eps, min_samples=1).fit(raw).labels_
        out[f"scikit-learn DBSCAN eps {eps} (raw)"] = scores_row(
            truth, face_ids, labels, time.monotonic() - started
        )
    for name, row in out.items():
        print(f"{name}: {row}", flush=True)
    return out


def print_table(results: dict) -> None:
    print(f"\n{results['faces']} faces; exact 30-NN graph {results['graph_s']} s (shared)\n")
    print(
        "| method | auto: threshold | pairwise F | BCubed F | NMI | s "
        "| best: threshold | pairwise F | BCubed F | NMI |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for method in METHODS:
        if method not in results:
            continue
        a, b = results[method]["auto"], results[method]["best"]
        ta = a.get("threshold") if method != "kmeans" else f"k={a['k']}"
        tb = b.get("threshold") if method != "kmeans" else f"k={b['k']}"
        print(
            f"| {method} | {ta} | {a['pairwise_f']:.3f} | {a['bcubed_f']:.3f} | {a['nmi']:.3f} "
            f"| {a['seconds']:.1f} | {tb} | {b['pairwise_f']:.3f} | {b['bcubed_f']:.3f} "
            f"| {b['nmi']:.3f} |"
        )
    for name, row in results["peers"].items():
        print(
            f"| {name} | | {row['pairwise_f']:.3f} | {row['bcubed_f']:.3f} | {row['nmi']:.3f} "
            f"| {row['seconds']:.1f} | | | | |"
        )


if __name__ == "__main__":
    main()
