"""The clustering methods ``faceatlas cluster --method`` can run, by name.

Each entry builds an estimator with ``fit(X, groups=None) -> self`` and a ``labels_`` attribute
(label -1 means "no person"). ``groups`` holds each face's image id, for methods that use the
cannot-link rule "two faces in one photo are two people".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from faceatlas.people.chinese_whispers import ChineseWhispers

# Default cut for dlib ResNet unit embeddings, tuned on LFW (see docs/clustering.md).
DEFAULT_THRESHOLD = 0.4


class Clusterer(Protocol):
    labels_: np.ndarray

    def fit(self, X: np.ndarray, groups: np.ndarray | None = None) -> Clusterer: ...


def _chinese_whispers(threshold: float, seed: int, **_: Any) -> Clusterer:
    return ChineseWhispers(threshold=threshold, seed=seed)


METHODS: dict[str, Callable[..., Clusterer]] = {
    "chinese-whispers": _chinese_whispers,
}


def make_clusterer(
    method: str, threshold: float = DEFAULT_THRESHOLD, seed: int = 0, **options: Any
) -> Clusterer:
    """An unfitted clusterer for ``method``; unknown names raise with the list of known ones."""
    try:
        factory = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}") from None
    return factory(threshold=threshold, seed=seed, **options)
