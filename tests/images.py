"""Small image fixtures the tests make themselves: every format, odd modes, broken files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image


def png_bomb(width: int = 60_000, height: int = 60_000) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def broken_corpus(folder: Path, good_jpeg: Path) -> dict[str, str]:
    """Write broken files into ``folder``; returns file name -> words its error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = good_jpeg.read_bytes()
    files = {
        "truncated.jpg": (jpeg[: len(jpeg) // 3], "truncated"),
        "empty.jpg": (b"", "empty"),
        "notes.jpg": (b"these are my holiday notes, not a picture\n" * 20, "not an image"),
        "noise.png": (bytes(range(256)) * 40, "not an image"),
        "bomb.png": (png_bomb(), "too large"),
        "short_data.png": (png_bomb(64, 64), "corrupt or truncated"),
        "cut_header.png": (png_bomb(64, 64)[:30], "not an image"),
    }
    for name, (content, _) in files.items():
        (folder / name).write_bytes(content)
    return {name: words for name, (_, words) in files.items()}
