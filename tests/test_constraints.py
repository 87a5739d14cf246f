"""The one-photo rule: no method ever puts two faces of one photo in one person.

On real photos (crowds): tests/test_cluster_shapes.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from faceatlas.people.constraints import same_photo_conflicts, split_same_photo
from faceatlas.people.methods import METHODS, make_clusterer


def unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def people_in_photos(seed: int, n_people: int = 12, per_person: int = 8, dim: int = 32):
    """Faces of a few people, loosely grouped, in photos that hold several faces at random
    (often two faces of one person: a mirror, a poster); returns (X, photos, truth)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((n_people, dim)))
    truth = np.repeat(np.arange(n_people), per_person)
    X = unit(centres[truth] + 0.35 * rng.standard_normal((len(truth), dim)) / np.sqrt(dim))
    photos = rng.integers(0, len(truth) // 2, len(truth))  # ~2 faces a photo, at random
    return X, photos, truth


def holds_two_of_one_photo(labels: np.ndarray, photos: np.ndarray) -> bool:
    return len(same_photo_conflicts(labels, photos)[0]) > 0


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("seed", range(4))
def test_no_method_puts_two_faces_of_one_photo_in_one_person(method, seed):
    X, photos, _ = people_in_photos(seed)
    cut = float(np.random.default_rng(seed).uniform(0.55, 0.9))  # loose: people merge
    options = {"n_clusters": 5} if method == "kmeans" else {"threshold": cut}
    model = make_clusterer(method, **options).fit(X, groups=photos)
    assert model.people_split_ > 0  # without the rule some person held two faces of a photo
    assert not holds_two_of_one_photo(model.labels_, photos)
    assert model.labels_.min() >= -1 and len(model.labels_) == len(X)
    kept = model.labels_[model.labels_ >= 0]
    assert np.array_equal(np.unique(kept), np.arange(len(np.unique(kept))))  # 0..C-1


def test_without_photos_nothing_is_split():
    X, _, _ = people_in_photos(0)
    labels = np.zeros(len(X), np.int64)
    split = split_same_photo(X, labels, None)
    assert np.array_equal(split.labels, labels) and split.people_split == 0


def test_split_keeps_each_face_with_its_closer_part():
    # two people A (around e0) and B (around e1) merged; photo 7 holds one face of each
    X = unit([[1, 0, 0], [0.95, 0.3, 0], [0.9, 0, 0.4], [0, 1, 0], [0.3, 0.95, 0], [0, 0.9, 0.4]])
    photos = np.array([7, 1, 2, 7, 3, 4])
    labels = np.array([5, 5, 5, 5, 5, 5])
    split = split_same_photo(X, labels, photos)
    assert split.labels.tolist() == [5, 5, 5, 6, 6, 6]
    assert split.people_split == 1 and split.pairs == 1 and split.conflicts == 1.0
    assert labels.tolist() == [5] * 6  # the input is not modified


def test_split_three_faces_of_one_photo_and_a_face_every_part_excludes():
    X = unit([[1, 0], [0, 1], [-1, 0], [0.9, 0.1], [0.1, 0.9], [0.95, 0.05]])
    photos = np.array([1, 1, 1, 2, 2, 2])  # two photos of three faces each
    labels = np.array([0, 0, 0, 0, 0, -1])  # the last face belongs to nobody: untouched
    split = split_same_photo(X, labels, photos, first_new=10)
    assert split.labels[-1] == -1
    parts = split.labels[:5]
    assert len(set(parts[:3].tolist())) == 3  # the three faces of photo 1 apart
    assert parts[3] == parts[0] and parts[4] == parts[1]  # each with its closer face
    assert set(parts.tolist()) <= {0, 10, 11}
    assert not holds_two_of_one_photo(split.labels, photos)


def test_conflicts_count_same_photo_pairs_in_one_person():
    labels = np.array([0, 0, 1, 1, -1, -1])
    photos = np.array([1, 1, 2, 3, 4, 4])
    people, share, pairs = same_photo_conflicts(labels, photos)
    assert people.tolist() == [0] and pairs == 2 and share == 0.5
