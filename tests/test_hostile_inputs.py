"""Hostile inputs through the real ``faceatlas index``: crafted TIFFs, PostScript named .jpg, a
pixel bomb, zip and tar.gz bombs, damaged archive members, duplicate TSV keys and archive names.

Every file is generated here (nothing committed). Each bad item must be recorded with its
reason, every good one indexed, the run must exit 0, and a second run must add nothing.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import tarfile
import warnings
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image

from faceatlas import decode
from faceatlas.decode import DecodeError, ImageTooLarge, load_rgb
from faceatlas.sources import TsvSpec, iter_archive, iter_tsv, read_source
from tests.conftest import data, faceatlas
from tests.images import encoded

GIB = 1 << 30
TAR_BOMB = decode.MAX_IMAGE_BYTES + (64 << 20)  # skipped by decompressing it: 1 GiB costs 3 s
TIFF_DOUBLE, TIFF_RATIONAL = 12, 5  # TIFF field types
POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto showpage\n"


# -- generated hostile files --------------------------------------------------------------------


def face_jpeg() -> bytes:
    return data("lfw", "Aaron_Eckhart", "Aaron_Eckhart_0001.jpg").read_bytes()


def retyped_tiff(field_type: int, image: Image.Image | None = None) -> bytes:
    """A valid little-endian TIFF whose StripOffsets entry (tag 273) has its type field changed
    to ``field_type``: a one-byte edit that made Pillow raise TypeError inside ``load()``."""
    image = image or Image.new("RGB", (32, 24), (200, 120, 40))
    tiff = bytearray(encoded(image, "TIFF"))
    assert tiff[:4] == b"II*\x00"
    ifd = struct.unpack_from("<I", tiff, 4)[0]
    for entry in range(struct.unpack_from("<H", tiff, ifd)[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack_from("<H", tiff, at)[0] == 273:
            struct.pack_into("<H", tiff, at + 2, field_type)
            return bytes(tiff)
    raise AssertionError("no StripOffsets tag")


def grey_png_bomb(side: int = 20_000) -> bytes:
    """A valid grey PNG of ``side`` x ``side`` black pixels (400 MP at 20000), about 2 MB."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    packer = zlib.compressobj(1)
    row = bytes(side + 1)  # filter byte + one byte a pixel
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


class Zeros(io.RawIOBase):
    """``size`` zero bytes as a stream, never held in memory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def write_zeros_member(zf: zipfile.ZipFile, name: str, size: int) -> None:
    with zf.open(name, "w", force_zip64=True) as member:
        stream = Zeros(size)
        while chunk := stream.read(1 << 20):
            member.write(chunk)


def tar_with(path: Path, members: list[tuple[str, bytes | int]]) -> Path:
    """A .tar.gz of ``members``: bytes, or a number of zero bytes streamed in."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for name, content in members:
            info = tarfile.TarInfo(name)
            if isinstance(content, int):
                info.size = content
                tf.addfile(info, Zeros(content))
            else:
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def patch_central(archive: bytes, name: str, field_at: int, value: int) -> bytes:
    """Set a 2-byte field (offset ``field_at``) of ``name``'s central directory entry."""
    at = archive.index(b"PK\x01\x02")
    while archive[at + 46 : at + 46 + len(name)] != name.encode():
        at = archive.index(b"PK\x01\x02", at + 4)
    patched = bytearray(archive)
    struct.pack_into("<H", patched, at + field_at, value)
    return bytes(patched)


def corrupt_deflate(archive: bytes, name: str) -> bytes:
    """Garble the compressed bytes of ``name`` (a deflated member): zlib.error when read."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        info = zf.getinfo(name)
    local = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", archive, local + 26)
    start = local + 30 + name_len + extra_len
    patched = bytearray(archive)
    patched[start : start + 16] = b"\xff" * 16
    return bytes(patched)


def hostile_zip(path: Path, good: bytes, bomb_size: int = GIB) -> dict[str, str]:
    """A zip of one good member and hostile ones; returns member key suffix -> reason words."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("people/good.jpg", good)
        write_zeros_member(zf, "big.jpg", bomb_size)
        zf.writestr("strip_double.tif", retyped_tiff(TIFF_DOUBLE))
        zf.writestr("postscript.jpg", POSTSCRIPT)
        zf.writestr("corrupt.jpg", good)
        zf.writestr("encrypted.jpg", good)
        zf.writestr("method99.jpg", good)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Duplicate name"
            zf.writestr("people/good.jpg", encoded(Image.new("RGB", (8, 8)), "PNG"))
    archive = corrupt_deflate(buffer.getvalue(), "corrupt.jpg")
    archive = patch_central(archive, "encrypted.jpg", 8, 0x1)  # flag bit 0: encrypted
    archive = patch_central(archive, "method99.jpg", 10, 99)  # AES: not supported
    path.write_bytes(archive)
    return {
        "big.jpg": "archive member too large",
        "strip_double.tif": "corrupt",
        "postscript.jpg": "not an image",
        "corrupt.jpg": "unreadable archive member",
        "encrypted.jpg": "encrypted",
        "method99.jpg": "not supported",
        "people/good.jpg#dup7": "duplicate member name (first seen as member 0)",
    }


