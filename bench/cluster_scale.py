"""How clustering scales: synthetic LFW-like embeddings at 100 k and 1 M faces (128-d).

Usage::

    .venv/bin/python bench/cluster_scale.py [--sizes 100000,1000000] [--peer-sizes 10000,20000]
    .venv/bin/python bench/cluster_scale.py --knn-compare 100000   # HNSW vs IVF only

For each size: seconds for the kNN graph (auto: exact up to 100 k faces, HNSW above) and for
each method that scales (at ``--threshold auto``), pairwise/BCubed F against the synthetic
identities, and peak memory. The peer, ``dlib.chinese_whispers_clustering`` (all pairs, O(N**2)),
runs at the peer sizes together with faceatlas's Chinese whispers (graph included) on the same
vectors and the same threshold, and the ratio is printed. Embeddings follow LFW's statistics
(bench/lfw_like.py, fitted from the LFW catalog of bench/common.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import lfw_like
import numpy as np
from common import DEFAULT_LFW_CATALOG, require

from faceatlas.graph import knn_graph
from faceatlas.metrics import cluster_scores
from faceatlas.people.cluster import cluster_vectors

# methods run at each size (leader and rank-order are quadratic-ish or memory-heavy beyond)
SCALING = {
    "chinese-whispers": 10**9,
    "infomap": 10**9,
    "dbscan": 10**9,
    "leader": 200_000,
    "rank-order": 200_000,
}


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


def scale_run(
    stats: lfw_like.LfwStats, n: int, k: int, knn: str, methods: list[str], threshold: float | str
) -> dict:
    started = time.monotonic()
    X, truth = lfw_like.sample(stats, n, seed=n)
    row: dict = {"faces": n, "identities": len(np.unique(truth))}
    row["generate_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    graph = knn_graph(X, k, method=knn)
    row["graph"] = graph.method
    row["graph_s"] = round(time.monotonic() - started, 1)
    print(
        f"{n} faces: {graph.method} {k}-NN graph {row['graph_s']} s, rss {rss_gb():.1f} GB",
        flush=True,
    )
    for method in methods:
        if n > SCALING[method]:
            continue
        started = time.monotonic()
        labels, used, _ = cluster_vectors(X, None, method=method, graph=graph, threshold=threshold)
        seconds = time.monotonic() - started
        s = cluster_scores(truth, labels)
        row[method] = {
            "seconds": round(seconds, 1),
            "total_s": round(seconds + row["graph_s"], 1),
            "threshold": round(used, 4),
            "pairwise_f": round(s.pairwise_f, 4),
            "bcubed_f": round(s.bcubed_f, 4),
            "clusters": s.clusters,
        }
        print(f"  {method}: {row[method]}  peak {peak_gb():.1f} GB", flush=True)
    row["peak_gb"] = round(peak_gb(), 2)
    return row


def peer_run(stats: lfw_like.LfwStats, n: int, threshold: float | str) -> dict:
    import dlib

    X, truth = lfw_like.sample(stats, n, seed=n)
    started = time.monotonic()
    labels, used, _ = cluster_vectors(X, None, method="chinese-whispers", threshold=threshold)
    ours = time.monotonic() - started
    ours_f = cluster_scores(truth, labels).pairwise_f
    vectors = [dlib.vector(row.tolist()) for row in X.astype(np.float64)]
    started = time.monotonic()
    dlib_labels = np.asarray(dlib.chinese_whispers_clustering(vectors, float(used)))
    theirs = time.monotonic() - started
    row = {
        "faces": n,
        "threshold": round(used, 4),
        "faceatlas_s": round(ours, 2),
        "dlib_s": round(theirs, 2),
        "ratio": round(theirs / ours, 1),
        "faceatlas_pairwise_f": round(ours_f, 4),
        "dlib_pairwise_f": round(cluster_scores(truth, dlib_labels).pairwise_f, 4),
    }
    print(f"peer at {n}: {row}", flush=True)
    return row


def knn_compare(stats: lfw_like.LfwStats, n: int, k: int = 10, probes: int = 5000) -> list[dict]:
    """Build and search time of HNSW and IVF on ``n`` faces, and their recall of near pairs."""
    import faiss

    X, _ = lfw_like.sample(stats, n, seed=1)
    dim = X.shape[1]
    queries = np.arange(0, n, max(1, n // probes))[:probes]
    flat = faiss.IndexFlatIP(dim)
    flat.add(X)
    sims, ids = flat.search(X[queries], k + 1)
    near = [set(ids[i][sims[i] > 1 - 0.3**2 / 2]) - {q} for i, q in enumerate(queries)]
    total = max(1, sum(map(len, near)))
    rows = []
    for name, make, search_param in [
        ("HNSW M32 efC64 efS96", lambda: _hnsw(dim, 32, 64), ("efSearch", 96)),
        ("HNSW M16 efC40 efS32", lambda: _hnsw(dim, 16, 40), ("efSearch", 32)),
        ("IVF nprobe16", lambda: _ivf(X, n // 256), ("nprobe", 16)),
        ("IVF nprobe8", lambda: _ivf(X, n // 256), ("nprobe", 8)),
    ]:
        started = time.monotonic()
        index = make()
        index.add(X)
        built = time.monotonic() - started
        target = index.hnsw if search_param[0] == "efSearch" else index
        setattr(target, *search_param)
        started = time.monotonic()
        _, found = index.search(X, k + 1)
        searched = time.monotonic() - started
        recall = sum(len(near[i] & set(found[q])) for i, q in enumerate(queries)) / total
        rows.append(
            {
                "index": name,
                "build_s": round(built, 1),
                "search_s": round(searched, 1),
                "recall_near": round(recall, 4),
            }
        )
        print(rows[-1], flush=True)
    return rows


def _hnsw(dim: int, m: int, ef_construction: int):
    import faiss

    index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    return index


def _ivf(X: np.ndarray, cells: int):
    import faiss

    index = faiss.IndexIVFFlat(
        faiss.IndexFlatIP(X.shape[1]), X.shape[1], cells, faiss.METRIC_INNER_PRODUCT
    )
    index.cp.niter = 10
    rows = np.random.default_rng(0).choice(len(X), min(len(X), cells * 40), replace=False)
    index.train(X[np.sort(rows)])
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--peer-sizes", default="10000,20000")
    parser.add_argument("--methods", default=",".join(SCALING))
    parser.add_argument("--neighbors", type=int, default=10, help="k of the kNN graph")
    parser.add_argument("--knn", default="auto", help="auto, exact, hnsw or ivf")
    parser.add_argument("--threshold", default="auto", help="'auto' or a fixed cut")
    parser.add_argument("--catalog", type=Path, default=DEFAULT_LFW_CATALOG)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--knn-compare",
        type=int,
        metavar="N",
        help="only compare HNSW and IVF build/search time and recall at N faces",
    )
    args = parser.parse_args()
    stats = lfw_like.load(require(args.catalog))
    threshold = args.threshold if args.threshold == "auto" else float(args.threshold)
    if args.knn_compare:
        print(json.dumps(knn_compare(stats, args.knn_compare), indent=2))
        return
    methods = [m for m in args.methods.split(",") if m]
    unknown = set(methods) - set(SCALING)
    if unknown:
        sys.exit(f"not a scaling method: {sorted(unknown)}; choose from {sorted(SCALING)}")
    results = {"peers": [], "sizes": []}
    for n in [int(s) for s in args.peer_sizes.split(",") if s]:
        results["peers"].append(peer_run(stats, n, threshold))
    for n in [int(s) for s in args.sizes.split(",") if s]:
        results["sizes"].append(scale_run(stats, n, args.neighbors, args.knn, methods, threshold))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
