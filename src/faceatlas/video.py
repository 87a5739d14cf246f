"""Videos as a source of faces: frames sampled over time, decoded with PyAV (FFmpeg in the wheel).

A video is read once, from start to end, one frame at a time (memory: one decoded frame and a
small histogram, whatever the length). Every frame is shrunk to a 64x36 thumbnail for the cut
detector (a colour-histogram difference to the previous frame); a frame is *sampled* (handed
to the face model) every ``1 / fps`` seconds of video time and at the first frame of every shot.
The display rotation of phone videos is applied, so sampled frames are upright.

What indexing stores of a video (see ``faceatlas.engines.task.analyze_video``):

- the video itself, keyed by its path (or archive key) like a photo: its scan says ``ok``,
  ``no_face`` or ``error`` (a video that cannot be opened, or that ends before its declared
  duration: the frames read before the damage are kept);
- one *still* per frame that holds a track's chosen face, keyed ``/abs/clip.mp4#t=12.50``
  (``still_key``), whose locator (``{"video": path, "frame": N, "pts": P, "t": 12.5}``) lets
  ``sources.read_source`` decode that frame again as a JPEG for thumbnails, export and the web.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceatlas.decode import DEFAULT_MAX_PIXELS, DecodeError, ImageTooLarge
from faceatlas.errors import UsageError
from faceatlas.sources import VIDEO_SUFFIXES

STILL_MARK = "#t="  # a still's key: the video's key, this mark, the time in seconds
CUT_SIZE = (64, 36)  # the thumbnail the cut detector compares, in pixels
CUT_BINS = 4  # histogram levels per colour channel (4 x 4 x 4 bins)
STILL_QUALITY = 95  # JPEG quality of a still read back (thumbnails, export, web)

__all__ = [
    "VIDEO_SUFFIXES",
    "Frame",
    "VideoError",
    "VideoOptions",
    "VideoReader",
    "describe",
    "moment",
    "read_still",
    "split_still_key",
    "still_key",
]


class VideoError(DecodeError):
    """A video that cannot be opened or decoded; ``str(err)`` is the reason."""


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """How videos are sampled and tracked; validated once here.

    ``fps``: frames sampled per second of video (plus one at each cut); ``max_seconds``: read
    only the first so many seconds (None: all); ``cut_threshold``: histogram distance (0-1)
    between consecutive frames that starts a new shot; ``tracking=False`` stores every sampled
    frame's faces as they are (one face per frame and person, as photos; for comparisons).
    """

    fps: float = 2.0
    max_seconds: float | None = None
    cut_threshold: float = 0.4
    tracking: bool = True

    def __post_init__(self) -> None:
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise UsageError(f"video fps must be a positive number, got {self.fps}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise UsageError(f"video max seconds must be > 0, got {self.max_seconds}")
        if not 0 < self.cut_threshold <= 1:
            raise UsageError(f"cut threshold must be in (0, 1], got {self.cut_threshold}")


@dataclass(slots=True)
class Frame:
    """One sampled frame: its number among the samples, where it is in the video, its shot."""

    number: int  # 0, 1, 2 ... in sampling order
    index: int  # position among all decoded frames of the video
    pts: int | None  # presentation timestamp, in the stream's time base
    time: float  # seconds from the start
    shot: int  # 0 for the first shot, +1 at every cut
    rgb: np.ndarray = field(repr=False)  # (H, W, 3) uint8, upright

    @property
    def width(self) -> int:
        return self.rgb.shape[1]

    @property
    def height(self) -> int:
        return self.rgb.shape[0]


class VideoReader:
    """Sampled frames of one video (a path, or the bytes of an archive member).

    Iterate ``frames()`` once. Afterwards ``error`` says why reading stopped early (None: the
    video was read to its end, or to ``max_seconds``), ``duration`` is the declared length
    (None if unknown), ``seconds`` the time of the last frame read and ``cuts`` the number of
    shot changes found.
    """

    def __init__(
        self, source: str | bytes, options: VideoOptions, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> None:
        self.source = source
        self.options = options
        self.max_pixels = max_pixels
        self.error: str | None = None
        self.duration: float | None = None
        self.seconds = 0.0
        self.decoded = 0
        self.cuts = 0

    def frames(self) -> Iterator[Frame]:
        import av

        try:
            container = av.open(_stream(self.source), metadata_errors="ignore")
        except Exception as err:  # whatever FFmpeg says about a file it cannot read
            raise VideoError(f"not a readable video ({_why(err)})") from err
        with container:
            if not container.streams.video:
                raise VideoError("no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            self.duration = _duration(container, stream)
            try:
                yield from self._sample(container, stream)
            except VideoError:
                raise
            except Exception as err:  # damage found while decoding: keep what was read
                self.error = f"corrupt or truncated video at {moment(self.seconds)}: {_why(err)}"
                if self.decoded == 0:
                    raise VideoError(self.error) from err
        limit = self.options.max_seconds
        ended = self.seconds + 1.0 / max(self.options.fps, 1.0)  # a last frame lasts a while
        if (
            self.error is None
            and self.duration is not None
            and ended + 0.5 < self.duration
            and (limit is None or self.seconds + 0.5 < limit)
        ):
            self.error = (
                f"truncated video: read {moment(self.seconds)} of {moment(self.duration)}"
            )
        if self.decoded == 0 and self.error is None:
            raise VideoError("no frames in the video")

    def _sample(self, container, stream) -> Iterator[Frame]:
        options = self.options
        step = 1.0 / options.fps
        due = 0.0  # the next time a frame is sampled
        previous: np.ndarray | None = None
        shot, number = 0, 0
        rate = float(stream.average_rate or stream.guessed_rate or 25)
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        for index, frame in enumerate(container.decode(stream)):
            at = frame.time - start if frame.time is not None else index / rate
            if options.max_seconds is not None and at > options.max_seconds:
                break
            self.decoded += 1
            self.seconds = max(self.seconds, at)
            tiny = frame.to_ndarray(format="rgb24", width=CUT_SIZE[0], height=CUT_SIZE[1])
            histogram = _histogram(tiny)
            cut = previous is not None and _distance(previous, histogram) > options.cut_threshold
            previous = histogram
            if cut:
                shot += 1
                self.cuts += 1
            if not cut and at + 1e-6 < due:
                continue
            # on a grid of ``step`` from the shot's first sample (a cut restarts the grid)
            due = at + step if cut else due + step * (math.floor((at - due) / step + 1e-6) + 1)
            yield Frame(number, index, frame.pts, at, shot, _upright(frame, self.max_pixels))
            number += 1


def _upright(frame, max_pixels: int) -> np.ndarray:
    """A decoded frame as (H, W, 3) uint8 RGB, rotated as players display it, shrunk to at
    most ``max_pixels`` (rather than refused: one frame of many)."""
    width, height = frame.width, frame.height
    if width * height > max_pixels:
        scale = math.sqrt(max_pixels / (width * height))
        width, height = max(2, int(width * scale)), max(2, int(height * scale))
    rgb = frame.to_ndarray(format="rgb24", width=width, height=height)
    turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise, as displayed
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb)


def _stream(source: str | bytes):
    if isinstance(source, bytes):
        if not source:
            raise VideoError("empty video data")
        return io.BytesIO(source)
    if os.path.getsize(source) == 0:
        raise VideoError("empty file")
    return source


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def _histogram(tiny: np.ndarray) -> np.ndarray:
    """Share of pixels in each of 64 coarse colours."""
    levels = tiny.astype(np.uint16) * CUT_BINS // 256
    codes = (levels[..., 0] * CUT_BINS + levels[..., 1]) * CUT_BINS + levels[..., 2]
    counts = np.bincount(codes.ravel(), minlength=CUT_BINS**3)
    return counts / counts.sum()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance of two histograms: 0 the same colours, 1 none in common."""
    return float(np.abs(a - b).sum() / 2)


