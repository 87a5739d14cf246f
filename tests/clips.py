"""Video clips made from real photos, with the truth known: shots of people side by side, the
camera panning and zooming over them, encoded with PyAV (tests and bench/video.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

BACKGROUNDS = [(70, 90, 120), (150, 130, 100), (60, 110, 70), (120, 70, 90), (40, 40, 50)]


@dataclass(frozen=True, slots=True)
class Shot:
    """One shot: ``photos`` side by side (one person each), filmed for ``seconds`` while the
    view moves right by ``pan`` (share of its width) and shrinks to ``1 / zoom`` of its size."""

    photos: Sequence[Path]
    seconds: float = 2.0
    pan: float = 0.08
    zoom: float = 1.15


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a shot's photo is: its shot, its place among the shot's photos, its box on the
    shot's canvas, and whom it shows (the photo's folder name)."""

    shot: int
    slot: int
    person: str
    box: tuple[int, int, int, int]
    start: float
    end: float


@dataclass(slots=True)
class Clip:
    """A written clip and its truth."""

    path: Path
    size: tuple[int, int]
    fps: int
    shots: list[Shot]
    placed: list[Placed]
    starts: list[float]  # each shot's first second
    canvases: list[tuple[int, int]]  # each shot's canvas size

    @property
    def seconds(self) -> float:
        return self.starts[-1] + self.shots[-1].seconds

    def view(self, shot: int, t: float) -> tuple[float, float, float, float]:
        """The canvas rectangle (left, top, width, height) filmed at time ``t`` of ``shot``."""
        progress = (t - self.starts[shot]) / self.shots[shot].seconds
        return _view(self.shots[shot], self.size, self.canvases[shot], progress)

    def person_at(self, t: float, box: tuple[int, int, int, int]) -> Placed | None:
        """The placed photo whose box holds the centre of a frame ``box`` at time ``t``."""
        for placed in self.placed:
            if placed.start <= t + 1e-6 and t < placed.end - 1e-6:
                left, top, width, _ = self.view(placed.shot, t)
                scale = width / self.size[0]
                cx = left + (box[0] + box[2]) / 2 * scale
                cy = top + (box[1] + box[3]) / 2 * scale
                pl, pt, pr, pb = placed.box
                if pl <= cx < pr and pt <= cy < pb:
                    return placed
        return None


def write_clip(
    path: Path,
    shots: Sequence[Shot],
    size: tuple[int, int] = (480, 270),
    fps: int = 25,
    rotation: int | None = None,
    codec: str = "libx264",
) -> Clip:
    """Encode ``shots`` one after the other into ``path`` (container from the suffix).

    ``rotation``: display rotation stored in the stream (degrees counter-clockwise); the
    frames are then stored turned the other way, so players show them upright.
    """
    import av

    width, height = size
    stored = (height, width) if rotation in (90, -90, 270) else (width, height)
    placed: list[Placed] = []
    starts, canvases = [], []
    clock = 0.0
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = stored
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "20", "preset": "veryfast"}
        if rotation:
            stream.set_display_rotation(rotation)
        for number, shot in enumerate(shots):
            canvas, boxes = _canvas(shot, size, BACKGROUNDS[number % len(BACKGROUNDS)])
            canvases.append(canvas.size)
            starts.append(clock)
            frames = round(shot.seconds * fps)
            for slot, (photo, box) in enumerate(zip(shot.photos, boxes, strict=True)):
                end = clock + frames / fps
                placed.append(Placed(number, slot, photo.parent.name, box, clock, end))
            for i in range(frames):
                left, top, w, h = _view(shot, size, canvas.size, i / frames)
                frame = canvas.resize(
                    size, Image.Resampling.BILINEAR, (left, top, left + w, top + h)
                )
                pixels = np.asarray(frame)
                if rotation:
                    pixels = np.rot90(pixels, -round(rotation / 90))
                image = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                for packet in stream.encode(image):
                    container.mux(packet)
            clock += frames / fps
        for packet in stream.encode():
            container.mux(packet)
    return Clip(path, size, fps, list(shots), placed, starts, canvases)


def _canvas(
    shot: Shot, size: tuple[int, int], colour: tuple[int, int, int]
) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """The photos side by side on a plain background, at their own resolution (up to 400 px
    tall), on a canvas of the frame's shape widened by the pan; returns it and their boxes."""
    width, height = size
    photos = [Image.open(p).convert("RGB") for p in shot.photos]
    tall = min(400, min(p.height for p in photos))
    scaled = [p.resize((round(p.width * tall / p.height), tall)) for p in photos]
    gap = round(tall * 0.15)
    content = sum(p.width for p in scaled) + gap * (len(scaled) + 1)
    view_w = max(content, (tall + 2 * gap) * width / height)
    canvas = Image.new(
        "RGB", (round(view_w * (1 + shot.pan)), round(view_w * height / width)), colour
    )
    x = (canvas.width - content) // 2 + gap
    top = (canvas.height - tall) // 2
    boxes = []
    for photo in scaled:
        canvas.paste(photo, (x, top))
        boxes.append((x, top, x + photo.width, top + tall))
        x += photo.width + gap
    return canvas, boxes


def _view(
    shot: Shot, size: tuple[int, int], canvas: tuple[int, int], progress: float
) -> tuple[float, float, float, float]:
    """The filmed rectangle at ``progress`` (0-1) through the shot: its centre moving right
    over the canvas while it shrinks (zooms in)."""
    width, height = size
    canvas_w, canvas_h = canvas
    full = canvas_h * width / height
    w = full / (1 + (shot.zoom - 1) * progress)
    h = w * height / width
    centre = canvas_w / 2 + (progress - 0.5) * (canvas_w - full)
    return centre - w / 2, (canvas_h - h) / 2, w, h
