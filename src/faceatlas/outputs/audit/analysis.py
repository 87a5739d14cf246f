"""The audit's analysis: one embedding per image, blocked matrix products, ranked findings.

Every similarity here is the cosine of two unit embeddings (1 = same direction); thresholds given
by the user are Euclidean distances between unit vectors, the scale of every faceatlas threshold
(``d = sqrt(2 - 2 cos)``).

Memory stays bounded: the cross-folder pass is a faiss range search over query blocks (only pairs
above the threshold are kept), neighbours come from the blocked exact kNN of ``faceatlas.graph``,
and per-folder matrices are cut into row blocks, so no N x N matrix is ever held.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import faiss
import numpy as np
from PIL import Image
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from faceatlas.catalog.store import FaceRow
from faceatlas.errors import UsageError
from faceatlas.graph import knn_graph
from faceatlas.outputs.audit.dataset import Dataset, DatasetFaces
from faceatlas.people.methods import DEFAULT_THRESHOLD

QUERY_BLOCK = 4096  # rows per range-search / per-folder block: bounds memory to BLOCK x N floats
BLOCK_ELEMENTS = 1 << 24  # per-folder blocks: at most this many similarities at once
LINKS_PER_FACE = 30  # per-folder cluster edges kept per face (its closest ones)
MARGIN_SHARE = 0.4  # auto mislabel margin, as a share of the same-vs-different similarity gap
DUPLICATE_DISTANCE = 0.12  # embeddings this close are the same photo (resized, re-encoded)
NEIGHBOURS = 30  # kNN depth for "best other folder" and the label vote
VOTERS = 10  # nearest neighbours that vote on an image's label
ISOLATED_MAJORITY = 3  # an image alone in its folder is flagged when the majority has this many
EXIF_ORIENTATION = 0x0112
SAMPLE_PAIRS = 20_000  # random cross-folder pairs that estimate the "different people" level


def similarity_of(distance: float) -> float:
    """Cosine similarity of unit vectors at Euclidean ``distance``."""
    return 1.0 - distance * distance / 2.0


def distance_of(similarity: float) -> float:
    """Euclidean distance of unit vectors with cosine ``similarity``."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * similarity))