def _why(err: Exception) -> str:
    text = str(err)[:160] or type(err).__name__
    if isinstance(err, (OSError, ValueError, EOFError)):  # FFmpeg's errors are both
        return text
    return f"{type(err).__name__}: {text}"


# -- stills: keys, moments, reading a frame again -----------------------------------------------


def still_key(video_key: str, seconds: float, digits: int = 2) -> str:
    """``/abs/clip.mp4#t=12.50``: the catalog key of the still at ``seconds``."""
    return f"{video_key}{STILL_MARK}{seconds:.{digits}f}"


def split_still_key(key: str) -> tuple[str, float] | None:
    """(video key, seconds) of a still's key, or None for any other key."""
    video, mark, seconds = key.rpartition(STILL_MARK)
    if not mark or Path(video.rsplit("/", 1)[-1]).suffix.lower() not in VIDEO_SUFFIXES:
        return None
    try:
        return video, float(seconds)
    except ValueError:
        return None


def moment(seconds: float) -> str:
    """``0:12``, ``1:02:03``: a time in a video as players show it."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def describe(key: str) -> str:
    """A still's key as people read it, ``/abs/clip.mp4 at 0:12``; other keys as they are."""
    found = split_still_key(key)
    return key if found is None else f"{found[0]} at {moment(found[1])}"


