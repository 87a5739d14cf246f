"""Faces followed through the sampled frames of a video: tracks, and the one face each keeps.

A face in a sampled frame continues a *track* of the same shot seen at most ``max_gap`` seconds
before when it is close to the track in embedding and overlaps its last box (or, having moved
far between two samples, is very close in embedding); the pairs of one frame are matched by
the Hungarian method, so one track takes at most one face per frame. A cut ends every track: a
face that leaves and returns after a cut starts a new track (grouping into people joins them).

Each track is stored as **one face**: the mean of its unit embeddings, renormalised, with the
box and landmarks of one of its frames, its time span and number of frames (``TrackFace``).
Tracks seen together in a frame are two people, and the catalog knows that only of faces of one
image (the one-photo rule), so the frame each track keeps is chosen per group of co-occurring
tracks (``Still``): the frame showing most of them, then the one where they look best (large,
sharp, frontal: ``face_quality``), repeated until each has a frame. A face alone in its shot
simply keeps its best frame.

>>> import numpy as np
>>> from faceatlas.faces.record import Face
>>> def face(x, colour):
...     return Face((x, 10, x + 40, 50), np.zeros((5, 2), "f4"), 1.0, np.array(colour, "f4"))
>>> tracker = Tracker()
>>> for n in range(3):  # two people side by side, moving right, for three samples
...     _ = tracker.add(n, n * 0.5, 0, [face(10 + 5 * n, [1, 0]), face(90 + 5 * n, [0, 1])],
...                     [1.0, 1.0])
>>> [(len(s.faces), [f.frames for f in s.faces]) for s in tracker.finish()]
[(2, [3, 3])]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from faceatlas.errors import UsageError
from faceatlas.faces.record import Face

UNLINKED = 1e6  # cost of a pair that may not be linked
_NO_VECTOR = np.zeros(0, dtype=np.float32)  # a sighting's embedding, once summed into its track


@dataclass(frozen=True, slots=True)
class TrackOptions:
    """When a face continues a track; distances are between unit embeddings (0-2)."""

    max_distance: float = 0.5  # for a face overlapping the track's last box
    min_iou: float = 0.1  # what "overlapping" means
    reid_distance: float = 0.35  # for a face that moved far between two samples
    max_gap: float = 1.5  # seconds a track may go unseen (missed detections) and continue

    def __post_init__(self) -> None:
        for name in ("max_distance", "reid_distance"):
            if not 0 <= getattr(self, name) <= 2:
                raise UsageError(f"{name} must be in [0, 2], got {getattr(self, name)}")
        if not 0 <= self.min_iou <= 1:
            raise UsageError(f"min_iou must be in [0, 1], got {self.min_iou}")
        if self.max_gap < 0:
            raise UsageError(f"max_gap must be >= 0, got {self.max_gap}")


@dataclass(slots=True)
class TrackFace(Face):
    """A track stored as one face: its chosen frame's box, landmarks and score, the mean of
    its unit embeddings (renormalised), and the seconds it spans in how many sampled frames."""

    start: float = 0.0
    end: float = 0.0
    frames: int = 1


@dataclass(slots=True)
class Sighting:
    """A track's face in one sampled frame."""

    frame: int
    time: float
    face: Face
    quality: float


class Track:
    """Faces of one person in consecutive sampled frames of one shot.

    Embeddings are summed as they come and not kept per frame, so a track of an hour-long
    shot holds a few hundred bytes per sampled frame.
    """

    __slots__ = ("last", "norms", "sightings", "total")

    def __init__(self, first: Sighting) -> None:
        self.total = np.zeros(len(first.face.embedding), dtype=np.float64)
        self.norms = 0.0
        self.sightings: list[Sighting] = []
        self.add(first)

    def add(self, sighting: Sighting) -> None:
        face = sighting.face
        self.total += face.embedding
        self.norms += face.embedding_norm
        sighting.face = Face(face.box, face.landmarks, face.score, _NO_VECTOR, face.embedding_norm)
        self.sightings.append(sighting)
        self.last = sighting

    @property
    def direction(self) -> np.ndarray:
        """The mean of the unit embeddings, renormalised."""
        norm = np.linalg.norm(self.total)
        return (self.total / norm if norm > 0 else self.total).astype(np.float32)

    def stored(self, sighting: Sighting) -> TrackFace:
        """The track as one face, shown by ``sighting``."""
        face = sighting.face
        return TrackFace(
            face.box,
            face.landmarks,
            face.score,
            self.direction,
            self.norms / len(self.sightings),
            start=self.sightings[0].time,
            end=self.last.time,
            frames=len(self.sightings),
        )


@dataclass(slots=True)
class Still:
    """A sampled frame that keeps the faces of one or more tracks."""

    frame: int
    time: float
    faces: list[TrackFace]


