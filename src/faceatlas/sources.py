"""Where images come from: folders walked recursively, lists of paths, .zip/.tar archives and
TSV files whose rows carry a base64-encoded image.

Every image gets a stable catalog key (``ImageFile.path``): the absolute path of a plain file,
``/abs/a.tsv#17`` for data row 17 of a TSV (or the row's key column), ``/abs/a.zip#dir/x.jpg``
for an archive member. Images inside a container carry their encoded bytes (``data``) and a
``source`` locator (JSON) from which ``read_source`` can read them again later (export,
thumbnails, Ray workers). Bad TSV rows and archive members become items with an ``error``
instead of exceptions: too large (over ``decode.MAX_IMAGE_BYTES``, refused by declared size and
never read past it), unreadable, or a duplicate key (the first row or member of a key wins).
"""

from __future__ import annotations

import binascii
import contextlib
import csv
import itertools
import json
import mmap
import os
import tarfile
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from faceatlas import decode
from faceatlas.decode import ImageTooLarge
from faceatlas.errors import UsageError
from faceatlas.paths import canonical_path

try:  # SIMD base64, ~40x faster than the standard library; needed for a fast --dry-run
    import pybase64 as _b64
except ImportError:  # pragma: no cover - depends on the environment
    _b64 = None

IMAGE_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".png",
        ".webp",
        ".bmp",
        ".dib",
        ".gif",
        ".tif",
        ".tiff",
        ".pgm",
        ".ppm",
        ".pbm",
        ".pnm",
        ".heic",
        ".heif",
        ".avif",
    ]
)

# Videos: indexed as frames sampled over time (``faceatlas.video``), each face tracked through them
VIDEO_SUFFIXES = frozenset([".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm"])

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
READ_CHUNK = 1 << 20  # bytes read at a time from an archive member or file


@dataclass(frozen=True, slots=True)
class ImageFile:
    """One image to index; ``path`` is the catalog's key: the canonical (resolved, absolute)
    path of a file, or container#item.

    ``found`` is the path the file was found under when that differs (through a symlink);
    ``data`` holds the encoded image when it does not live in a file of its own, ``error`` why
    an input row is unusable (recorded as a failed image), ``segment`` its coarse pre-class and
    ``source`` the JSON locator of a container item (see ``read_source``).
    """

    path: str
    size: int
    mtime_ns: int
    data: bytes | None = field(default=None, repr=False)
    error: str | None = None
    segment: str | None = None
    source: str | None = None
    found: str | None = None

    @property
    def found_path(self) -> str:
        """The path as found (a link's own path), for labels taken from folder names."""
        return self.found or self.path


def iter_image_files(
    paths: Iterable[str | Path],
    exclude: Iterable[str | Path] = (),
    segment_from_folder: bool = False,
    unique: bool = True,
    ignored: Counter[str] | None = None,
    videos: bool = False,
) -> Iterator[ImageFile]:
    """Image files under ``paths`` (files or folders, recursive, sorted), skipping ``exclude``.

    Files are chosen by suffix; hidden folders are skipped. Symlinked folders are followed,
    each real folder once (no loops). Paths given explicitly as files are always yielded so a
    wrongly named file is recorded rather than silently ignored. With ``segment_from_folder``,
    an image's segment is its top folder below the given folder (images directly in it have
    none). Each image is yielded under its canonical path, once however many links reach it
    (``unique=False``: once per link, e.g. to see one photo filed under two labels). With
    ``videos``, video files (``VIDEO_SUFFIXES``) are yielded too. Files left out for their
    suffix (documents; videos unless asked for) are counted by suffix in ``ignored``.
    """
    excluded = {canonical_path(p) for p in exclude}
    seen_files: set[str] | None = set() if unique else None
    seen_dirs: set[str] = set()
    for given in paths:
        root = os.path.abspath(given)
        if os.path.isfile(root):
            yield from _once(_stat(root), seen_files)
            continue
        if not os.path.isdir(root):
            raise FileNotFoundError(f"no such file or folder: {root}")
        unreadable: list[OSError] = []
        for folder, dirs, files in os.walk(root, onerror=unreadable.append, followlinks=True):
            yield from _unreadable_folders(unreadable)
            real = canonical_path(folder)
            if real in seen_dirs or real in excluded:
                dirs[:] = []
                continue
            seen_dirs.add(real)
            dirs[:] = sorted(
                d for d in dirs
                if not d.startswith(".") and canonical_path(os.path.join(folder, d)) not in excluded
            )
            segment = None
            if segment_from_folder and folder != root:
                segment = os.path.relpath(folder, root).split(os.sep, 1)[0]
            for name in sorted(files):
                suffix = Path(name).suffix.lower()
                if suffix in IMAGE_SUFFIXES or (videos and suffix in VIDEO_SUFFIXES):
                    yield from _once(_stat(os.path.join(folder, name), segment), seen_files)
                elif ignored is not None:
                    ignored[suffix or "(no suffix)"] += 1
        yield from _unreadable_folders(unreadable)


