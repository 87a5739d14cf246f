"""``--threshold auto``: choose the cut from the face model's own stranger curve, without labels.

See docs/clustering.md for the derivation and the measurements. In short: a link shorter than
the cut between two strangers is what merges two people, and how many such links a collection
holds depends on the model and on the number of faces, not on who is in it. The face model's
**stranger curve** ``F(t)``, the share of pairs of different people closer than ``t``, was
measured once on LFW (every pair of labelled faces of two different people, 86 million pairs):
it is a property of the model, and its left tail, the part that matters, is the same on
CelebA's in-the-wild photos (docs/clustering.md). A collection of ``N`` faces holds
``P = N (N - 1) / 2`` pairs of faces from different photos, nearly all of them strangers, so
about ``P F(t)`` stranger links shorter than ``t``. The cut is the largest ``t`` at which that
stays within the method's tolerance:

    P * F(t) <= PER_FACE[method] * (N / REFERENCE_FACES) ** GROWTH * N

``PER_FACE`` is what the method shrugs off (a graph method tolerates a stray link, single
linkage does not). The tolerance per face grows slowly with the collection (``GROWTH``): in a
large collection a stray link joins, on average, smaller groups of faces (more people, each a
smaller share of all faces), so it costs less. Both constants were calibrated on the shapes of
bench/cluster_shapes.py (LFW and CelebA, 30 to 13,900 faces) and sit in the middle of a broad
range that works on all of them. The rule gives a few hundred photos ~0.35-0.38, all of LFW
~0.30 and a million faces ~0.25, whether the people have one photo each or hundreds.

This replaced a normal model of stranger distances fitted to random pairs of the collection,
which failed on collections of a few people (docs/clustering.md): with 5-40 people the random
pairs are a handful of person pairs, so their spread is wider than the model's and a normal's
left tail predicted hundreds of times too many close strangers.

Cannot-link pairs (two faces of one photo, certainly two people) are used as a check: when the
method, at the chosen cut, puts more than ``MAX_CONFLICTS`` of them in one person (before the
one-photo rule splits such people, see :mod:`faceatlas.people.constraints`), the collection's
strangers are closer than the model's (small faces in crowd photos are) and the cut is lowered
step by step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from faceatlas.errors import UsageError

# The dlib ResNet's stranger curve on unit vectors with mirror averaging (faceatlas's default
# model spec): log10 of the share of pairs of two different LFW people closer than each cut,
# over the 13,162 central faces of all of LFW (one per photo; folder = identity; 86,371,266
# pairs, 846 of them closer than 0.30: look-alikes such as Serena and Venus Williams). Measured by
#   .venv/bin/python bench/cluster_shapes.py --model-curve      (with .cache/lfw.db indexed)
# Below STRANGER_CUTS[0] the curve goes on with its slope there.
STRANGER_CUTS = (
    0.30, 0.31, 0.32, 0.33, 0.34, 0.35, 0.36, 0.37, 0.38, 0.39, 0.40, 0.42, 0.45, 0.50, 0.55,
)  # fmt: skip
STRANGER_LOG10_CDF = (
    -5.009, -4.731, -4.464, -4.199, -3.943, -3.692, -3.449, -3.204,
    -2.963, -2.731, -2.506, -2.082, -1.527, -0.839, -0.404,
)  # fmt: skip

# Expected stranger links shorter than the cut the method tolerates per face, in a collection
# of REFERENCE_FACES faces; it grows as (faces / REFERENCE_FACES) ** GROWTH (module docstring).
# Calibrated on bench/cluster_shapes.py (LFW and CelebA shapes, 5 to 13,900 faces): for
# infomap and Chinese whispers every (PER_FACE, GROWTH) in [0.04, 0.055] x [0.25, 0.35] keeps
# all shapes within 0.02 of their best fixed cut; these are the middle. Rank-order, DBSCAN,
# HDBSCAN and agglomerative were set so that all of LFW gets its best fixed cut (0.29, 0.27,
# 0.27, 0.36). Leader and agglomerative cut a different distance (to a representative,
# between group averages), hence their larger values.
PER_FACE = {
    "infomap": 0.05,
    "chinese-whispers": 0.05,
    "rank-order": 0.016,
    "dbscan": 0.0045,
    "hdbscan": 0.0045,
    "leader": 0.5,
    "agglomerative": 1.1,
}
REFERENCE_FACES = 1000
GROWTH = 0.3
# Methods whose cut is a distance between two faces: for them two faces of one photo put in one
# person mean close strangers. Leader and agglomerative cut a distance to a representative or
# between group averages, and the leader's greedy joins put faces of one photo together at any
# cut (LFW, 10 people: 5 steps down, pairwise F 0.83 instead of 0.97); the one-photo rule still
# splits such people.
CHECKED = frozenset({"infomap", "chinese-whispers", "rank-order", "dbscan", "hdbscan"})
LOWEST, HIGHEST = 0.2, 0.5
MAX_CONFLICTS = 0.01  # share of cannot-link pairs a clustering may put in one person
STEP = 0.01  # how far the cut drops per failed check
MAX_STEPS = 5


@dataclass(frozen=True, slots=True)
class StrangerCurve:
    """Share of pairs of two different people closer than a distance, for one face model."""

    cuts: tuple[float, ...]
    log10_cdf: tuple[float, ...]

    def cdf(self, t: float | np.ndarray) -> np.ndarray:
        """F(t): the share of stranger pairs closer than ``t``."""
        cuts, logs = np.asarray(self.cuts), np.asarray(self.log10_cdf)
        t = np.asarray(t, dtype=np.float64)
        slope = (logs[1] - logs[0]) / (cuts[1] - cuts[0])
        below = logs[0] + slope * (t - cuts[0])
        return 10.0 ** np.where(t < cuts[0], below, np.interp(t, cuts, logs))

    def cut_for(self, share: float) -> float:
        """The distance below which ``share`` of stranger pairs lie (inverse of ``cdf``)."""
        logs, cuts = np.asarray(self.log10_cdf), np.asarray(self.cuts)
        target = np.log10(max(share, 1e-300))
        if target < logs[0]:
            slope = (logs[1] - logs[0]) / (cuts[1] - cuts[0])
            return float(cuts[0] + (target - logs[0]) / slope)
        return float(np.interp(target, logs, cuts))


DLIB_STRANGERS = StrangerCurve(STRANGER_CUTS, STRANGER_LOG10_CDF)

# identify: expected reference faces within the tolerance of a stranger's face (at most about
# this share of strangers' faces get a name). face_recognition's CLI names 5 % of CelebA
# strangers at its default tolerance (bench/identify.py); this keeps faceatlas at or below it.
MISNAMED = 0.05


def stranger_curve(embedder: str) -> StrangerCurve | None:
    """The measured stranger curve of an embedder, or None when none was measured (dlib's
    ResNet only, run by dlib or on ONNX Runtime: the same vectors)."""
    return DLIB_STRANGERS if embedder.startswith("dlib-resnet") else None


def identification_cut(cut: float, references: int, embedder: str) -> float:
    """The distance under which a query face takes a reference face's name, for ``references``
    reference faces: the model's same-person ``cut``, lowered so that a stranger's face is
    expected within it of at most ``MISNAMED`` reference faces (``references`` x F(t), F the
    embedder's stranger curve; the cut as it is when no curve was measured).

    >>> [identification_cut(0.4, n, "dlib-resnet-v1") for n in (10, 60, 500)]
    [0.4, 0.3752, 0.3378]
    """
    curve = stranger_curve(embedder)
    if curve is None or references < 1:
        return cut
    return round(min(cut, curve.cut_for(MISNAMED / references)), 4)


@dataclass(frozen=True, slots=True)
class ThresholdChoice:
    """The chosen cut and how it was reached (stored with the clustering's parameters)."""

    threshold: float
    base: float  # the cut the rule gave, before the cannot-link check
    faces: int
    pairs: int  # pairs of faces from different photos
    per_face: float
    strangers: float  # stranger links expected below the cut
    cannot_link_pairs: int
    conflicts: float | None
    steps: int

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @property
    def reason(self) -> str:
        """How the cut was chosen, e.g. ``auto: model curve, 181 faces``."""
        text = f"auto: model curve, {self.faces:,} faces"
        if self.steps:
            text += f", lowered {self.steps}x: faces of one photo merged"
        return text


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


def photo_pairs(groups: np.ndarray | None, n: int) -> int:
    """Pairs of the ``n`` faces that come from two different photos."""
    total = n * (n - 1) // 2
    if groups is None:
        return total
    counts = np.unique(np.asarray(groups), return_counts=True)[1].astype(np.int64)
    return total - int((counts * (counts - 1) // 2).sum())


def tolerance(method: str, faces: int) -> float:
    """Stranger links per face ``method`` tolerates in a collection of ``faces`` faces."""
    return PER_FACE[method] * (max(faces, 1) / REFERENCE_FACES) ** GROWTH


def model_cut(
    faces: int, pairs: int, per_face: float, curve: StrangerCurve = DLIB_STRANGERS
) -> float:
    """The largest cut with at most ``per_face * faces`` expected stranger links below it."""
    if pairs <= 0:
        return HIGHEST
    return curve.cut_for(per_face * faces / pairs)


def auto_threshold(
    X: np.ndarray,
    groups: np.ndarray | None = None,
    method: str = "chinese-whispers",
    conflicts: Callable[[float], float] | None = None,
    faces: int | None = None,
    curve: StrangerCurve = DLIB_STRANGERS,
) -> ThresholdChoice:
    """The cut for ``method`` on the unit embeddings ``X`` (``groups``: each face's photo).

    ``faces`` is the size of the whole collection when ``X`` is a sample of it (the streaming
    leader). ``conflicts(threshold)`` is the share of cannot-link pairs the method puts in one
    person at that cut; without it, and for methods outside ``CHECKED``, the rule's cut is
    returned unchecked.
    """
    if method not in PER_FACE:
        raise UsageError(f"--threshold auto is not defined for {method}; give a number")
    n = len(X) if faces is None else faces
    pairs = photo_pairs(groups, len(X))
    if faces is not None and len(X) > 1:
        pairs = round(pairs * (n * (n - 1)) / (len(X) * (len(X) - 1)))
    per_face = tolerance(method, n)
    base = model_cut(n, pairs, per_face, curve)
    base = round(min(max(base, LOWEST), HIGHEST), 4)
    threshold, shared, steps = base, None, 0
    n_cl = len(cannot_link_pairs(groups)[0]) if groups is not None else 0
    if conflicts is not None and n_cl and method in CHECKED:
        while True:
            shared = float(conflicts(threshold))
            if shared <= MAX_CONFLICTS or steps == MAX_STEPS or threshold - STEP < LOWEST:
                break
            threshold = round(threshold - STEP, 4)
            steps += 1
    return ThresholdChoice(
        threshold=float(threshold),
        base=base,
        faces=n,
        pairs=pairs,
        per_face=per_face,
        strangers=float(pairs * curve.cdf(threshold)),
        cannot_link_pairs=n_cl,
        conflicts=shared,
        steps=steps,
    )
