"""2-D maps of face embeddings: PCA (fast, the default), t-SNE, UMAP; subsampled above a limit."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from faceatlas.outputs.report.content import ReportError

log = logging.getLogger(__name__)

MAP_METHODS = ("pca", "tsne", "umap")
# Points drawn by default: each needs a thumbnail (cut once, ~4 ms); t-SNE is slow above 5 k.
DEFAULT_LIMITS = {"pca": 20_000, "tsne": 5_000, "umap": 20_000}


@dataclass(slots=True)
class Projection:
    """``xy[i]`` is the 2-D position of row ``rows[i]`` of the embedding matrix."""

    method: str
    rows: np.ndarray  # (M,) indices into the embedding matrix, ascending
    xy: np.ndarray  # (M, 2) float32
    total: int  # faces before subsampling

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.total


def sample_rows(n: int, limit: int, seed: int = 0) -> np.ndarray:
    """All row indices if ``n <= limit``, else ``limit`` of them drawn at random (sorted)."""
    if limit < 1:
        raise ReportError(f"map limit must be >= 1, got {limit}")
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def project(
    vectors: np.ndarray, method: str = "pca", limit: int | None = None, seed: int = 0
) -> Projection:
    """Project (a sample of) ``vectors`` to 2-D with ``method``.

    >>> v = np.eye(4, dtype=np.float32)
    >>> p = project(v, "pca", limit=3)
    >>> p.xy.shape, p.total, p.sampled
    ((3, 2), 4, True)
    """
    if method not in MAP_METHODS:
        raise ReportError(f"unknown map {method!r}; choose one of {MAP_METHODS}")
    limit = DEFAULT_LIMITS[method] if limit is None else limit
    rows = sample_rows(len(vectors), limit, seed)
    chosen = np.asarray(vectors[rows], dtype=np.float32)
    if len(chosen) < 4:  # too few points for any method: spread them on a line
        xy = np.stack([np.arange(len(chosen)), np.zeros(len(chosen))], axis=1)
    elif method == "pca":
        xy = _pca(chosen, seed)
    elif method == "tsne":
        xy = _tsne(chosen, seed)
    else:
        xy = _umap(chosen, seed)
    log.info("projected %d of %d faces with %s", len(rows), len(vectors), method)
    return Projection(method, rows, np.asarray(xy, dtype=np.float32), len(vectors))


def _pca(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    return PCA(n_components=2, random_state=seed).fit_transform(x)


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(x) - 1) / 3))
    return TSNE(
        n_components=2, perplexity=perplexity, init="pca", metric="euclidean", random_state=seed
    ).fit_transform(x)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError as err:
        raise ReportError(
            "--map umap needs umap-learn: pip install 'faceatlas[umap]' (or use --map pca)"
        ) from err
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(15, len(x) - 1),
        min_dist=0.1,
        random_state=seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
    )
    return reducer.fit_transform(x)