def _unreadable_folders(errors: list[OSError]) -> Iterator[ImageFile]:
    """Folders the walk could not list (no permission, path too long), as failed items."""
    while errors:
        err = errors.pop(0)
        path = os.path.abspath(err.filename or "?")
        yield ImageFile(path, -1, -1, error=f"cannot read folder: {err.strerror or err}")


def _once(item: ImageFile, seen: set[str] | None) -> Iterator[ImageFile]:
    if seen is None or item.path not in seen:
        if seen is not None:
            seen.add(item.path)
        yield item


def _stat(path: str, segment: str | None = None) -> ImageFile:
    real = canonical_path(path)
    found = path if real != path else None
    try:
        st = os.stat(real)
    except OSError:  # recorded as unreadable by the decoder
        return ImageFile(real, -1, -1, segment=segment, found=found)
    return ImageFile(real, st.st_size, st.st_mtime_ns, segment=segment, found=found)


def is_video(item: ImageFile) -> bool:
    """True for a video file or archive member (by suffix; never a TSV row, whatever its key)."""
    if item.source is not None and '"tsv"' in item.source:
        return False
    return is_video_name(item.path)


def is_video_name(name: str) -> bool:
    """True for a name (path, key or archive member) with a video suffix."""
    return Path(name.rsplit("/", 1)[-1]).suffix.lower() in VIDEO_SUFFIXES


def is_archive(path: str | Path) -> bool:
    """True for .zip and .tar (optionally compressed) files, by name."""
    name = str(path).lower()
    return name.endswith(ARCHIVE_SUFFIXES)


# -- lists of paths ---------------------------------------------------------------------------


def iter_listed_images(list_file: str | Path) -> Iterator[ImageFile]:
    """Images named in a text file (one path a line, ``#`` comments) or a CSV file (column
    ``path`` if its header has one, else the first column). Relative paths are taken from the
    list's folder; missing files are yielded too, to be recorded as unreadable."""
    list_file = Path(list_file)
    base = list_file.absolute().parent
    with list_file.open(newline="", encoding="utf-8") as handle:
        if list_file.suffix.lower() == ".csv":
            rows = csv.reader(handle)
            first = next(rows, None)
            if first is None:
                return
            has_header = "path" in first
            column = first.index("path") if has_header else 0
            body = rows if has_header else itertools.chain([first], rows)
            entries: Iterable[str] = (row[column] for row in body if len(row) > column)
        else:
            entries = (line.strip() for line in handle)
        for entry in entries:
            entry = entry.strip()
            if entry and not entry.startswith("#"):
                yield _stat(os.path.normpath(base / Path(entry).expanduser()))


# -- archives ---------------------------------------------------------------------------------


def iter_archive(archive: str | Path, segment_from_folder: bool = False) -> Iterator[ImageFile]:
    """Image and video members of a .zip or .tar archive (by suffix, in archive order), with
    their bytes (a video member, like an image, at most ``decode.MAX_IMAGE_BYTES``).

    Tar files are streamed (compressed ones too), so an archive is read once from start to end.
    A member over ``decode.MAX_IMAGE_BYTES`` (declared, or found while reading it in chunks) is
    never read whole: it is recorded as too large. A later member of the same name as an earlier
    one is recorded as a duplicate (key ``archive#name#dupN``, N its position in the archive).
    An archive that cannot be opened or read to its end is recorded as one failed image (key:
    the archive's path), after the members read before the damage.
    """
    archive = os.path.abspath(archive)
    try:
        if archive.lower().endswith(".zip"):
            yield from _zip_members(archive, segment_from_folder)
        else:
            yield from _tar_members(archive, segment_from_folder)
    except Exception as err:  # whatever a damaged or hostile archive raises, the run goes on
        found = _stat(archive)
        error = f"unreadable archive: {_why(err)}"
        yield ImageFile(archive, found.size, found.mtime_ns, error=error)