@dataclass(frozen=True, slots=True)
class AuditConfig:
    """How strict the audit is; ``None`` means calibrated on the dataset itself (see docs)."""

    threshold: float | None = None  # suspect pairs: cross-folder distance below this
    margin: float | None = None  # mislabeled: best other folder beats own by this similarity
    cluster_threshold: float = DEFAULT_THRESHOLD  # per-folder clusters ("largest cluster" view)
    duplicate_distance: float = DUPLICATE_DISTANCE
    neighbours: int = NEIGHBOURS
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("threshold", "cluster_threshold", "duplicate_distance"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 2:
                raise UsageError(f"{name} must be a distance in (0, 2], got {value}")
        if self.margin is not None and not 0 <= self.margin < 2:
            raise UsageError(f"margin must be a similarity difference in [0, 2), got {self.margin}")
        if self.neighbours < 1:
            raise UsageError(f"neighbours must be >= 1, got {self.neighbours}")


@dataclass(slots=True)
class Calibration:
    """The dataset's own similarity levels and the cuts derived from them."""

    same_similarity: float  # median over images of their median similarity within their folder
    different_similarity: float  # median similarity of random pairs from different folders
    threshold: float  # distance cut of suspect pairs
    margin: float  # similarity margin of mislabeled images
    auto_threshold: bool
    auto_margin: bool


@dataclass(slots=True)
class Mislabeled:
    item: int
    own_similarity: float  # to the most similar other image of its own folder
    own_match: int  # that image (item index)
    best_similarity: float  # to the most similar image of any other folder
    suggested: str  # that image's folder when the match is confident, else "" (unknown person)
    match: int
    own_votes: int  # of its nearest neighbours (closer than the cluster threshold): own folder
    suggested_votes: int  # ... and in the closest other folder
    voters: int
    closest: str = ""  # the folder of the most similar image elsewhere, confident or not
    confidence: float = math.nan  # the similarity a suggestion needed (see _suggest_levels)
    isolated: bool = False  # no image of its folder is within the clustering cut

    @property
    def score(self) -> float:
        return self.best_similarity - self.own_similarity

    @property
    def action(self) -> str:
        if not self.suggested:
            return "unknown person: like no folder (remove, or give it a folder)"
        if self.suggested_votes > self.own_votes:
            return f"move to {self.suggested}"
        return f"check: looks like {self.suggested}"


@dataclass(slots=True)
class Outlier:
    item: int
    centroid_similarity: float  # to its folder's robust centroid (mean of the largest cluster)
    nearest_similarity: float  # to the most similar other image of its folder
    nearest: int
    cluster_size: int
    largest_cluster: int
    folder_faces: int
    tie: bool  # several clusters share the largest size: no majority in the folder

    @property
    def score(self) -> float:
        """Distance to the folder's robust centroid (2.0 when the folder has none)."""
        if math.isnan(self.centroid_similarity):
            return 2.0
        return distance_of(self.centroid_similarity)

    @property
    def action(self) -> str:
        if self.tie:
            return "check: folder has no majority face"
        return "check: not like the rest of its folder"


@dataclass(slots=True)
class Pair:
    a: int
    b: int
    similarity: float
    kind: str = ""  # duplicates: "same_file" or "same_face"


def duplicate_action(kind: str, same_folder: bool) -> str:
    """What to do about a duplicate pair."""
    if kind == "same_file":
        return "delete the extra copy" if same_folder else "same file in two folders: keep one"
    return "near-identical photo: keep one"


@dataclass(slots=True)
class ManyFaces:
    item: int
    faces: int
    chosen: int  # index into DatasetFaces.rows
    support: float  # chosen face's best similarity to the folder's other images (nan: none)
    runner_up: float  # the next face's (nan: none)
    rule: str


@dataclass(slots=True)
class AuditResult:
    dataset: Dataset
    faces: DatasetFaces
    digests: list[str]
    chosen: np.ndarray  # per item: index into faces.rows of its labeled face, -1: none
    calibration: Calibration
    mislabeled: list[Mislabeled]
    outliers: list[Outlier]
    suspect_pairs: list[Pair]
    duplicates: list[Pair]
    many_faces: list[ManyFaces]
    no_face: list[int]
    timings: dict[str, float] = field(default_factory=dict)  # wall-clock seconds per step
    cpu_timings: dict[str, float] = field(default_factory=dict)  # CPU seconds (all threads)

    def face(self, item: int) -> FaceRow | None:
        row = int(self.chosen[item])
        return self.faces.rows[row] if row >= 0 else None

    def summary(self) -> dict:
        return {
            "images": len(self.dataset),
            "folders": len(set(self.dataset.folders)),
            "unlabeled_skipped": len(self.dataset.unlabeled),
            "mislabeled": len(self.mislabeled),
            "outliers": len(self.outliers),
            "suspect_pairs": len(self.suspect_pairs),
            "duplicates": len(self.duplicates),
            "no_face": len(self.no_face),
            "many_faces": len(self.many_faces),
            "threshold": round(self.calibration.threshold, 4),
            "margin": round(self.calibration.margin, 4),
            "same_similarity": round(self.calibration.same_similarity, 4),
            "different_similarity": round(self.calibration.different_similarity, 4),
            "seconds": {k: round(v, 3) for k, v in self.timings.items()},
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_timings.items()},
        }