def tsv_rows(good: bytes) -> tuple[bytes, dict[str, str], set[str]]:
    """TSV text (key, image) with good rows, hostile rows and a duplicate key."""
    rows = [
        (b"k-good", good),
        (b"k-double", retyped_tiff(TIFF_DOUBLE)),
        (b"k-rational", retyped_tiff(TIFF_RATIONAL)),
        (b"k-ps", POSTSCRIPT),
        (b"k-good", encoded(Image.new("RGB", (8, 8)), "PNG")),  # row 4: duplicate of row 0
        (b"k-cut", good[: len(good) // 2]),
        (b"k-png", encoded(Image.open(io.BytesIO(good)), "PNG")),
    ]
    text = b"".join(key + b"\t" + base64.b64encode(image) + b"\n" for key, image in rows)
    bad = {
        "k-double": "corrupt",
        "k-rational": "corrupt",
        "k-ps": "not an image",
        "#k-good#dup4": "row 4: duplicate key (first seen in row 0)",
        "k-cut": "truncated",
    }
    return text, bad, {"k-good", "k-png"}


# -- the whole run ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict:
    """One folder, one zip, one tar.gz and one TSV of hostile inputs (and good ones), indexed
    once through the CLI; returns what each key must be."""
    root = tmp_path_factory.mktemp("hostile")
    photos = root / "photos"
    photos.mkdir()
    good = face_jpeg()
    face = Image.open(io.BytesIO(good))
    files = {
        "good.jpg": good,
        "good.png": encoded(face, "PNG"),
        "good.tif": encoded(face, "TIFF"),
        "strip_double.tif": retyped_tiff(TIFF_DOUBLE, face),
        "strip_rational.tif": retyped_tiff(TIFF_RATIONAL, face),
        "truncated.jpg": good[: len(good) // 2],
        "truncated.png": encoded(face, "PNG")[:-2000],
        "postscript.jpg": POSTSCRIPT,
        "pixel_bomb.png": grey_png_bomb(),
    }
    for name, content in files.items():
        (photos / name).write_bytes(content)
    bad = {
        str(photos / "strip_double.tif"): "corrupt",
        str(photos / "strip_rational.tif"): "corrupt",
        str(photos / "truncated.jpg"): "truncated",
        str(photos / "truncated.png"): "truncated",
        str(photos / "postscript.jpg"): "not an image",
        str(photos / "pixel_bomb.png"): "too large",
    }
    goods = {str(photos / n) for n in ("good.jpg", "good.png", "good.tif")}
    zipped = root / "bomb.zip"
    bad.update({f"{zipped}#{k}": v for k, v in hostile_zip(zipped, good).items()})
    goods.add(f"{zipped}#people/good.jpg")
    tarred = tar_with(
        root / "bomb.tar.gz",
        [
            ("first.jpg", good),
            ("big.jpg", TAR_BOMB),
            ("strip.tif", retyped_tiff(TIFF_RATIONAL)),
            ("after.jpg", good),
            ("first.jpg", good[:100]),
        ],
    )
    bad[f"{tarred}#big.jpg"] = "archive member too large"
    bad[f"{tarred}#strip.tif"] = "corrupt"
    bad[f"{tarred}#first.jpg#dup4"] = "duplicate member name (first seen as member 0)"
    goods |= {f"{tarred}#first.jpg", f"{tarred}#after.jpg"}
    text, tsv_bad, tsv_good = tsv_rows(good)
    tsv = root / "rows.tsv"
    tsv.write_bytes(text)
    bad.update({(f"{tsv}{k}" if k.startswith("#") else k): v for k, v in tsv_bad.items()})
    goods |= tsv_good
    db = root / "c.db"
    args = [
        photos,
        zipped,
        tarred,
        "--tsv",
        tsv,
        "--key-column",
        "0",
        "--image-column",
        "1",
        "--db",
        db,
        "--workers",
        "2",
        "-q",
    ]
    first = faceatlas("index", *args)  # exit 0, or it raises
    return {"args": args, "db": db, "bad": bad, "goods": goods, "first": first.stdout}


def _stats(db: Path) -> dict:
    return json.loads(faceatlas("stats", "--db", db, "--json", "--errors", "1000").stdout)


def test_every_bad_input_is_recorded_with_its_reason_and_every_good_one_indexed(hostile):
    total = len(hostile["bad"]) + len(hostile["goods"])
    assert f"indexed {total} new images" in hostile["first"], hostile["first"]
    stats = _stats(hostile["db"])
    reasons = {e["path"]: e["reason"] for e in stats["error_samples"]}
    assert stats["images"] == total and stats["errors"] == len(hostile["bad"])
    for key, words in hostile["bad"].items():
        assert words in reasons.get(key, ""), (key, reasons.get(key), sorted(reasons))
    assert not hostile["goods"] & set(reasons)
    assert stats["status"]["ok"] == len(hostile["goods"])  # each shows a face


def test_a_second_run_adds_nothing(hostile):
    total = len(hostile["bad"]) + len(hostile["goods"])
    again = faceatlas("index", *hostile["args"])
    assert f"indexed 0 new images ({total} already done)" in again.stdout, again.stdout


def test_read_source_refuses_the_bombs_without_reading_them(hostile, tmp_path):
    db_items = {}
    for path in hostile["bad"]:
        if path.endswith("#big.jpg"):
            archive, member = path.split("#", 1)
            kind = "zip" if archive.endswith(".zip") else "tar"
            db_items[path] = json.dumps({kind: archive, "member": member})
    assert len(db_items) == 2
    for path, source in db_items.items():
        with pytest.raises(ImageTooLarge, match="archive member too large"):
            read_source(path, source)
        with pytest.raises(ValueError):  # what read_source's callers already catch
            read_source(path, source)


# -- bounds at a lower limit, in process ---------------------------------------------------------


@pytest.fixture
def small_limit(monkeypatch) -> int:
    limit = 1 << 20
    monkeypatch.setattr(decode, "MAX_IMAGE_BYTES", limit)
    return limit


def test_archive_members_over_the_limit_are_refused_and_reading_goes_on(tmp_path, small_limit):
    good = face_jpeg()
    with zipfile.ZipFile(tmp_path / "a.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        write_zeros_member(zf, "over.jpg", small_limit + 1)
        zf.writestr("exact.jpg", bytes(small_limit))
        zf.writestr("good.jpg", good)
    tar_with(tmp_path / "a.tar.gz", [("over.jpg", small_limit + 1), ("good.jpg", good)])
    for archive in ("a.zip", "a.tar.gz"):
        items = {i.path.split("#")[1]: i for i in iter_archive(tmp_path / archive)}
        assert "too large" in items["over.jpg"].error and items["over.jpg"].data is None
        assert items["good.jpg"].data == good and items["good.jpg"].error is None
    exact = {i.path.split("#")[1]: i for i in iter_archive(tmp_path / "a.zip")}["exact.jpg"]
    assert exact.error is None and len(exact.data) == small_limit
    with pytest.raises(DecodeError, match="not an image"):  # then refused by the decoder
        load_rgb(exact.data)


def test_tsv_field_over_the_limit_is_a_bad_row_before_decoding(tmp_path, small_limit):
    big = base64.b64encode(bytes(small_limit + 3))
    tsv = tmp_path / "t.tsv"
    tsv.write_bytes(b"a\t" + big + b"\nb\t" + base64.b64encode(face_jpeg()) + b"\n")
    items = list(iter_tsv(tsv, TsvSpec(key_column=0)))
    assert items[0].error.startswith("row 0: image too large") and items[0].data is None
    assert items[1].error is None and items[1].data == face_jpeg()
    source = json.dumps({"tsv": str(tsv), "row": 0, "offset": 2, "length": len(big)})
    with pytest.raises(ImageTooLarge):
        read_source("a", source)


def test_files_over_the_limit_are_refused_by_the_decoder_and_read_source(tmp_path, small_limit):
    big = tmp_path / "big.jpg"
    big.write_bytes(face_jpeg() + bytes(small_limit))
    with pytest.raises(ImageTooLarge, match="file too large"):
        load_rgb(big)
    with pytest.raises(ImageTooLarge, match="file too large"):
        read_source(str(big), None)
    with pytest.raises(ImageTooLarge, match="image too large"):
        load_rgb(big.read_bytes())
