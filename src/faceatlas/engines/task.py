"""The unit of work every engine runs: one input item in, its results out, never an exception.

A photo gives one ``ImageResult``. A video gives the results of its stills (``StillResult``:
frames that keep the faces of its tracks, see ``faceatlas.tracks``) followed by its own result,
which says how reading it went; the index commits them together, so a video is stored whole or
not at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faceatlas.decode import DecodeError, load_rgb
from faceatlas.faces.model import Analyzer
from faceatlas.faces.record import ImageResult
from faceatlas.sources import ImageFile, is_video, read_source
from faceatlas.tracks import Still, Tracker, TrackOptions, face_quality, single_frame_stills
from faceatlas.video import VideoError, VideoOptions, VideoReader, moment, still_key, still_locator

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StillResult(ImageResult):
    """A video frame that keeps faces of tracks: an image of its own, whose bytes are the
    frame at ``source`` (a locator ``sources.read_source`` reads as a JPEG)."""

    source: str | None = None


def analyze_item(
    pipeline: Analyzer,
    item: ImageFile,
    max_pixels: int,
    video: VideoOptions | None = None,
    tracks: TrackOptions | None = None,
) -> list[ImageResult]:
    """An item's results: ``[image result]`` for a photo, ``[*stills, video result]`` for a
    video (``video``: how to sample it, default ``VideoOptions()``)."""
    if is_video(item):
        return analyze_video(pipeline, item, max_pixels, video or VideoOptions(), tracks)
    return [analyze_image(pipeline, item, max_pixels)]


def analyze_image(pipeline: Analyzer, item: ImageFile, max_pixels: int) -> ImageResult:
    """Decode and analyze one image; failures become an ``error`` result with the reason.

    The image is ``item.data`` when given, else read from its container (``item.source``) or
    its file (``item.path``); an ``item.error`` found while reading the input is kept as is.
    """
    base = {"path": item.path, "size": item.size, "mtime_ns": item.mtime_ns, "model": pipeline.name}
    if item.error is not None:
        return ImageResult(status="error", error=item.error, **base)
    try:
        source = item.data
        if source is None and item.source is not None:
            source = read_source(item.path, item.source)
        rgb = load_rgb(item.path if source is None else source, max_pixels=max_pixels)
    except DecodeError as err:
        return ImageResult(status="error", error=str(err), **base)
    except (OSError, ValueError) as err:  # the container item could not be read
        return ImageResult(status="error", error=f"unreadable source: {err}", **base)
    height, width = rgb.shape[:2]
    try:
        faces = pipeline.analyze(rgb)
    except Exception as err:  # a model failure on one image must not stop the run
        log.exception("face model failed on %s", item.path)
        return ImageResult(
            status="error", error=f"face model failed: {err}", width=width, height=height, **base
        )
    return ImageResult(
        status="ok" if faces else "no_face", width=width, height=height, faces=faces, **base
    )


def analyze_video(
    pipeline: Analyzer,
    item: ImageFile,
    max_pixels: int,
    options: VideoOptions,
    track_options: TrackOptions | None = None,
) -> list[ImageResult]:
    """Sample, analyze and track one video: its stills' results, then its own.

    The video's own result is ``ok`` (tracks found), ``no_face`` or ``error``: unreadable, or
    damaged part way (then the stills of what was read come first, and the error says where).
    Memory: one frame and the tracks of the current shot.
    """
    base = {"path": item.path, "size": item.size, "mtime_ns": item.mtime_ns, "model": pipeline.name}
    if item.error is not None:
        return [ImageResult(status="error", error=item.error, **base)]
    reader = VideoReader(item.data if item.data is not None else item.path, options, max_pixels)
    tracker = Tracker(track_options)
    frames: dict[int, tuple[int, int, object]] = {}  # sample number -> (width, height, frame)
    stills: list[Still] = []
    results: list[ImageResult] = []
    size = (0, 0)
    error = None
    keys: set[str] = set()

    def store(found: list[Still]) -> None:
        for still in found:
            width, height, frame = frames[still.frame]
            key = still_key(item.path, still.time)
            if key in keys:  # two samples within 1/100 s (a cut next to a sample)
                key = still_key(item.path, still.time, digits=3)
            keys.add(key)
            results.append(
                StillResult(
                    status="ok", width=width, height=height, faces=list(still.faces),
                    source=still_locator(item.source, item.path, frame),
                    **{**base, "path": key},
                )
            )

    try:
        for frame in reader.frames():
            size = (frame.width, frame.height)
            try:
                faces = pipeline.analyze(frame.rgb)
            except Exception as err:  # a model failure stops this video, not the run
                log.exception("face model failed on %s at %s", item.path, moment(frame.time))
                error = f"face model failed at {moment(frame.time)}: {err}"
                break
            if faces:  # where the frame is, for a still of it (not its pixels)
                frames[frame.number] = (frame.width, frame.height, _Stamp(frame))
            if options.tracking:
                qualities = [face_quality(frame.rgb, face) for face in faces]
                stills = tracker.add(frame.number, frame.time, frame.shot, faces, qualities)
            else:
                stills = single_frame_stills(frame.number, frame.time, faces)
            if stills:
                store(stills)
                seen = {s.frame for t in (*tracker.live, *tracker.ended) for s in t.sightings}
                frames = {n: v for n, v in frames.items() if n in seen}  # bounded memory
    except VideoError as err:
        error = str(err)
    except (OSError, ValueError) as err:  # the file went away, or its bytes cannot be read
        error = f"unreadable video: {err}"
    if options.tracking:
        store(tracker.finish())
    error = error or reader.error
    width, height = size
    faces_kept = sum(len(r.faces or []) for r in results)
    status = "error" if error else ("ok" if faces_kept else "no_face")
    return [*results, ImageResult(status=status, error=error, width=width, height=height, **base)]


class _Stamp:
    """Where a sampled frame is (for its still's locator), without its pixels."""

    __slots__ = ("index", "pts", "time")

    def __init__(self, frame) -> None:
        self.index, self.pts, self.time = frame.index, frame.pts, frame.time

