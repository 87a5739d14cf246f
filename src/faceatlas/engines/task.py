"""The unit of work every engine runs: one image in, one ``ImageResult`` out, never an exception."""

from __future__ import annotations

import logging

from faceatlas.decode import DecodeError, load_rgb
from faceatlas.faces.model import Analyzer
from faceatlas.faces.record import ImageResult
from faceatlas.sources import ImageFile, read_source

log = logging.getLogger(__name__)


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