def _zip_members(archive: str, segment_from_folder: bool) -> Iterator[ImageFile]:
    limit = decode.MAX_IMAGE_BYTES
    first: dict[str, int] = {}
    with zipfile.ZipFile(archive) as zf:
        for number, info in enumerate(zf.infolist()):
            if info.is_dir() or not _is_image_name(info.filename):
                continue
            yield _member(
                archive,
                "zip",
                info.filename,
                number,
                info.file_size,
                _zip_mtime_ns(info),
                lambda info=info: _read_zip_member(zf, info, limit),
                segment_from_folder,
                first,
            )


def _tar_members(archive: str, segment_from_folder: bool) -> Iterator[ImageFile]:
    limit = decode.MAX_IMAGE_BYTES
    first: dict[str, int] = {}
    with tarfile.open(archive, "r|*") as tf:
        for number, member in enumerate(tf):
            if not member.isfile() or not _is_image_name(member.name):
                continue
            yield _member(
                archive,
                "tar",
                member.name,
                number,
                member.size,
                int(member.mtime) * 1_000_000_000,
                lambda member=member: _read_tar_member(tf, member, limit),
                segment_from_folder,
                first,
            )


def _member(
    archive: str,
    kind: str,
    name: str,
    number: int,
    size: int,
    mtime_ns: int,
    read: Callable[[], bytes],
    segment_from_folder: bool,
    first: dict[str, int],
) -> ImageFile:
    """One member as an item; ``first`` maps the names seen so far to their position (one
    entry per image member: an archive's own table of contents is as large)."""
    segment = name.split("/", 1)[0] if segment_from_folder and "/" in name else None
    key = f"{archive}#{name}"
    earlier = first.setdefault(name, number)
    if earlier != number:
        error = f"duplicate member name (first seen as member {earlier})"
        return ImageFile(f"{key}#dup{number}", size, mtime_ns, error=error, segment=segment)
    data, error = None, None
    try:
        data = read()
    except ImageTooLarge as err:  # by its declared size (not read), or found while reading
        error = str(err)
    except Exception as err:  # a damaged member (bad CRC, invalid data, encrypted...)
        error = f"unreadable archive member: {_why(err)}"
    source = json.dumps({kind: archive, "member": name})
    return ImageFile(key, size, mtime_ns, data=data, error=error, segment=segment, source=source)


def _zip_mtime_ns(info: zipfile.ZipInfo) -> int:
    try:
        return int(time.mktime((*info.date_time, 0, 0, -1))) * 1_000_000_000
    except (OverflowError, ValueError):  # a nonsense date in a crafted header
        return 0


def _read_zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise _too_large("archive member", info.file_size, limit)
    with zf.open(info) as stream:
        return read_at_most(stream, limit, "archive member")