def still_locator(video_source: str | None, video_path: str, frame: Frame) -> str:
    """The JSON locator of a still: where the video is, and which frame."""
    where = {"video": video_path} if video_source is None else json.loads(video_source)
    where.update(frame=frame.index, pts=frame.pts, t=round(frame.time, 3))
    return json.dumps(where)


def read_still(where: dict, limit: int) -> bytes:
    """The frame a still's locator names, decoded again and encoded as a JPEG."""
    if "video" in where:
        path = where["video"]
        stat = os.stat(path)
        key = (json.dumps(where, sort_keys=True), stat.st_size, stat.st_mtime_ns)
    else:  # an archive member: read it (bounded) as indexing did
        key = (json.dumps(where, sort_keys=True), 0, 0)
    data = _still_jpeg(key[0], key[1], key[2], limit)
    if len(data) > limit:
        raise ImageTooLarge(f"still too large: over {limit:,} bytes")
    return data


@functools.lru_cache(maxsize=16)  # thumbnails of several faces of one still, export, web
def _still_jpeg(locator: str, size: int, mtime_ns: int, limit: int) -> bytes:
    from PIL import Image

    from faceatlas.sources import read_source

    where = json.loads(locator)
    if "video" in where:
        source: str | bytes = where["video"]
    else:
        member = {k: where[k] for k in ("zip", "tar", "member") if k in where}
        source = read_source(where.get("zip") or where.get("tar"), json.dumps(member), limit)
    rgb = _decode_frame(source, where["frame"], where.get("pts"))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=STILL_QUALITY)
    return buffer.getvalue()


def _decode_frame(source: str | bytes, index: int, pts: int | None) -> np.ndarray:
    """The upright RGB frame at decoded position ``index`` (found by ``pts`` when known)."""
    import av

    try:
        container = av.open(_stream(source), metadata_errors="ignore")
    except VideoError:
        raise
    except Exception as err:
        raise OSError(f"cannot open the video again: {_why(err)}") from err
    with container:
        stream = container.streams.video[0]
        if pts is not None:
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= pts:
                    return _upright(frame, DEFAULT_MAX_PIXELS)
        else:
            for position, frame in enumerate(container.decode(stream)):
                if position == index:
                    return _upright(frame, DEFAULT_MAX_PIXELS)
    raise OSError(f"frame {index} is no longer in the video")
