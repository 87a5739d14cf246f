"""``--threshold auto``: choose the cut from the faces themselves, without labels.

See docs/clustering.md for the derivation. In short, a wrong merge starts with one edge between
two different people shorter than the cut, and the number of such edges grows with the number
of faces N: each face has N - 1 chances to sit close to a stranger. So the cut is set where the
expected number of stranger neighbours closer than it stays a fixed small number per face:

    cut = mu - sigma * z(rate / max(N, MIN_FACES))

where ``mu, sigma`` describe the distance between two different people's faces *in this
collection*, z is the standard normal quantile and ``rate`` is a per-method constant of the
model's calibration (how many stranger edges per face the method tolerates; measured once on
LFW). ``mu`` and ``sigma`` come from two free sources:

- random pairs of faces, almost all of them two different people: a robust fit to their upper
  half (median, and the distance from median to upper quartile) ignores the minority of pairs
  that are the same person;
- cannot-link pairs, faces found in the same photo, certainly two different people.

Each is blended with the model's prior (dlib ResNet impostor distances on LFW) in proportion to
its number of pairs, so a collection of ten photos falls back on the prior and a large one
speaks for itself. Cannot-link pairs are then used once more, as a check: if the clustering at
the chosen cut puts two faces of one photo into one person more often than ``MAX_CONFLICTS``
of the time, the cut is lowered step by step until it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np

# dlib ResNet (unit vectors): distances between different people on LFW (13,233 faces)
PRIOR_MU = 0.575
PRIOR_SIGMA = 0.061
PRIOR_PAIRS = 2000  # weight of the prior, in pairs
RANDOM_PAIRS = 200_000  # random pairs drawn to measure the collection's impostor distances
# Stranger edges per face each method tolerates, calibrated once on LFW (docs/clustering.md):
# rate = N * P(impostor distance < best cut) at LFW's best cut for the method.
RATE = {
    "infomap": 0.25,
    "chinese-whispers": 0.2,
    "rank-order": 0.1,
    "dbscan": 0.02,
    "hdbscan": 0.02,
    "leader": 5.0,
    "agglomerative": 10.0,
}
# Below this many faces the best cut on LFW stops moving (a broad optimum), so smaller
# collections use the cut for this many.
MIN_FACES = 3000
MAX_CONFLICTS = 0.01  # share of cannot-link pairs a clustering may put in one person
STEP = 0.01  # how far the cut drops per failed check
MAX_STEPS = 5
LOWEST = 0.15


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
    rate: float
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


def auto_threshold(
    X: np.ndarray,
    groups: np.ndarray | None = None,
    method: str = "chinese-whispers",
    cluster: Callable[[float], np.ndarray] | None = None,
    seed: int = 0,
) -> ThresholdChoice:
    """The cut for ``method`` on unit embeddings ``X`` (``groups``: each face's photo).

    ``cluster(threshold) -> labels`` lets the cannot-link check run the method; without it
    the base cut is returned unchecked.
    """
    if method not in RATE:
        raise ValueError(f"--threshold auto is not defined for {method}; give a number")
    n = max(len(X), MIN_FACES)
    model = impostor_model(X, groups, seed)
    rate = RATE[method]
    base = max(LOWEST, model.quantile(min(rate / n, 0.5)))
    threshold, conflicts, steps = base, None, 0
    if cluster is not None and groups is not None:
        ci, cj = cannot_link_pairs(groups)
        while len(ci):
            labels = cluster(threshold)
            together = (labels[ci] == labels[cj]) & (labels[ci] >= 0)
            conflicts = float(together.mean())
            if conflicts <= MAX_CONFLICTS or steps == MAX_STEPS or threshold - STEP < LOWEST:
                break
            threshold -= STEP
            steps += 1
    return ThresholdChoice(
        threshold=float(threshold),
        base=float(base),
        faces=len(X),
        rate=rate,
        mu=model.mu,
        sigma=model.sigma,
        random_pairs=model.random_pairs,
        cannot_link_pairs=model.cannot_link_pairs,
        conflicts=conflicts,
        steps=steps,
    )
