"""Safe image loading: any common format and mode in, an upright RGB uint8 array out.

Only the formats of ``IMAGE_FORMATS`` are ever decoded (never e.g. EPS, whose Pillow plugin runs
Ghostscript), inputs over ``MAX_IMAGE_BYTES`` or ``max_pixels`` are refused before any pixel is
decoded, and every failure to decode one input, whatever Pillow raised, becomes a
``DecodeError`` with a short human reason that the catalog records.
"""

from __future__ import annotations

import functools
import io
import logging
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceatlas.errors import FaceatlasError

log = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: bigger than any camera photo, less than a bomb
# Encoded bytes of one image, file or container item: far above any photo, and the most an
# archive member or TSV row is ever read into memory (read at call time, so tests may lower it).
MAX_IMAGE_BYTES = 256 * 2**20
# The Pillow plugins faceatlas decodes, most common first; HEIF (pillow-heif) and AVIF where
# installed. MPO (multi-picture JPEGs from cameras and phones) is opened by the JPEG plugin.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP", "PPM", "HEIF", "AVIF", "MPO")
_REASON_CHARS = 160  # longest exception text kept in a reason

try:  # HEIC/HEIF where the optional plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - depends on the environment
    pass


class DecodeError(FaceatlasError):
    """The input is not an image faceatlas can read; ``str(err)`` is the reason."""


class ImageTooLarge(DecodeError, ValueError):
    """An image over the byte or pixel limit, refused before decoding.

    Also a ``ValueError``, so callers of ``sources.read_source`` that handle a damaged container
    (``OSError``, ``ValueError``) handle an oversized item too.
    """


@functools.cache
def available_formats() -> tuple[str, ...]:
    """The formats of ``IMAGE_FORMATS`` this installation can decode (the ``formats=`` that
    every ``Image.open`` of faceatlas passes)."""
    Image.init()
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)


def image_format(source: bytes | BinaryIO | str | Path) -> str:
    """The Pillow format name (one of ``IMAGE_FORMATS``) of encoded image bytes, a binary
    stream or a file, from its header only (no pixels are decoded).

    Raises ``DecodeError`` for anything faceatlas does not decode, such as PostScript, PDF or
    text, whatever its name. A stream is left at the position it had.

    >>> try:
    ...     image_format(b"%!PS-Adobe-3.0 EPSF-3.0\\n")
    ... except DecodeError as err:
    ...     print(err)
    not an image (unknown or unsupported format)
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    position = stream.tell() if hasattr(stream, "tell") else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream, formats=available_formats()) as image:
                return image.format or "unknown"
    except DecodeError:
        raise
    except Exception as err:
        raise _decode_error(err) from err
    finally:
        if position is not None:
            stream.seek(position)


def load_rgb(
    source: str | Path | bytes,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Decode a file path or encoded bytes to an (H, W, 3) uint8 RGB array, EXIF-rotated.

    GIFs and other animations give their first frame; grey, palette, CMYK, 16-bit and alpha
    images are converted (alpha is composited on white). Inputs over ``max_bytes`` (default
    ``MAX_IMAGE_BYTES``) or ``max_pixels`` are refused before their pixels are decoded. Raises
    only ``DecodeError`` (``ImageTooLarge`` for the limits), never what a decoder raised.
    """
    limit = MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    if isinstance(source, bytes):
        if not source:
            raise DecodeError("empty image data")
        if len(source) > limit:
            raise ImageTooLarge(f"image too large: {len(source):,} bytes, the limit is {limit:,}")
        stream: io.BytesIO | str | Path = io.BytesIO(source)
    else:
        try:
            size = os.stat(source).st_size
        except (OSError, ValueError) as err:  # ValueError: a NUL in the name
            reason = getattr(err, "strerror", None) or err
            raise DecodeError(f"unreadable file: {reason}") from err
        if size == 0:
            raise DecodeError("empty file")
        if size > limit:
            raise ImageTooLarge(f"file too large: {size:,} bytes, the limit is {limit:,}")
        stream = source
    try:
        with warnings.catch_warnings():
            # our own pixel limit is checked below; Pillow's error (2x its limit) still applies
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream, formats=available_formats()) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLarge(
                        f"image too large: {width}x{height} exceeds {max_pixels:,} pixels"
                    )
                image.seek(0)
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
    except DecodeError:
        raise
    except Exception as err:  # any failure on one input, whatever its type, is that input's
        raise _decode_error(err) from err


def _decode_error(err: Exception) -> DecodeError:
    """The ``DecodeError`` for what decoding one image raised: a short reason."""
    if isinstance(err, UnidentifiedImageError):
        return DecodeError("not an image (unknown or unsupported format)")
    if isinstance(err, Image.DecompressionBombError):
        return ImageTooLarge(f"image too large (decompression bomb): {err}")
    if isinstance(err, MemoryError):
        return ImageTooLarge("image too large to decode in memory")
    text = str(err)[:_REASON_CHARS]
    if isinstance(err, (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)):
        return DecodeError(f"corrupt or truncated image: {text or type(err).__name__}")
    # a malformed header that Pillow does not check (e.g. a TIFF tag of the wrong type)
    log.debug("decoder raised %s", type(err).__name__, exc_info=err)
    return DecodeError(f"corrupt image ({type(err).__name__}: {text})")


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = values.max()
        grey = (values * (255.0 / top) if top > 0 else values).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode == "P" or mode in ("LA", "La", "PA"):
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "RGBa"):
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
