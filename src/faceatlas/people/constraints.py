"""The one-photo rule: two faces of one photo are never one person, whatever the method.

Graph methods drop the edges between faces of one photo, but two such faces still end up in one
person through others (A links B, B links C, and A and C share a photo), and leader, k-means and
agglomerative have no such edges to drop. So the rule is enforced on the result:
:func:`split_same_photo` splits every person that holds two or more faces of one photo into
parts that hold at most one face of each photo. The faces of the photo it holds most faces of
start one part each; every other face then joins the part it is closest to (mean cosine
similarity to the part's faces) among those holding no face of its photo yet, the most certain
faces first, so each face stays with its closer part. A face that every part excludes starts a
part of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK = 8  # a split assigns at least 1/CHUNK of the remaining faces per round


@dataclass(frozen=True, slots=True)
class OnePhotoSplit:
    """People after the one-photo rule, and what it changed."""

    labels: np.ndarray
    people_split: int  # people that held two or more faces of one photo
    conflicts: float  # share of same-photo face pairs that were in one person before
    pairs: int  # same-photo face pairs (cannot-link pairs) in the collection


def same_photo_conflicts(labels: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, float, int]:
    """(people holding two faces of one photo, share of same-photo pairs in one person, pairs).

    Faces labelled -1 (no person) are each alone.
    """
    labels, groups = np.asarray(labels), np.asarray(groups)
    _, photo_sizes = np.unique(groups, return_counts=True)
    pairs = int((photo_sizes * (photo_sizes - 1) // 2).sum())
    kept = labels >= 0
    if not pairs or not kept.any():
        return np.zeros(0, np.int64), 0.0, pairs
    both = np.stack([labels[kept], _codes(groups)[kept]], axis=1)
    held, counts = np.unique(both, axis=0, return_counts=True)
    together = int((counts * (counts - 1) // 2).sum())
    return np.unique(held[counts > 1, 0]), together / pairs, pairs


def split_same_photo(
    X: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    first_new: int | None = None,
) -> OnePhotoSplit:
    """``labels`` with every person holding two faces of one photo (``groups``) split.

    ``X`` holds the faces' unit embeddings, row by row with ``labels``. New people get labels
    from ``first_new`` on (default: above the largest label); -1 (no person) stays. Neither
    input is modified.

    >>> X = np.array([[1, 0], [0.9, 0.44], [0.44, 0.9], [0, 1]], dtype=np.float32)
    >>> split_same_photo(X, np.zeros(4, int), np.array([7, 8, 9, 7])).labels.tolist()
    [0, 0, 1, 1]
    """
    labels = np.asarray(labels, dtype=np.int64)
    if groups is None or len(labels) == 0:
        return OnePhotoSplit(labels.copy(), 0, 0.0, 0)
    groups = _codes(np.asarray(groups))
    people, share, pairs = same_photo_conflicts(labels, groups)
    out = labels.copy()
    next_label = int(labels.max(initial=-1)) + 1 if first_new is None else first_new
    for person in people.tolist():
        members = np.flatnonzero(labels == person)
        parts = _split(np.asarray(X[members], dtype=np.float32), groups[members])
        out[members] = np.where(parts == 0, person, next_label + parts - 1)
        next_label += int(parts.max())
    return OnePhotoSplit(out, len(people), share, pairs)


def _codes(groups: np.ndarray) -> np.ndarray:
    return np.unique(groups, return_inverse=True)[1].astype(np.int64).ravel()


def _split(V: np.ndarray, photos: np.ndarray) -> np.ndarray:
    """Part of each of one person's faces (0..P-1), no part holding two faces of one photo."""
    n = len(V)
    photo_ids, photo = np.unique(photos, return_inverse=True)
    counts = np.bincount(photo)
    seeds = np.flatnonzero(photo == int(np.argmax(counts)))
    part = np.full(n, -1, np.int64)
    part[seeds] = np.arange(len(seeds))
    sums = V[seeds].astype(np.float64)  # sum of each part's faces
    size = np.ones(len(seeds))
    holds = np.zeros((len(seeds), len(photo_ids)), bool)  # part x photo
    holds[:, photo[seeds[0]]] = True
    sims = V.astype(np.float64) @ sums.T  # face x part: summed similarity
    while (rest := np.flatnonzero(part < 0)).size:
        allowed = ~holds[:, photo[rest]].T
        score = np.where(allowed, sims[rest] / size, -np.inf)
        best = score.argmax(axis=1)
        best_score = score[np.arange(len(rest)), best]
        if not np.isfinite(best_score).any():  # every part holds this photo: a new part
            face = rest[0]
            part[face] = len(size)
            sums = np.vstack([sums, V[face]])
            size = np.append(size, 1.0)
            holds = np.vstack([holds, np.zeros(len(photo_ids), bool)])
            holds[-1, photo[face]] = True
            sims = np.hstack([sims, (V.astype(np.float64) @ V[face])[:, None]])
            continue
        order = np.argsort(-best_score, kind="stable")[: max(1, len(rest) // CHUNK)]
        order = order[np.isfinite(best_score[order])]
        # at most one face per (part, photo) in one round: the most certain one
        key = best[order] * len(photo_ids) + photo[rest[order]]
        order = order[np.unique(key, return_index=True)[1]]
        faces, into = rest[order], best[order]
        part[faces] = into
        holds[into, photo[faces]] = True
        np.add.at(sums, into, V[faces])
        size += np.bincount(into, minlength=len(size))
        touched = np.unique(into)
        sims[:, touched] = V.astype(np.float64) @ sums[touched].T
    return part


def enforce_one_photo(
    estimator: object, X: np.ndarray, labels: np.ndarray, groups: np.ndarray | None
) -> np.ndarray:
    """``labels`` after the one-photo rule, renumbered 0..C-1 (-1 stays); records on
    ``estimator`` ``people_split_`` and ``conflicts_`` (see :class:`OnePhotoSplit`)."""
    split = split_same_photo(X, labels, groups)
    estimator.people_split_ = split.people_split
    estimator.conflicts_ = split.conflicts
    out = np.full(len(split.labels), -1, dtype=np.int64)
    kept = split.labels >= 0
    _, out[kept] = np.unique(split.labels[kept], return_inverse=True)
    return out