class Tracker:
    """Links the faces of sampled frames into tracks; ``add`` frames in order, then ``finish``.

    Both return the stills of the groups of tracks that can no longer change (all their tracks
    ended), so memory holds only the tracks of the current shot.
    """

    def __init__(self, options: TrackOptions | None = None) -> None:
        self.options = options or TrackOptions()
        self.shot: int | None = None
        self.live: list[Track] = []
        self.ended: list[Track] = []
        self.tracks = 0  # tracks started so far

    def add(
        self, frame: int, time: float, shot: int, faces: list[Face], qualities: list[float]
    ) -> list[Still]:
        """Faces of the next sampled frame (``frame`` its number, ``time`` in seconds)."""
        stills = self.finish() if shot != self.shot else []
        self.shot = shot
        going = [t for t in self.live if time - t.last.time > self.options.max_gap]
        if going:
            self.live = [t for t in self.live if t not in going]
            self.ended += going
        sightings = [Sighting(frame, time, f, q) for f, q in zip(faces, qualities, strict=True)]
        taken = self._link(sightings)
        for i, sighting in enumerate(sightings):
            if i not in taken:
                self.live.append(Track(sighting))
                self.tracks += 1
        if going:
            stills += self._close()
        return stills

    def finish(self) -> list[Still]:
        """End every track (the shot or the video ended); the stills not yet returned."""
        self.ended += self.live
        self.live = []
        return self._close()

    def _link(self, sightings: list[Sighting]) -> set[int]:
        """Continue live tracks with ``sightings``; returns the indices of those used."""
        if not self.live or not sightings:
            return set()
        options = self.options
        directions = np.stack([t.direction for t in self.live])
        embeddings = np.stack([s.face.embedding for s in sightings]).astype(np.float32)
        distance = np.linalg.norm(directions[:, None, :] - embeddings[None, :, :], axis=2)
        overlap = np.array(
            [[iou(t.last.face.box, s.face.box) for s in sightings] for t in self.live]
        )
        allowed = ((overlap >= options.min_iou) & (distance <= options.max_distance)) | (
            distance <= options.reid_distance
        )
        cost = np.where(allowed, distance - 0.5 * overlap, UNLINKED)
        from scipy.optimize import linear_sum_assignment  # here: the catalog imports TrackFace

        rows, cols = linear_sum_assignment(cost)
        taken = set()
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if allowed[r, c]:
                self.live[r].add(sightings[c])
                taken.add(c)
        return taken

    def _close(self) -> list[Still]:
        """Stills of the groups of co-occurring tracks that hold no live track."""
        tracks = self.ended + self.live
        if not self.ended:
            return []
        parent = list(range(len(tracks)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        first_in: dict[int, int] = {}  # frame -> a track seen in it
        for i, track in enumerate(tracks):
            for sighting in track.sightings:
                j = first_in.setdefault(sighting.frame, i)
                parent[root(i)] = root(j)
        groups: dict[int, list[int]] = {}
        for i in range(len(tracks)):
            groups.setdefault(root(i), []).append(i)
        live = {root(i) for i in range(len(self.ended), len(tracks))}
        stills, closed = [], set()
        for group_root, members in groups.items():
            if group_root not in live:
                stills += choose_stills([tracks[i] for i in members])
                closed.update(members)
        self.ended = [t for i, t in enumerate(self.ended) if i not in closed]
        return sorted(stills, key=lambda s: s.frame)


def choose_stills(tracks: list[Track]) -> list[Still]:
    """The frames that keep ``tracks`` (a group of co-occurring tracks): greedily the frame
    showing most tracks without a frame yet, then the best looking (each sighting's quality
    relative to its track's best), the earliest on ties."""
    best = [max(s.quality for s in t.sightings) or 1.0 for t in tracks]
    in_frame: dict[int, list[tuple[int, Sighting]]] = {}
    for i, track in enumerate(tracks):
        for sighting in track.sightings:
            in_frame.setdefault(sighting.frame, []).append((i, sighting))
    waiting = set(range(len(tracks)))
    stills = []
    while waiting:

        def merit(frame: int, waiting: set[int] = waiting) -> tuple[int, float, int]:
            seen = [(i, s) for i, s in in_frame[frame] if i in waiting]
            return len(seen), sum(s.quality / best[i] for i, s in seen), -frame

        frame = max(in_frame, key=merit)
        shown = [(i, s) for i, s in in_frame[frame] if i in waiting]
        faces = [tracks[i].stored(s) for i, s in shown]
        stills.append(Still(frame, shown[0][1].time, faces))
        waiting -= {i for i, _ in shown}
    return stills


def single_frame_stills(frame: int, time: float, faces: list[Face]) -> list[Still]:
    """Without tracking: a frame's faces stored as they are, one still per frame with faces."""
    if not faces:
        return []
    kept = [
        TrackFace(f.box, f.landmarks, f.score, f.embedding, f.embedding_norm, time, time, 1)
        for f in faces
    ]
    return [Still(frame, time, kept)]


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


SHARP_SIZE = 64  # pixels of the grey face crop whose Laplacian measures sharpness
SHARP_HALF = 100.0  # Laplacian variance at which sharpness counts half


def face_quality(rgb: np.ndarray, face: Face) -> float:
    """How well a frame shows a face: its size (side in pixels) times sharpness (variance of
    the Laplacian of the face, 0-1) times frontality (landmarks centred in the box, 0-1);
    the last two count from 1/4 so that a small blur never hides a large face."""
    left, top, right, bottom = face.box
    height, width = rgb.shape[:2]
    box = (max(0, left), max(0, top), min(width, right), min(height, bottom))
    if box[2] - box[0] < 2 or box[3] - box[1] < 2:
        return 0.0
    crop = Image.fromarray(rgb[box[1] : box[3], box[0] : box[2]]).convert("L")
    grey = np.asarray(crop.resize((SHARP_SIZE, SHARP_SIZE), Image.Resampling.BILINEAR), "f4")
    laplacian = (
        4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:]
    )
    variance = float(laplacian.var())
    sharp = variance / (variance + SHARP_HALF)
    side = float(np.sqrt(max(1, face.width) * max(1, face.height)))
    landmarks = np.asarray(face.landmarks, dtype=np.float32).reshape(-1, 2)
    frontal = 1.0
    if len(landmarks) and face.width > 0:
        offset = abs(float(landmarks[:, 0].mean()) - (left + right) / 2) / face.width
        frontal = max(0.0, 1.0 - 4.0 * offset)
    return side * (0.25 + 0.75 * sharp) * (0.25 + 0.75 * frontal)
