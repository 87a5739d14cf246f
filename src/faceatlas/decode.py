"""Safe image loading: any common format and mode in, an upright RGB uint8 array out.

Every failure becomes a ``DecodeError`` with a short human reason that the catalog records.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: bigger than any camera photo, less than a bomb

try:  # HEIC/HEIF where the optional plugin is installed
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - depends on the environment
    pass


class DecodeError(Exception):
    """The input is not an image faceatlas can read; ``str(err)`` is the reason."""


def load_rgb(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a file path or encoded bytes to an (H, W, 3) uint8 RGB array, EXIF-rotated.

    GIFs and other animations give their first frame; grey, palette, CMYK, 16-bit and alpha
    images are converted (alpha is composited on white). Images over ``max_pixels`` are refused
    before their pixels are decoded.
    """
    if isinstance(source, bytes):
        if not source:
            raise DecodeError("empty image data")
        stream = io.BytesIO(source)
    else:
        try:
            if Path(source).stat().st_size == 0:
                raise DecodeError("empty file")
        except OSError as err:
            raise DecodeError(f"unreadable file: {err.strerror or err}") from err
        stream = source
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(stream) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DecodeError(
                        f"image too large: {width}x{height} exceeds {max_pixels:,} pixels"
                    )
                image.seek(0)
                image.load()
                return _to_rgb(ImageOps.exif_transpose(image))
        except DecodeError:
            raise
        except UnidentifiedImageError as err:
            raise DecodeError("not an image (unknown format)") from err
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise DecodeError(f"image too large (decompression bomb): {err}") from err
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise DecodeError(f"corrupt or truncated image: {err}") from err
        except MemoryError as err:
            raise DecodeError("image too large to decode in memory") from err


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
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
