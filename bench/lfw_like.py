"""Synthetic face embeddings with LFW's statistics, for scale benchmarks.

Fitted once from the LFW catalog (labelled faces only, see :mod:`faceatlas.evaluate`):

- identity sizes: drawn from LFW's own (5,749 people; most have one photo, a few hundreds);
- identity centres: normal around LFW's mean face with the between-identity covariance
  (covariance of per-person means, minus the share of within-person noise in those means);
- faces: centre + normal noise with the pooled within-identity covariance, then unit length.

So same-person and different-person distances follow LFW's, which is what the clustering cost and
quality depend on. The fitted statistics are cached in ``.cache/lfw-like.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.evaluate import folder_labels

STATS = Path(__file__).resolve().parents[1] / ".cache" / "lfw-like.npz"


@dataclass(slots=True)
class LfwStats:
    mean: np.ndarray  # (D,)
    between: np.ndarray  # (D, D) factor: centre = mean + z @ between
    within: np.ndarray  # (D, D) factor: face = centre + z @ within
    sizes: np.ndarray  # identity sizes seen in LFW


def _factor(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))).T


def fit(catalog: Catalog) -> LfwStats:
    """Fit the statistics to a labelled LFW catalog."""
    matrix = catalog.face_matrix()
    labels = folder_labels(catalog)
    rows = np.searchsorted(matrix.face_ids, labels.face_ids)
    X = matrix.vectors[rows].astype(np.float64)
    _, person, sizes = np.unique(labels.identities, return_inverse=True, return_counts=True)
    dim = X.shape[1]
    means = np.zeros((len(sizes), dim))
    np.add.at(means, person, X)
    means /= sizes[:, None]
    residual = X - means[person]
    several = sizes[person] > 1
    within = residual[several].T @ residual[several] / (several.sum() - (sizes > 1).sum())
    big = sizes >= 4
    between = np.cov(means[big].T) - within * np.mean(1.0 / sizes[big])
    return LfwStats(X.mean(axis=0), _factor(between), _factor(within), sizes)


def load(catalog_path: Path) -> LfwStats:
    """The cached statistics, fitted from ``catalog_path`` the first time."""
    if STATS.exists():
        with np.load(STATS) as f:
            return LfwStats(f["mean"], f["between"], f["within"], f["sizes"])
    with Catalog(catalog_path) as catalog:
        stats = fit(catalog)
    STATS.parent.mkdir(parents=True, exist_ok=True)
    np.savez(STATS, mean=stats.mean, between=stats.between, within=stats.within, sizes=stats.sizes)
    return stats


def sample(stats: LfwStats, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n unit embeddings as float32, identity of each), people in random order."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(stats.sizes, size=max(1, 2 * n // int(stats.sizes.mean())))
    while sizes.sum() < n:
        sizes = np.concatenate([sizes, rng.choice(stats.sizes, size=len(sizes))])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    identity = np.repeat(np.arange(len(sizes)), sizes)[:n]
    dim = len(stats.mean)
    X = np.empty((n, dim), np.float32)
    step = 100_000
    centres = (stats.mean + rng.standard_normal((len(sizes), dim)) @ stats.between).astype(
        np.float32
    )
    for lo in range(0, n, step):
        ids = identity[lo : lo + step]
        noise = rng.standard_normal((len(ids), dim)).astype(np.float32) @ stats.within.astype(
            np.float32
        )
        block = centres[ids] + noise
        X[lo : lo + step] = block / np.linalg.norm(block, axis=1, keepdims=True)
    order = rng.permutation(n)
    return X[order], identity[order]