def run_audit(
    dataset: Dataset, faces: DatasetFaces, digests: list[str], config: AuditConfig | None = None
) -> AuditResult:
    """Analyse ``dataset`` given its catalog faces and file digests; nothing is written."""
    config = config or AuditConfig()
    timings: dict[str, float] = {}
    cpu_timings: dict[str, float] = {}
    clock, cpu_clock = time.perf_counter(), time.process_time()

    def lap(name: str) -> None:
        nonlocal clock, cpu_clock
        now, cpu_now = time.perf_counter(), time.process_time()
        timings[name], cpu_timings[name] = now - clock, cpu_now - cpu_clock
        clock, cpu_clock = now, cpu_now

    n = len(dataset)
    _, folder = np.unique(np.asarray(dataset.folders), return_inverse=True)
    folder = folder.astype(np.int64)
    digest = _digest_codes(digests)
    chosen, many = _choose_faces(faces, folder, digest)
    lap("choose_faces")

    items = np.flatnonzero(chosen >= 0)  # items with a labeled face, one row each below
    X = np.ascontiguousarray(faces.vectors[chosen[items]], dtype=np.float32)
    row_folder, row_digest = folder[items], digest[items]
    stats = _folder_stats(X, row_folder, row_digest, similarity_of(config.cluster_threshold))
    lap("folders")

    calibration = _calibrate(stats.median, row_folder, X, config)
    lap("calibrate")

    pairs, duplicate_pairs = _range_pairs(
        X, row_folder, calibration.threshold, config.duplicate_distance
    )
    suspect = [Pair(int(items[a]), int(items[b]), s) for a, b, s in pairs]
    lap("cross_folder_pairs")

    mislabeled = _mislabeled(X, items, row_folder, row_digest, stats, calibration, config, dataset)
    lap("mislabeled")

    outliers = [
        Outlier(
            item=int(items[r]),
            centroid_similarity=float(stats.centroid[r]),
            nearest_similarity=float(stats.own_max[r]),
            nearest=int(items[stats.own_arg[r]]) if stats.own_arg[r] >= 0 else -1,
            cluster_size=int(stats.cluster_size[r]),
            largest_cluster=int(stats.largest[r]),
            folder_faces=int(stats.folder_size[r]),
            tie=bool(stats.tie[r]),
        )
        for r in np.flatnonzero(~stats.in_largest & (stats.folder_size >= 2))
    ]
    outliers.sort(key=lambda o: (-o.score, o.item))

    duplicates = _exact_duplicates(digests)
    for a, b, s in duplicate_pairs:
        a, b = sorted((int(items[a]), int(items[b])))
        if digest[a] != digest[b]:  # byte-identical files are listed once, as same_file
            duplicates.append(Pair(a, b, s, "same_face"))
    duplicates.sort(key=lambda p: (p.kind != "same_file", -p.similarity, p.a, p.b))
    lap("duplicates")

    no_face = [i for i in range(n) if chosen[i] < 0]
    return AuditResult(
        dataset=dataset,
        faces=faces,
        digests=digests,
        chosen=chosen,
        calibration=calibration,
        mislabeled=mislabeled,
        outliers=outliers,
        suspect_pairs=suspect,
        duplicates=duplicates,
        many_faces=many,
        no_face=no_face,
        timings=timings,
        cpu_timings=cpu_timings,
    )


