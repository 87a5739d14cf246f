"""``--threshold auto``: choose the cut from the faces themselves, without labels.

See docs/clustering.md for the derivation and the measurements. In short: every link of the
kNN graph shorter than the cut is either two photos of one person or two strangers who look
alike, and the clustering can only be as good as that mix. The number of stranger links
shorter than ``t`` is predicted from a model of stranger distances,

    strangers(t) = N (N - 1) / 2 * Phi((t - mu) / sigma)

while the number of all links shorter than ``t`` is counted in the kNN graph. The cut is the
largest ``t`` at which the predicted share of strangers, ``strangers(t) / links(t)``, is
within a per-method constant ``SHARE`` (the model's calibration, measured once on LFW). The
rule adapts to the collection: many photos per person (a family archive) give many genuine
links and allow a higher cut; many people seen once (LFW) give few and force a lower one; more
faces mean more strangers and a lower cut.

``mu`` and ``sigma`` (stranger distances) come from two free sources:

- random pairs of faces, almost all of them two different people: a robust fit to their upper
  half (median, and the distance from median to upper quartile) ignores the minority of pairs
  that are the same person;
- cannot-link pairs, faces found in the same photo, certainly two different people.

Each is blended with the model's prior (dlib ResNet stranger distances on LFW) in proportion to
its number of pairs, so a collection of ten photos falls back on the prior. Cannot-link pairs
are then used once more, as a check: if the clustering at the chosen cut puts two faces of one
photo into one person more often than ``MAX_CONFLICTS`` of the time, the cut is lowered step by
step until it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

from faceatlas.graph import KnnGraph, knn_graph

# dlib ResNet (unit vectors): distances between different people on LFW (13,233 faces)
PRIOR_MU = 0.575
PRIOR_SIGMA = 0.061
PRIOR_PAIRS = 2000  # weight of the prior, in pairs
RANDOM_PAIRS = 200_000  # random pairs drawn to measure the collection's impostor distances
# Largest predicted share of strangers among graph links below the cut, per method, calibrated
# once on LFW (docs/clustering.md). Leader and agglomerative cut a different distance (to a
# representative, between group averages), hence their larger values.
SHARE = {
    "infomap": 0.015,
    "chinese-whispers": 0.015,
    "rank-order": 0.012,
    "dbscan": 0.004,
    "hdbscan": 0.004,
    "leader": 0.4,
    "agglomerative": 0.7,
}
GRID = np.round(np.arange(0.20, 0.60, 0.0025), 4)  # candidate cuts
HIGHEST = 0.5
MAX_CONFLICTS = 0.01  # share of cannot-link pairs a clustering may put in one person
STEP = 0.01  # how far the cut drops per failed check
MAX_STEPS = 5
LOWEST = 0.2


@dataclass(frozen=True, slots=True)
class ImpostorModel:
    """Normal model of distances between two different people's faces."""

    mu: float
    sigma: float
    random_pairs: int
    cannot_link_pairs: int

    def quantile(self, p: float) -> float:
        return self.mu + self.sigma * NormalDist().inv_cdf(p)


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The chosen cut and how it was reached (stored with the clustering's parameters)."""

    threshold: float
    base: float
    faces: int
    share: float
    mu: float
    sigma: float
    random_pairs: int
    cannot_link_pairs: int
    conflicts: float | None
    steps: int

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def cannot_link_pairs(groups: np.ndarray, limit: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) index pairs of faces that share a ``groups`` value (their photo), i < j."""
    groups = np.asarray(groups)
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(groups)])
    left, right = [], []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        members = order[start : start + size]
        i, j = np.triu_indices(size, 1)
        left.append(members[i])
        right.append(members[j])
        if sum(map(len, left)) >= limit:
            break
    if not left:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(left)[:limit], np.concatenate(right)[:limit]


def _distances(X: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    sims = np.einsum("ij,ij->i", X[i], X[j])
    return np.sqrt(np.clip(2.0 - 2.0 * sims, 0.0, 4.0))


def _robust_fit(d: np.ndarray) -> tuple[float, float]:
    """(mu, sigma) of a normal fitted to the upper half: median, and median-to-Q3 / 0.6745."""
    median, upper = np.quantile(d, [0.5, 0.75])
    return float(median), float(max(upper - median, 1e-3) / 0.6745)


def impostor_model(X: np.ndarray, groups: np.ndarray | None = None, seed: int = 0) -> ImpostorModel:
    """Impostor distance model of this collection, blended with the model's prior."""
    n = len(X)
    fits: list[tuple[float, float, int]] = [(PRIOR_MU, PRIOR_SIGMA, PRIOR_PAIRS)]
    n_random = 0
    if n >= 3:
        rng = np.random.default_rng(seed)
        n_random = min(RANDOM_PAIRS, n * (n - 1) // 2)
        i = rng.integers(0, n, n_random)
        j = (i + rng.integers(1, n, n_random)) % n  # j != i
        if groups is not None:
            g = np.asarray(groups)
            apart = g[i] != g[j]
            i, j = i[apart], j[apart]
        n_random = len(i)
        if n_random:
            fits.append((*_robust_fit(_distances(X, i, j)), n_random))
    n_cl = 0
    if groups is not None:
        ci, cj = cannot_link_pairs(groups)
        n_cl = len(ci)
        if n_cl >= 10:
            fits.append((*_robust_fit(_distances(X, ci, cj)), n_cl))
    weights = np.array([w for _, _, w in fits], dtype=np.float64)
    weights /= weights.sum()
    mu = float(sum(w * m for w, (m, _, _) in zip(weights, fits, strict=True)))
    sigma = float(sum(w * s for w, (_, s, _) in zip(weights, fits, strict=True)))
    return ImpostorModel(mu, sigma, n_random, n_cl)


def stranger_share(
    graph: KnnGraph, model: ImpostorModel, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(cuts, predicted share of stranger links among the graph's links shorter than each)."""
    n = len(graph)
    _, _, dist = graph.edges(float(GRID[-1]), groups)
    links = np.searchsorted(np.sort(dist), GRID).astype(np.float64)
    z = (GRID - model.mu) / model.sigma
    cdf = np.array([NormalDist().cdf(v) for v in z])
    strangers = n * (n - 1) / 2 * cdf
    share = strangers / np.maximum(links, 1.0)
    # while less than half a stranger link is expected, a small count of links is just noise
    share[strangers < 0.5] = 0.0
    return GRID, share


def auto_threshold(
    X: np.ndarray,
    groups: np.ndarray | None = None,
    method: str = "chinese-whispers",
    cluster: Callable[[float], np.ndarray] | None = None,
    graph: KnnGraph | None = None,
    seed: int = 0,
) -> ThresholdChoice:
    """The cut for ``method`` on unit embeddings ``X`` (``groups``: each face's photo).

    ``graph`` is the kNN graph of ``X`` (built with k=30 when missing). ``cluster(threshold)
    -> labels`` lets the cannot-link check run the method; without it the base cut is
    returned unchecked.
    """
    if method not in SHARE:
        raise ValueError(f"--threshold auto is not defined for {method}; give a number")
    share = SHARE[method]
    model = impostor_model(X, groups, seed)
    if graph is None:
        graph = knn_graph(X, 30)
    cuts, shares = stranger_share(graph, model, groups)
    within = np.flatnonzero(shares <= share)
    base = float(cuts[within[-1]]) if len(within) else LOWEST
    base = min(max(base, LOWEST), HIGHEST)
    threshold, conflicts, steps = base, None, 0
    if cluster is not None and groups is not None:
        ci, cj = cannot_link_pairs(groups)
        while len(ci):
            labels = cluster(threshold)
            together = (labels[ci] == labels[cj]) & (labels[ci] >= 0)
            conflicts = float(together.mean())
            if conflicts <= MAX_CONFLICTS or steps == MAX_STEPS or threshold - STEP < LOWEST:
                break
            threshold = round(threshold - STEP, 4)
            steps += 1
    return ThresholdChoice(
        threshold=float(threshold),
        base=base,
        faces=len(X),
        share=share,
        mu=model.mu,
        sigma=model.sigma,
        random_pairs=model.random_pairs,
        cannot_link_pairs=model.cannot_link_pairs,
        conflicts=conflicts,
        steps=steps,
    )
