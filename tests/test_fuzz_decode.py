"""Seeded fuzzing of ``load_rgb``: mutated JPEG, PNG, TIFF, WebP and GIF files either decode to
an (H, W, 3) uint8 array or raise ``DecodeError``; no other exception may escape.

The originals are generated here with Pillow; mutations are byte flips, truncations, inserted
and overwritten runs, and (TIFF) retyped IFD entries. Each case is reproducible from its format
and number (``mutate(original, random.Random(f"{fmt}-{number}"))``).
"""

from __future__ import annotations

import io
import random
import struct
import time

import numpy as np
import pytest
from PIL import Image

from faceatlas.decode import DecodeError, load_rgb

CASES = 2000  # per format: 10,000 in all, about a second a format on one core
BUDGET_S = 12  # per format; stops early (still passing) on a very slow machine
MAX_PIXELS = 1_000_000  # a mutated size under the real limit would only make cases slow
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow on broken metadata


def _picture() -> Image.Image:
    """A small picture with edges, gradients and noise, so every encoder has real work."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:40, 0:48]
    rgb = np.stack([x * 5, y * 6, (x + y) * 3], axis=2).astype(np.uint8)
    rgb[10:30, 12:36] = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    return Image.fromarray(rgb)


def _originals() -> dict[str, list[bytes]]:
    picture = _picture()

    def save(image: Image.Image, fmt: str, **options) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        return buffer.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6
    frames = [picture, picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return {
        "JPEG": [
            save(picture, "JPEG", quality=80, exif=exif.tobytes()),
            save(picture, "JPEG", progressive=True),
            save(picture.convert("L"), "JPEG"),
        ],
        "PNG": [
            save(picture, "PNG"),
            save(picture.convert("P"), "PNG"),
            save(picture.convert("RGBA"), "PNG"),
        ],
        "TIFF": [
            save(picture, "TIFF"),
            save(picture, "TIFF", compression="tiff_lzw"),
            save(picture, "TIFF", compression="tiff_adobe_deflate"),
            save(picture.convert("L"), "TIFF", compression="packbits"),
        ],
        "WEBP": [save(picture, "WEBP", quality=70), save(picture, "WEBP", lossless=True)],
        "GIF": [
            save(picture.convert("P"), "GIF"),
            save(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        ],
    }


def _retype_tiff_entry(data: bytearray, rng: random.Random) -> bool:
    """Give a random IFD entry of a little-endian TIFF a random field type (1-13)."""
    if data[:4] != b"II*\x00" or len(data) < 8:
        return False
    ifd = struct.unpack_from("<I", data, 4)[0]
    if ifd + 2 > len(data):
        return False
    count = struct.unpack_from("<H", data, ifd)[0]
    entries = [ifd + 2 + 12 * i for i in range(count) if ifd + 14 + 12 * i <= len(data)]
    if not entries:
        return False
    struct.pack_into("<H", data, rng.choice(entries) + 2, rng.randint(1, 13))
    return True


def mutate(original: bytes, rng: random.Random) -> bytes:
    """One to three random mutations, biased to the header where parsers make decisions."""
    data = bytearray(original)
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(("flip", "flip", "truncate", "insert", "overwrite", "retype"))
        head = min(len(data), 256) if rng.random() < 0.6 else len(data)
        at = rng.randrange(max(head, 1))
        if kind == "flip" and data:
            data[at % len(data)] ^= 1 << rng.randrange(8)
        elif kind == "truncate":
            del data[rng.randrange(len(data) + 1) :]
        elif kind == "insert":
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == "overwrite":
            value = rng.choice((b"\x00", b"\xff", b"\x7f", b"\x80"))
            data[at : at + rng.randint(1, 8)] = value * rng.randint(1, 8)
        elif kind == "retype" and not _retype_tiff_entry(data, rng):
            data[at % max(len(data), 1) : at + 1] = rng.randbytes(1)
    return bytes(data)


@pytest.fixture(scope="module")
def originals() -> dict[str, list[bytes]]:
    return _originals()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "TIFF", "WEBP", "GIF"])
def test_mutated_files_decode_or_raise_decode_error(originals, fmt):
    for original in originals[fmt]:  # the originals themselves decode
        assert load_rgb(original).shape[2] == 3
    escaped, decoded, refused = [], 0, 0
    started = time.monotonic()
    for number in range(CASES):
        if time.monotonic() - started > BUDGET_S:
            break
        rng = random.Random(f"{fmt}-{number}")
        case = mutate(rng.choice(originals[fmt]), rng)
        try:
            rgb = load_rgb(case, max_pixels=MAX_PIXELS)
        except DecodeError as err:
            assert str(err), f"{fmt}-{number}: a DecodeError without a reason"
            refused += 1
            continue
        except Exception as err:  # what the decoder must never let through
            escaped.append(f"{fmt}-{number}: {type(err).__name__}: {err}")
            continue
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, (fmt, number)
        assert rgb.flags.c_contiguous and rgb.shape[0] > 0 and rgb.shape[1] > 0
        decoded += 1
    assert not escaped, f"{len(escaped)} exceptions escaped: {escaped[:5]}"
    assert decoded + refused >= min(CASES, 200)  # it did fuzz, even on a slow machine
    assert refused > 0  # the mutations do break files