def _read_tar_member(tf: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    if member.size > limit:
        raise _too_large("archive member", member.size, limit)
    stream = tf.extractfile(member)
    if stream is None:
        raise OSError(f"{member.name} is not a file")
    with stream:
        return read_at_most(stream, limit, "archive member")


def read_at_most(stream: BinaryIO, limit: int, what: str = "image") -> bytes:
    """All of ``stream``, read ``READ_CHUNK`` bytes at a time; raises ``ImageTooLarge`` as soon
    as it has more than ``limit`` bytes, so whatever a header declares, at most ``limit + 1``
    bytes are ever held."""
    parts: list[bytes] = []
    total = 0
    while chunk := stream.read(min(READ_CHUNK, limit + 1 - total)):
        total += len(chunk)
        if total > limit:
            raise ImageTooLarge(f"{what} too large: over {limit:,} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _too_large(what: str, size: int, limit: int) -> ImageTooLarge:
    return ImageTooLarge(f"{what} too large: {size:,} bytes, the limit is {limit:,}")


def _why(err: Exception) -> str:
    """A short reason for an unexpected exception: its message, with its type when unusual."""
    text = str(err)[:160] or type(err).__name__
    if isinstance(err, zlib.error):
        return f"invalid compressed data ({text})"
    if isinstance(err, (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError)):
        return text
    return f"{type(err).__name__}: {text}"


def _is_image_name(name: str) -> bool:
    """An archive member to index: an image or a video, by suffix (hidden names never)."""
    base = name.rsplit("/", 1)[-1]
    suffix = Path(base).suffix.lower()
    return not base.startswith(".") and (suffix in IMAGE_SUFFIXES or suffix in VIDEO_SUFFIXES)


# -- TSV rows with base64 images --------------------------------------------------------------

Column = int | str


@dataclass(frozen=True, slots=True)
class TsvSpec:
    """How to read a TSV of base64 images; columns by 0-based number (negative: from the end)
    or by header name. ``start``/``end`` restrict data rows to ``start <= row < end`` (row 0 is
    the first row after the header). ``header=None``: a header iff a column is given by name.
    """

    image_column: Column = -1
    key_column: Column | None = None
    segment_column: Column | None = None
    header: bool | None = None
    start: int = 0
    end: int | None = None

    def __post_init__(self) -> None:
        if self.start < 0:
            raise UsageError(f"range start must be >= 0, got {self.start}")
        if self.end is not None and self.end < self.start:
            raise UsageError(f"range end {self.end} is before its start {self.start}")
        named = [c for c in self.columns() if isinstance(c, str)]
        if named and self.header is False:
            raise UsageError(f"column names {named} need a header line (drop --no-header)")

    def columns(self) -> list[Column]:
        return [
            c for c in (self.image_column, self.key_column, self.segment_column) if c is not None
        ]

    @property
    def has_header(self) -> bool:
        if self.header is None:
            return any(isinstance(c, str) for c in self.columns())
        return self.header


def parse_column(text: str) -> Column:
    """``"3"`` -> 3, ``"-1"`` -> -1, ``"image"`` -> ``"image"``."""
    try:
        return int(text)
    except ValueError:
        return text


def parse_range(text: str) -> tuple[int, int | None]:
    """``"100:200"`` -> (100, 200); ``"100:"`` -> (100, None); ``":50"`` -> (0, 50)."""
    start, sep, end = text.partition(":")
    if not sep:
        raise UsageError(f"range must look like START:END (e.g. 0:1000), got {text!r}")
    try:
        return int(start or 0), (int(end) if end else None)
    except ValueError:
        raise UsageError(f"range must be START:END with whole numbers, got {text!r}") from None


@dataclass(slots=True)
class TsvRow:
    """One data row: where its image field is in the file, or why the row is bad.

    ``field`` is a zero-copy view into the file, valid only until the next row is read.
    """

    row: int
    key: str
    offset: int  # byte offset of the image field in the file
    field: memoryview | bytes
    segment: str | None
    error: str | None


def iter_tsv_rows(path: str | Path, spec: TsvSpec) -> Iterator[TsvRow]:
    """Stream the data rows of ``path`` in ``spec.start:spec.end``.

    The file is memory-mapped and scanned with ``find`` (no per-line copies, never loaded as a
    whole), so rows of tens of MB and files of hundreds of GB are fine. An image field longer
    than the base64 of ``decode.MAX_IMAGE_BYTES`` is a bad row ("image too large"). With a key
    column, a row whose key an earlier row of the file has is a bad row too ("duplicate key"),
    under the key ``path#key#dupROW``: the first row of a key wins, in every run.
    """
    path = canonical_path(path)
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            if spec.has_header:
                raise UsageError(f"{path} is empty: no header line")
            return
        mm = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    view = memoryview(mm)
    # key -> first row: one entry per row read (about 100 bytes + the key), a small fraction
    # of the rows' own images; rows without a key column have unique keys and need none
    first: dict[str, int] | None = None if spec.key_column is None else {}
    try:
        for row in _scan_rows(mm, view, path, spec):
            if first is not None and (seen := first.setdefault(row.key, row.row)) != row.row:
                row.error = f"row {row.row}: duplicate key (first seen in row {seen})"
                row.key = f"{path}#{row.key}#dup{row.row}"
            yield row
    finally:
        view.release()
        # a caller may still hold a row's view; the map then closes when that is freed
        with contextlib.suppress(BufferError):
            mm.close()


RELEASE_EVERY = 64 << 20  # bytes of a scanned TSV kept mapped in before they are released
_CAN_RELEASE = hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_DONTNEED")  # not Windows


def _scan_rows(mm: mmap.mmap, view: memoryview, path: str, spec: TsvSpec) -> Iterator[TsvRow]:
    size = len(mm)
    find = mm.find
    pos = 0
    names: list[str] = []
    if spec.has_header:
        end = find(b"\n")
        end = size if end < 0 else end
        names = bytes(view[pos:end]).rstrip(b"\r").decode("utf-8", "replace").split("\t")
        pos = end + 1
    columns: int | None = len(names) if names else None
    positions: tuple[int, int | None, int | None] | None = None
    max_bytes = decode.MAX_IMAGE_BYTES
    max_field = _base64_length(max_bytes)
    row = -1
    released = 0  # pages before this offset were handed back to the kernel
    while pos < size:
        row += 1
        end = find(b"\n", pos)
        if end < 0:
            end = size
        line_start, pos = pos, end + 1
        if line_start - released >= RELEASE_EVERY and _CAN_RELEASE:  # keep resident set small
            upto = line_start - line_start % mmap.PAGESIZE
            mm.madvise(mmap.MADV_DONTNEED, released, upto - released)
            released = upto
        if row < spec.start:
            continue
        if spec.end is not None and row >= spec.end:
            return
        if end > line_start and mm[end - 1] == 13:  # \r\n
            end -= 1
        starts = [line_start]
        tab = find(b"\t", line_start, end)
        while tab >= 0:
            starts.append(tab + 1)
            tab = find(b"\t", tab + 1, end)
        starts.append(end + 1)  # so field i is starts[i] : starts[i + 1] - 1
        count = len(starts) - 1
        if columns is None:
            columns = count
        if positions is None:
            positions = (
                _resolve(spec.image_column, names, columns),
                _resolve(spec.key_column, names, columns),
                _resolve(spec.segment_column, names, columns),
            )
        key = f"{path}#{row}"
        if count != columns:
            error = (
                "empty row"
                if end == line_start
                else f"wrong column count: {count} instead of {columns}"
            )
            yield TsvRow(row, key, line_start, b"", None, f"row {row}: {error}")
            continue
        image_at, key_at, segment_at = positions
        if key_at is not None:
            value = _text(view, starts, key_at)
            if not value:
                yield TsvRow(row, key, line_start, b"", None, f"row {row}: empty key field")
                continue
            key = value
        segment = _text(view, starts, segment_at) or None if segment_at is not None else None
        at = starts[image_at]
        field = view[at : starts[image_at + 1] - 1]
        error = None if len(field) else f"row {row}: empty image field"
        if len(field) > max_field:
            error = f"row {row}: image too large: {len(field):,} base64 characters, the limit is "
            error += f"{max_field:,} ({max_bytes:,} bytes)"
        yield TsvRow(row, key, at, field, segment, error)


def _text(view: memoryview, starts: list[int], index: int) -> str:
    return bytes(view[starts[index] : starts[index + 1] - 1]).decode("utf-8", "replace").strip()


def _resolve(column: Column | None, names: list[str], count: int) -> int | None:
    if column is None:
        return None
    if isinstance(column, str):
        if column not in names:
            raise UsageError(f"no column named {column!r} in the header {names}")
        return names.index(column)
    index = column + count if column < 0 else column
    if not 0 <= index < count:
        raise UsageError(f"column {column} does not exist: rows have {count} columns")
    return index


def _base64_length(size: int) -> int:
    """Characters of the base64 encoding of ``size`` bytes (padded)."""
    return 4 * ((size + 2) // 3)


def decode_base64(field: bytes | memoryview) -> bytes:
    """Strict base64 decoding; raises ``ValueError`` with a reason."""
    try:
        if _b64 is not None:
            return _b64.b64decode(field, validate=True)
        return binascii.a2b_base64(field, strict_mode=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"not base64 ({err})") from None


def iter_tsv(path: str | Path, spec: TsvSpec) -> Iterator[ImageFile]:
    """The rows of a TSV as items to index: decoded image bytes, or the reason a row is bad.

    ``size`` is the length of the base64 field (of the whole row for bad rows) and
    ``mtime_ns`` is 0, so a row is redone only when its content changes length.
    """
    path = canonical_path(path)
    for row in iter_tsv_rows(path, spec):
        source = json.dumps(
            {"tsv": path, "row": row.row, "offset": row.offset, "length": len(row.field)}
        )
        data, error = None, row.error
        if error is None:
            try:
                data = decode_base64(row.field)
            except ValueError as err:
                error = f"row {row.row}: {err}"
        yield ImageFile(
            row.key,
            len(row.field),
            0,
            data=data,
            error=error,
            segment=row.segment,
            source=source,
        )


# Signatures of the formats the decoder reads; enough to tell an image from other bytes.
_MAGIC = (
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"P1",
    b"P2",
    b"P3",
    b"P4",
    b"P5",
    b"P6",
)


def looks_like_image(data: bytes) -> bool:
    """Cheap header check (no decoding): JPEG, PNG, GIF, BMP, TIFF, PNM, WebP, HEIF/AVIF."""
    if data.startswith(_MAGIC):
        return True
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return data[4:8] == b"ftyp"


@dataclass(slots=True)
class DryRun:
    """Counts from reading TSV rows without the face model."""

    rows: int = 0
    images: int = 0
    bad: int = 0
    bytes: int = 0
    seconds: float = 0.0
    reasons: Counter = field(default_factory=Counter)
    samples: list[tuple[str, str]] = field(default_factory=list)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "images": self.images,
            "bad": self.bad,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
            "reasons": dict(self.reasons),
            "samples": self.samples,
        }


def dry_run_tsv(paths: Iterable[str | Path], spec: TsvSpec) -> DryRun:
    """Count rows, decodable images and bad rows (with reasons), without running the model.

    Only base64-decodes each image field and checks the image signature: fast enough for
    millions of rows on one core.
    """
    started = time.perf_counter()
    result = DryRun()
    for path in paths:
        for row in iter_tsv_rows(path, spec):
            result.rows += 1
            result.bytes += len(row.field)
            error = row.error
            if error is None:
                try:
                    if not looks_like_image(decode_base64(row.field)):
                        error = f"row {row.row}: not an image (unknown format)"
                except ValueError as err:
                    error = f"row {row.row}: {err}"
            if error is None:
                result.images += 1
                continue
            result.bad += 1
            result.reasons[_reason_kind(error)] += 1
            if len(result.samples) < 10:
                result.samples.append((row.key, error))
    result.seconds = time.perf_counter() - started
    return result


def _reason_kind(error: str) -> str:
    reason = error.split(": ", 1)[-1]
    return reason.split(":", 1)[0].split(" (", 1)[0]


# -- reading an item back ---------------------------------------------------------------------


def read_source(path: str, source: str | None, max_bytes: int | None = None) -> bytes:
    """The encoded image bytes of a catalog image: its file, or its container item.

    Reads in chunks, never more than ``max_bytes`` (default ``decode.MAX_IMAGE_BYTES``), the
    same bounds as indexing. Raises ``OSError`` when the bytes cannot be read (whatever the
    container's library raised), ``ValueError`` for a damaged locator, and ``ImageTooLarge``
    (a ``ValueError`` and a ``DecodeError``) for an item over the limit. A video still (a
    locator with a ``frame``, see ``faceatlas.video``) is that frame, decoded and JPEG-encoded.
    """
    limit = decode.MAX_IMAGE_BYTES if max_bytes is None else max_bytes
    try:
        return _read_source(path, source, limit)
    except (OSError, ValueError):
        raise
    except (KeyError, TypeError) as err:
        raise ValueError(f"damaged image source {source!r}") from err
    except Exception as err:  # a damaged container: bad CRC, invalid compressed data...
        raise OSError(f"unreadable image source: {_why(err)}") from err


def _read_source(path: str, source: str | None, limit: int) -> bytes:
    if source is None:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise _too_large("file", size, limit)
            return read_at_most(handle, limit, "file")
    where = json.loads(source)
    if "frame" in where:  # a still of a video: the frame, as a JPEG
        from faceatlas.video import read_still

        return read_still(where, limit)
    if "tsv" in where:
        length, max_field = where["length"], _base64_length(limit)
        if length > max_field:
            raise _too_large("TSV image field", length, max_field)
        with open(where["tsv"], "rb") as handle:
            handle.seek(where["offset"])
            field_bytes = handle.read(length)
        return decode_base64(field_bytes)
    name = where["member"]
    if "zip" in where:  # the first member of the name, as indexed
        with zipfile.ZipFile(where["zip"]) as zf:
            for info in zf.infolist():
                if info.filename == name:
                    return _read_zip_member(zf, info, limit)
        raise OSError(f"{name} is not in {where['zip']}")
    if "tar" in where:
        with tarfile.open(where["tar"], "r:*") as tf:
            for member in tf:  # read lazily, up to the first member of the name
                if member.name == name:
                    return _read_tar_member(tf, member, limit)
        raise OSError(f"{name} is not in {where['tar']}")
    raise ValueError(f"unknown image source {source!r}")