def _digest_codes(digests: list[str]) -> np.ndarray:
    """One integer per distinct file content; unreadable files (empty digest) are all distinct."""
    codes = np.empty(len(digests), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, d in enumerate(digests):
        codes[i] = seen.setdefault(d, len(seen)) if d else -1 - i
    return codes


def _choose_faces(
    faces: DatasetFaces, folder: np.ndarray, digest: np.ndarray
) -> tuple[np.ndarray, list[ManyFaces]]:
    """The labeled face of each image: its only face, or the one most like its folder's others.

    The folder is represented by the faces of its other single-face images (faces of group
    photos would let background people vouch for each other); only when it has none do all faces
    of its other images count. A folder with no other face gives no evidence: then the face
    nearest the image centre relative to its size wins, as labeled datasets are crops around
    their subject.
    """
    n = len(folder)
    chosen = np.full(n, -1, dtype=np.int64)
    many: list[ManyFaces] = []
    for i, found in enumerate(faces.faces_of):
        if len(found) == 1:
            chosen[i] = found[0]
    multi = [i for i, found in enumerate(faces.faces_of) if len(found) > 1]
    if not multi:
        return chosen, many
    members: dict[int, list[int]] = {}
    for i in range(n):
        if faces.faces_of[i]:
            members.setdefault(int(folder[i]), []).append(i)
    for i in multi:
        candidates = faces.faces_of[i]
        others = [j for j in members[int(folder[i])] if digest[j] != digest[i]]
        reference = [faces.faces_of[j][0] for j in others if len(faces.faces_of[j]) == 1]
        rule = "most like the folder's single-face images"
        if not reference:
            reference = [f for j in others for f in faces.faces_of[j]]
            rule = "most like the faces of the folder's other images"
        if reference:
            sims = faces.vectors[candidates] @ faces.vectors[reference].T
            support = sims.max(axis=1)
            order = np.argsort(-support, kind="stable")
            best, second = float(support[order[0]]), float(support[order[1]])
        else:
            best = second = float("nan")
            try:
                order = np.argsort(_off_centre(faces.rows, candidates), kind="stable")
                rule = "most central face (no other image of this folder has a face)"
            except OSError:  # the file went away since indexing: its size is unknown
                areas = [-_area(faces.rows[f].box) for f in candidates]
                order = np.argsort(areas, kind="stable")
                rule = "largest face (no other face in the folder; image unreadable now)"
        chosen[i] = candidates[int(order[0])]
        many.append(ManyFaces(i, len(candidates), int(chosen[i]), best, second, rule))
    return chosen, many


def _area(box: tuple[int, int, int, int]) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def _off_centre(rows: list[FaceRow], candidates: list[int]) -> np.ndarray:
    """Distance of each face's centre from the image centre, in units of the face's side."""
    width, height = _image_size(rows[candidates[0]].image_path)
    result = []
    for f in candidates:
        left, top, right, bottom = rows[f].box
        side = max(1, right - left, bottom - top)
        dx, dy = (left + right) / 2 - width / 2, (top + bottom) / 2 - height / 2
        result.append(math.hypot(dx, dy) / side)
    return np.asarray(result)


def _image_size(path: str) -> tuple[int, int]:
    """(width, height) after EXIF rotation, from the file header (no pixel decoding)."""
    with Image.open(path) as image:
        width, height = image.size
        if image.getexif().get(EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
            width, height = height, width
    return width, height


@dataclass(slots=True)
class FolderStats:
    """Per row (image with a face): how it sits within its own folder."""

    own_max: np.ndarray  # best similarity to another image of its folder (nan: none)
    own_arg: np.ndarray  # that row (-1: none)
    median: np.ndarray  # median similarity to the folder's other images (nan: none)
    centroid: np.ndarray  # similarity to the robust centroid, leave-one-out (nan: undefined)
    cluster_size: np.ndarray
    largest: np.ndarray  # size of its folder's largest cluster
    in_largest: np.ndarray
    tie: np.ndarray
    folder_size: np.ndarray


def _folder_stats(
    X: np.ndarray, row_folder: np.ndarray, row_digest: np.ndarray, link_similarity: float
) -> FolderStats:
    """Within-folder similarities, per-folder clusters (connected components of the pairs above
    ``link_similarity``) and the leave-one-out centroid of each folder's largest cluster."""
    m = len(X)
    own_max = np.full(m, np.nan, np.float32)
    own_arg = np.full(m, -1, np.int64)
    median = np.full(m, np.nan, np.float32)
    centroid = np.full(m, np.nan, np.float32)
    cluster_size = np.ones(m, np.int64)
    largest = np.ones(m, np.int64)
    in_largest = np.ones(m, bool)
    tie = np.zeros(m, bool)
    folder_size = np.ones(m, np.int64)
    order = np.argsort(row_folder, kind="stable")
    bounds = np.flatnonzero(np.diff(row_folder[order])) + 1
    for rows in np.split(order, bounds):
        size = len(rows)
        folder_size[rows] = size
        if size < 2:
            continue
        Xf, dig = X[rows], row_digest[rows]
        src, dst = [], []
        step = max(1, min(QUERY_BLOCK, BLOCK_ELEMENTS // size))  # a block holds <= 16 M floats
        links = min(LINKS_PER_FACE, size - 1)
        for start in range(0, size, step):
            block = slice(start, min(size, start + step))
            sims = Xf[block] @ Xf.T
            local = np.arange(block.start, block.stop)
            sims[local - start, local] = np.nan  # self
            sims[dig[block, None] == dig[None, :]] = np.nan  # same file: not independent evidence
            valid = ~np.isnan(sims)
            any_valid = valid.any(axis=1)
            filled = np.where(valid, sims, -np.inf)
            arg = filled.argmax(axis=1)
            own_max[rows[block]] = np.where(any_valid, filled[np.arange(len(arg)), arg], np.nan)
            own_arg[rows[block]] = np.where(any_valid, rows[arg], -1)
            with np.errstate(all="ignore"):
                med = np.nanmedian(np.where(any_valid[:, None], sims, 0.0), axis=1)
            median[rows[block]] = np.where(any_valid, med, np.nan)
            # cluster edges: each face's closest links only, so a huge folder stays O(size) edges
            top = np.argpartition(-filled, links - 1, axis=1)[:, :links]
            keep = np.take_along_axis(filled, top, axis=1) >= link_similarity
            src.append(np.nonzero(keep)[0] + start)
            dst.append(top[keep])
        src_all, dst_all = np.concatenate(src), np.concatenate(dst)
        graph = coo_matrix((np.ones(len(src_all)), (src_all, dst_all)), shape=(size, size))
        _, labels = connected_components(graph, directed=False)
        counts = np.bincount(labels)
        top = counts.max()
        winners = np.flatnonzero(counts == top)
        main = winners[0]
        cluster_size[rows] = counts[labels]
        largest[rows] = top
        tie[rows] = len(winners) > 1
        in_largest[rows] = (labels == main) & (len(winners) == 1)
        # the robust centre: mean of the largest cluster, or of everyone when there is no majority
        core = labels == main if len(winners) == 1 else np.ones(size, bool)
        total = Xf[core].sum(axis=0)
        loo = np.where(core[:, None], total[None, :] - Xf, total[None, :])
        norms = np.linalg.norm(loo, axis=1)
        with np.errstate(all="ignore"):
            sims_c = np.einsum("ij,ij->i", Xf, loo) / norms
        centroid[rows] = np.where(norms > 1e-6, sims_c, np.nan)
    return FolderStats(
        own_max, own_arg, median, centroid, cluster_size, largest, in_largest, tie, folder_size
    )


def _calibrate(
    within_median: np.ndarray, row_folder: np.ndarray, X: np.ndarray, config: AuditConfig
) -> Calibration:
    """Same-person and different-people similarity levels of this dataset, and the cuts."""
    same = float(np.nanmedian(within_median)) if np.isfinite(within_median).any() else math.nan
    rng = np.random.default_rng(config.seed)
    different = math.nan
    if len(X) >= 2 and len(np.unique(row_folder)) >= 2:
        a = rng.integers(0, len(X), SAMPLE_PAIRS)
        b = rng.integers(0, len(X), SAMPLE_PAIRS)
        apart = row_folder[a] != row_folder[b]
        if apart.any():
            different = float(np.median(np.einsum("ij,ij->i", X[a[apart]], X[b[apart]])))
    needs = [
        name
        for name, value in (("threshold", config.threshold), ("margin", config.margin))
        if value is None
    ]
    if needs and (math.isnan(same) or math.isnan(different)):
        raise UsageError(
            f"cannot calibrate {' and '.join(needs)} automatically: the dataset needs folders "
            "with 2+ faces and at least two folders; give explicit values instead"
        )
    threshold = config.threshold if config.threshold is not None else distance_of(same)
    margin = (
        config.margin if config.margin is not None else MARGIN_SHARE * max(0.0, same - different)
    )
    return Calibration(
        same, different, threshold, margin, config.threshold is None, config.margin is None
    )


def _range_pairs(
    X: np.ndarray, row_folder: np.ndarray, threshold: float, duplicate_distance: float
) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, float]]]:
    """(cross-folder pairs closer than ``threshold``, most similar first; all pairs closer than
    ``duplicate_distance``), each pair once, by one blocked faiss range search."""
    if len(X) < 2:
        return [], []
    cross_cut = similarity_of(threshold)
    dup_cut = similarity_of(duplicate_distance)
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    cross_a, cross_b, cross_s, dup_a, dup_b, dup_s = [], [], [], [], [], []
    for start in range(0, len(X), QUERY_BLOCK):
        block = X[start : start + QUERY_BLOCK]
        lims, sims, ids = index.range_search(block, min(cross_cut, dup_cut))
        rows = np.repeat(np.arange(start, start + len(block)), np.diff(lims).astype(np.int64))
        later = ids > rows  # each pair once (and never a row with itself)
        rows, ids, sims = rows[later], ids[later], sims[later]
        cross = (row_folder[rows] != row_folder[ids]) & (sims > cross_cut)
        cross_a.append(rows[cross])
        cross_b.append(ids[cross])
        cross_s.append(sims[cross])
        dup = sims > dup_cut
        dup_a.append(rows[dup])
        dup_b.append(ids[dup])
        dup_s.append(sims[dup])

    def collect(a: list, b: list, s: list) -> list[tuple[int, int, float]]:
        a_all, b_all, s_all = np.concatenate(a), np.concatenate(b), np.concatenate(s)
        order = np.lexsort((b_all, a_all, -s_all))
        return [(int(a_all[i]), int(b_all[i]), float(s_all[i])) for i in order]

    return collect(cross_a, cross_b, cross_s), collect(dup_a, dup_b, dup_s)


def _mislabeled(
    X: np.ndarray,
    items: np.ndarray,
    row_folder: np.ndarray,
    row_digest: np.ndarray,
    stats: FolderStats,
    calibration: Calibration,
    config: AuditConfig,
    dataset: Dataset,
) -> list[Mislabeled]:
    """Images whose nearest other-folder image beats their nearest own-folder image by ``margin``,
    and images alone in their folder (no image of it within the clustering cut) while a majority
    group of ``ISOLATED_MAJORITY`` or more faces agrees on one person.

    Images alone in their folder have no own evidence and are never called mislabeled (their
    look-alikes elsewhere are in the suspect pairs); the look-alike, sitting in a folder whose
    other images disagree with it, is. Likewise an image only speaks for its folder's identity
    when it belongs to that folder's largest cluster (or the folder has no majority): a photo of
    A misfiled among B's photos does not make A's own photos look mislabeled. In a folder with
    no majority (say one photo of A and one intruder) the own evidence is weak, so there the
    best other folder must also reach the dataset's same-person similarity.

    The folder of the best match is suggested only when the match is confident
    (``_suggest_levels``); otherwise the image is an "unknown person": a photo of someone who has
    no folder looks most like some stranger's photo, and naming that folder would be wrong.
    """
    if len(X) < 2:
        return []
    graph = knn_graph(X, config.neighbours)
    nb, dist = graph.neighbors, graph.distances
    valid = nb >= 0
    safe = np.where(valid, nb, 0)
    speaks_for_folder = stats.in_largest | stats.tie
    other = (
        valid
        & (row_folder[safe] != row_folder[:, None])
        & (row_digest[safe] != row_digest[:, None])
        & speaks_for_folder[safe]
    )
    has_other = other.any(axis=1)
    first = other.argmax(axis=1)
    best_row = safe[np.arange(len(X)), first]
    best_sim = 1.0 - dist[np.arange(len(X)), first].astype(np.float64) ** 2 / 2.0
    link = config.cluster_threshold
    voters = valid[:, :VOTERS] & (dist[:, :VOTERS] < link)
    # alone in its folder: no image of the folder within the clustering cut, while a majority
    # group of 3+ faces speaks for the folder's identity (a stranger filed there, whoever it is)
    isolated = (
        (stats.own_max < similarity_of(link))
        & ~stats.in_largest
        & ~stats.tie
        & (stats.largest >= ISOLATED_MAJORITY)
    )
    level = _suggest_levels(row_folder, stats, calibration)
    names = np.asarray(dataset.folders)
    found = []
    for r in np.flatnonzero(has_other & np.isfinite(stats.own_max)):
        score = best_sim[r] - float(stats.own_max[r])
        if score <= calibration.margin and not isolated[r]:
            continue
        if stats.tie[r] and best_sim[r] < calibration.same_similarity:
            continue
        vote_folders = row_folder[safe[r, :VOTERS][voters[r]]]
        closest = row_folder[best_row[r]]
        name = str(names[items[best_row[r]]])
        confident = best_sim[r] >= level[closest]
        found.append(
            Mislabeled(
                item=int(items[r]),
                own_similarity=float(stats.own_max[r]),
                own_match=int(items[stats.own_arg[r]]),
                best_similarity=float(best_sim[r]),
                suggested=name if confident else "",
                match=int(items[best_row[r]]),
                own_votes=int((vote_folders == row_folder[r]).sum()),
                suggested_votes=int((vote_folders == closest).sum()),
                voters=int(voters[r].sum()),
                closest=name,
                confidence=float(level[closest]),
                isolated=bool(isolated[r]),
            )
        )
    found.sort(key=lambda m: (-m.score, m.item))
    return found


def _suggest_levels(
    row_folder: np.ndarray, stats: FolderStats, calibration: Calibration
) -> np.ndarray:
    """Per folder: how similar an image from elsewhere must be to one of its images before the
    audit suggests moving it there (else: "unknown person").

    A stranger's closest look-alike among thousands of images is often as close as two photos
    of one person, so a suggestion needs the dataset's same-person level (the median of the
    images' median similarity within their folder), and, for a folder whose majority group has
    3+ faces, to be as close as that group's least connected member is to the rest of it: the
    image would be an ordinary member of the folder.
    """
    folders = int(row_folder.max()) + 1 if len(row_folder) else 0
    level = np.full(folders, calibration.same_similarity, np.float64)
    members = stats.in_largest & ~stats.tie & np.isfinite(stats.own_max)
    if not members.any():
        return level
    floor = np.full(folders, np.inf)
    np.minimum.at(floor, row_folder[members], stats.own_max[members].astype(np.float64))
    count = np.bincount(row_folder[members], minlength=folders)
    return np.where(count >= 3, np.maximum(level, floor), level)


def _exact_duplicates(digests: list[str]) -> list[Pair]:
    """Pairs (first copy, other copy) of images with identical bytes."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(digests):
        if d:
            groups.setdefault(d, []).append(i)
    return [
        Pair(same[0], other, 1.0, "same_file")
        for same in groups.values()
        if len(same) > 1
        for other in same[1:]
    ]
