"""Face verification on LFW's official protocol (View 2): 10-fold accuracy of "same person?".

``pairs.txt`` starts with ``10 300``: 10 folds, each 300 same-person pairs (lines ``name i j``)
then 300 different-person pairs (``name1 i name2 j``); ``i`` is the 1-based image number in
``<lfw>/<name>/<name>_<i:04d>.jpg``. For each fold the distance threshold is the one that
maximises accuracy on the other nine folds; the score is the mean and standard deviation of the
ten held-out accuracies.

Each image's face is the detected face nearest the image centre (LFW photos are centred on the
labelled person; other detected faces are background people). An image where the detector finds
no face is still scored (the protocol has no "don't know"): dlib's CNN detector looks again at
twice the scale, and if it finds nothing either the face is taken to be at
:data:`LFW_FACE_BOX`, the median box HOG finds on LFW (LFW's deep-funneled images are aligned, so
the face is there), with the 5 landmarks placed inside it and the chip aligned and embedded as
usual. Distances are Euclidean between unit embeddings, the scale of every faceatlas threshold.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from faceatlas.catalog import Catalog
from faceatlas.decode import load_rgb
from faceatlas.errors import UsageError
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig, index_paths

# Median HOG box of the 13,900 faces found in LFW's 250x250 deep-funneled images,
# as fractions of the width and height: (68, 80, 176, 188) pixels.
LFW_FACE_BOX = (0.272, 0.32, 0.704, 0.752)


@dataclass(frozen=True, slots=True)
class Pair:
    """Two LFW images (paths relative to the LFW folder), whether they show the same person,
    and the fold (0-based) the pair belongs to."""

    first: str
    second: str
    same: bool
    fold: int


def lfw_image(name: str, number: str) -> str:
    """``Name/Name_0001.jpg`` for person ``name`` and 1-based image ``number``."""
    return f"{name}/{name}_{int(number):04d}.jpg"


def read_pairs(path: str | Path) -> list[Pair]:
    """Parse an LFW pairs file (``pairs.txt``, View 2 layout: header ``FOLDS N``)."""
    lines = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines or len(lines[0]) != 2 or not all(t.isdigit() for t in lines[0]):
        raise UsageError(f"{path}: the first line must be 'FOLDS PAIRS_PER_HALF', e.g. '10 300'")
    folds, half = int(lines[0][0]), int(lines[0][1])
    body = lines[1:]
    if len(body) != folds * 2 * half:
        raise UsageError(
            f"{path}: header promises {folds} folds x {2 * half} pairs = {folds * 2 * half} "
            f"lines, found {len(body)}"
        )
    pairs = []
    for i, tokens in enumerate(body):
        fold, same = divmod(i, 2 * half)[0], i % (2 * half) < half
        expected = 3 if same else 4
        if len(tokens) != expected:
            kind = "same-person 'name i j'" if same else "different-person 'name1 i name2 j'"
            raise UsageError(f"{path}: line {i + 2} should be a {kind} pair: {' '.join(tokens)}")
        if same:
            first, second = lfw_image(tokens[0], tokens[1]), lfw_image(tokens[0], tokens[2])
        else:
            first, second = lfw_image(tokens[0], tokens[1]), lfw_image(tokens[2], tokens[3])
        pairs.append(Pair(first, second, same, fold))
    return pairs


def best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold (pairs closer than it are "same") with the highest accuracy.

    Candidates are midpoints between consecutive distinct distances (and just outside both
    ends); ties go to the smallest threshold.
    """
    order = np.argsort(distances, kind="stable")
    d, s = np.asarray(distances, dtype=np.float64)[order], np.asarray(same, dtype=bool)[order]
    # Splitting before position k calls pairs 0..k-1 "same": correct = same ones below k plus
    # different ones from k on.
    same_below = np.concatenate([[0], np.cumsum(s)])
    diff_from = (~s).sum() - np.concatenate([[0], np.cumsum(~s)])
    correct = same_below + diff_from
    valid = np.ones(len(d) + 1, dtype=bool)
    valid[1:-1] = d[1:] > d[:-1]  # cannot split between equal distances
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        return float(d[0] - 1e-6) if len(d) else 0.0
    if k == len(d):
        return float(d[-1] + 1e-6)
    return float((d[k - 1] + d[k]) / 2)


@dataclass(slots=True)
class Verification:
    """Held-out accuracy and learned threshold of each fold."""

    accuracies: np.ndarray
    thresholds: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.accuracies.std())


def k_fold(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> Verification:
    """Per fold: threshold chosen on the other folds, accuracy on this one."""
    distances, same, folds = np.asarray(distances), np.asarray(same, bool), np.asarray(folds)
    ids = np.unique(folds)
    if len(ids) < 2:
        raise UsageError("k-fold verification needs at least 2 folds")
    accuracies, thresholds = [], []
    for fold in ids:
        test = folds == fold
        threshold = best_threshold(distances[~test], same[~test])
        accuracies.append(float(((distances[test] < threshold) == same[test]).mean()))
        thresholds.append(threshold)
    return Verification(np.array(accuracies), np.array(thresholds))


@dataclass(slots=True)
class VerificationReport:
    """A full evaluation: scores plus how the embeddings were obtained."""

    result: Verification
    pairs: int
    images: int
    fallback_images: list[str]  # images where the detector found no face (see fallback_...)
    indexed: int  # images the face model ran on in this call (0: all read from the catalog)
    seconds: float


def catalog_embeddings(catalog: Catalog, paths: Sequence[str]) -> dict[str, np.ndarray]:
    """Unit embedding of the face nearest the centre of each of ``paths`` that has one."""
    wanted = set(paths)
    central = {path: face_id for face_id, path in catalog.central_faces() if path in wanted}
    matrix = catalog.face_matrix()
    row = {int(face_id): i for i, face_id in enumerate(matrix.face_ids)}
    return {path: matrix.vectors[row[face_id]] for path, face_id in central.items()}


def fallback_embeddings(paths: Sequence[str], model: ModelConfig) -> dict[str, np.ndarray]:
    """Unit embeddings of the central face of images where ``model``'s detector found none.

    The CNN detector, at twice the scale (it finds turned and partly hidden faces HOG misses),
    looks again; if it finds nothing either, the face is taken to be at :data:`LFW_FACE_BOX`.
    """
    if not paths:
        return {}
    retry = replace(model, detector="cnn", min_face=max(8, model.min_face // 2)).build()
    found = {}
    for path in paths:
        rgb = load_rgb(path)
        height, width = rgb.shape[:2]
        faces = retry.analyze(rgb)
        if not faces:
            left, top, right, bottom = LFW_FACE_BOX
            box = (left * width, top * height, right * width, bottom * height)
            faces = retry.faces_at(rgb, [box])
        centre = np.array([width / 2, height / 2])
        offsets = [np.linalg.norm(np.add(f.box[:2], f.box[2:]) / 2 - centre) for f in faces]
        found[path] = faces[int(np.argmin(offsets))].embedding
    return found


def verify_lfw(
    pairs_file: str | Path,
    lfw_dir: str | Path,
    catalog: Catalog | None = None,
    config: IndexConfig | None = None,
) -> VerificationReport:
    """Score the pairs in ``pairs_file`` with the faces of ``catalog``.

    Pair images the catalog lacks are indexed into it first (with ``config``); without a
    catalog, all of them are indexed into a temporary one that is deleted afterwards.
    """
    started = time.monotonic()
    config = config or IndexConfig()
    pairs = read_pairs(pairs_file)
    root = Path(lfw_dir).resolve()
    relative = sorted({p.first for p in pairs} | {p.second for p in pairs})
    absolute = {rel: str(root / rel) for rel in relative}
    missing = [path for path in absolute.values() if not Path(path).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} pair images are not in {root}, e.g. {missing[0]}; "
            "is --lfw the folder holding one sub-folder per person?"
        )
    with tempfile.TemporaryDirectory(prefix="faceatlas-verify-") as tmp:
        own = catalog is None
        catalog = Catalog(Path(tmp) / "lfw.db") if own else catalog
        try:
            indexed = index_paths(catalog, list(absolute.values()), config).processed
            vectors = catalog_embeddings(catalog, list(absolute.values()))
        finally:
            if own:
                catalog.close()
    without = [path for path in absolute.values() if path not in vectors]
    vectors.update(fallback_embeddings(without, config.model))
    first = np.stack([vectors[absolute[p.first]] for p in pairs])
    second = np.stack([vectors[absolute[p.second]] for p in pairs])
    distances = np.linalg.norm(first - second, axis=1)
    result = k_fold(distances, np.array([p.same for p in pairs]), np.array([p.fold for p in pairs]))
    return VerificationReport(
        result=result,
        pairs=len(pairs),
        images=len(relative),
        fallback_images=without,
        indexed=indexed,
        seconds=time.monotonic() - started,
    )
