"""FastAPI app: upload a photo, get look-alikes; browse people; faces and photos by id only.

The face model is loaded once, when the app is created; so is the search index, which is reopened
(extended, or rebuilt) when another process commits to the catalog, e.g. `faceatlas index` of
more photos. Each request opens its own catalog connection (SQLite connections belong to one
thread). Files are served only by catalog id, never by a path taken from the request, and only
for images that decoded when indexed, sniffed again as an image when served.

Against hostile clients: requests must name an allowed ``Host`` (DNS rebinding); bodies are
capped while they stream in (``guard.Guard``); an upload's pixel count is checked from its
header before its pixels are decoded; and at most ``max_decodes`` photos are decoded and run
through the model at once, others wait ``decode_wait`` seconds for a turn and then get 503.
Connection timeouts belong to the server: run the app with ``server.run_server``.

Changes to people (``people_api``) go through :mod:`faceatlas.people.edit`, as the CLI's do.
Before any route reads a request, the guard refuses an unsafe request from another origin, a
write to a ``read_only`` app and, when the app has a ``token``, a write without it
(``guard.WritePolicy``). Pages load nothing from another host (no CDN: ``/docs`` is off; the API
is described in docs/web.md and at ``/openapi.json``).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow, ImageRow
from faceatlas.decode import DecodeError, ImageTooLarge, image_format, load_rgb
from faceatlas.errors import FaceatlasError, NoPeopleYet, StorageError, UsageError
from faceatlas.faces.pipeline import FacePipeline, ModelConfig
from faceatlas.outputs.search import (
    FaceIndex,
    IndexParams,
    SearchError,
    as_exported,
    describe,
    recorded_model,
    verdict,
)
from faceatlas.outputs.thumbs import face_thumbnail, thumbnail_path
from faceatlas.people.suggest import Suggestion, doubtful_people, merge_suggestions
from faceatlas.sources import read_source
from faceatlas.web.guard import LOOPBACK_HOSTS, Guard, WritePolicy
from faceatlas.web.people_api import MAX_SUGGESTIONS, error_status, people_router
from faceatlas.web.shapes import MIN_FACES, face_json, match_json, parse_id

log = logging.getLogger(__name__)
T = TypeVar("T")

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024
DEFAULT_MAX_UPLOAD_PIXELS = 40_000_000  # an upload's decoded RGB is at most ~120 MB
DEFAULT_MAX_IMAGE_BYTES = 64 * 1024 * 1024  # largest original photo /api/images serves
DEFAULT_MAX_DECODES = 2  # photos decoded and analysed at once (uploads and new thumbnails)
DEFAULT_DECODE_WAIT = 5.0  # seconds an upload waits for a decode slot before 503
THUMB_DECODE_WAIT = 30.0  # a thumbnail waits longer: a page asks for dozens at once
BODY_SLACK = 64 * 1024  # multipart framing around the photo
MAX_K = 100
SEARCH_PATH = "/api/search"  # the one unsafe route that changes nothing: open to read-only use
# media types of the formats decode.IMAGE_FORMATS allows (typed from the bytes, never the name)
MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
    "PPM": "image/x-portable-anymap",
}
CACHE_THUMB = "public, max-age=86400"
CACHE_IMAGE = "private, max-age=3600"


def thumbs_dir_for(db_path: str | Path) -> Path:
    """Where face thumbnails of a catalog are cached: ``<db>.thumbs/`` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".thumbs")


class Busy(HTTPException):
    """503: every decode slot stayed taken for the whole wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            503,
            "busy: too many photos are being processed; try again in a few seconds",
            headers={"Retry-After": str(retry_after)},
        )


@dataclass(frozen=True)
class Limits:
    """What one request may cost: upload bytes and pixels, served bytes, decodes at once."""

    max_upload: int = DEFAULT_MAX_UPLOAD
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_decodes: int = DEFAULT_MAX_DECODES
    decode_wait: float = DEFAULT_DECODE_WAIT

    def __post_init__(self) -> None:
        for name in ("max_upload", "max_upload_pixels", "max_image_bytes", "max_decodes"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.decode_wait >= 0:
            raise UsageError(f"decode_wait must be >= 0 seconds, got {self.decode_wait}")

    @property
    def too_large(self) -> str:
        return f"photo too large: the limit is {self.max_upload / 2**20:g} MB"


class Searcher:
    """What the app holds for its lifetime: catalog path, face model, index, limits; one
    catalog connection per request, and one write at a time."""

    def __init__(
        self,
        db_path: Path,
        face_set: str,
        pipeline: FacePipeline,
        params: IndexParams | None,
        thumbs_dir: Path,
        limits: Limits,
    ) -> None:
        self.db_path = db_path
        self.face_set = face_set  # every catalog connection reads this face set's faces
        self.pipeline = pipeline
        self.params = params
        self.thumbs_dir = thumbs_dir
        self.limits = limits
        self._model_lock = threading.Lock()  # dlib objects are not documented as thread safe
        self._index_lock = threading.Lock()  # one check or reopen at a time
        self._write_lock = threading.Lock()  # one change to people at a time
        self._cache_lock = threading.Lock()
        self._cached: dict[str, tuple[int, object]] = {}  # name -> (data version, value)
        self._decode_slots = threading.BoundedSemaphore(limits.max_decodes)
        # One long-lived catalog connection asks SQLite whether another connection committed
        # since (its data_version is per connection); it lives on one thread of its own, as
        # SQLite connections are used from the thread that opened them.
        self._watcher = ThreadPoolExecutor(1, thread_name_prefix="faceatlas-watch")
        self._watch: Catalog = self._watcher.submit(self._open_catalog).result()
        self._seen = self._data_version()
        self._index = self._open_index()
        self.cut = self._watch.face_set.spec.cut  # the model's "same person" distance
        self.read_only = self._watch.read_only  # the catalog file cannot be written

    def _data_version(self) -> int:
        return self._watcher.submit(self._watch.data_version).result()

    def close(self) -> None:
        """Close the watch connection (the app's shutdown)."""
        self._watcher.submit(self._watch.close).result()
        self._watcher.shutdown()

    def _open_index(self) -> FaceIndex:
        with self.catalog() as catalog:
            return FaceIndex.open(catalog, params=self.params)

    @property
    def index(self) -> FaceIndex:
        """The search index, refreshed first if the catalog changed since (thread safe).

        The check costs one pragma; a refresh reads only the faces added since when the others
        are unchanged (``FaceIndex.refreshed``), else reopens the index, and requests wait for
        it rather than miss new faces.
        """
        with self._index_lock:
            version = self._data_version()
            if version != self._seen:
                with self.catalog() as catalog:
                    self._index = self._index.refreshed(catalog)
                self._seen = version
                log.info("catalog changed: search index %s", self._index.status)
            return self._index

    @contextmanager
    def decode_slot(self, wait: float | None = None) -> Iterator[None]:
        """Hold one of the ``max_decodes`` slots for decoding and analysing a photo; 503 when
        none frees up within ``wait`` seconds (default ``decode_wait``)."""
        wait = self.limits.decode_wait if wait is None else wait
        if not self._decode_slots.acquire(timeout=wait):
            raise Busy(max(1, math.ceil(wait)))
        try:
            yield
        finally:
            self._decode_slots.release()

    def thumbnail(self, face: FaceRow) -> Path:
        """The cached thumbnail of ``face``, made under a decode slot if it is not cached yet
        (safe from several threads at once)."""
        cached = thumbnail_path(self.thumbs_dir, face.face_id)
        if cached.is_file():
            return cached
        with self.decode_slot(max(self.limits.decode_wait, THUMB_DECODE_WAIT)):
            return face_thumbnail(face, self.thumbs_dir)

    def _open_catalog(self) -> Catalog:
        return Catalog(self.db_path, model=self.face_set)

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        """A connection of this thread, reading the app's face set."""
        with self._open_catalog() as catalog:
            yield catalog

    @contextmanager
    def writing(self) -> Iterator[Catalog]:
        """A connection of this thread for one change to people, while no other change of this
        app runs (``NoPeopleYet`` before the face set is grouped)."""
        with self._write_lock, self.catalog() as catalog:
            if catalog.clustering() is None:
                raise NoPeopleYet()
            yield catalog

    def doubtful(self, catalog: Catalog) -> set[int]:
        """Ids of the people the grouping's quality score flags (reads every grouped face)."""
        return self._computed(
            "doubtful",
            lambda: doubtful_people(catalog) if catalog.clustering() is not None else set(),
        )

    def suggestions(self, catalog: Catalog) -> list[Suggestion]:
        """The merge suggestions, nearest first, up to ``MAX_SUGGESTIONS`` (reads every grouped
        face)."""
        return self._computed(
            "suggestions",
            lambda: [] if catalog.clustering() is None else merge_suggestions(
                catalog, MAX_SUGGESTIONS
            ),
        )  # fmt: skip

    def _computed(self, name: str, compute: Callable[[], T]) -> T:
        """``compute()``, computed again only after the catalog changed since the last time."""
        version = self._data_version()
        with self._cache_lock:
            cached = self._cached.get(name)
            if cached is not None and cached[0] == version:
                return cached[1]  # type: ignore[return-value]
        value = compute()
        with self._cache_lock:
            self._cached[name] = (version, value)
        return value

    def search_photo(self, data: bytes, k: int) -> dict:
        """Faces in the uploaded photo, each with its k nearest faces in the catalog."""
        with self.decode_slot():
            try:
                rgb = load_rgb(data, max_pixels=self.limits.max_upload_pixels)
            except DecodeError as err:
                raise HTTPException(422, f"cannot read the image: {err}") from err
            except Exception as err:  # a crafted file can make any Pillow decoder raise anything
                log.info("upload failed to decode: %r", err)
                raise HTTPException(422, "cannot read the image: corrupt or unsupported") from err
            with self._model_lock:
                faces = self.pipeline.analyze(rgb)
        hits = self.index.search(np.stack([f.embedding for f in faces]), k) if faces else []
        with self.catalog() as catalog:
            described = [describe(catalog, face_hits) for face_hits in hits]
            as_exported(catalog, [m for matches in described for m in matches], MIN_FACES)
        found = [
            {
                "box": list(face.box),
                "name": verdict(matches, self.cut),
                "matches": [match_json(m, self.cut) for m in matches],
            }
            for face, matches in zip(faces, described, strict=True)
        ]
        return {
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "cut": self.cut,
            "faces": found,
        }


def media_type(fmt: str) -> str:
    return MEDIA_TYPES.get(fmt) or Image.MIME.get(fmt) or "application/octet-stream"


def check_image_bytes(data: bytes, content_type: str | None, max_upload: int) -> None:
    """Refuse what is not a photo before decoding it: empty, too big, wrong type."""
    if not data:
        raise HTTPException(400, "empty upload: choose a photo")
    if len(data) > max_upload:
        raise HTTPException(413, f"photo too large: the limit is {max_upload / 2**20:g} MB")
    if content_type and not content_type.startswith(("image/", "application/octet-stream")):
        raise HTTPException(415, f"not an image upload ({content_type}); send a photo")
    try:
        image_format(data)
    except ImageTooLarge as err:
        raise HTTPException(422, f"cannot read the image: {err}") from err
    except DecodeError as err:
        raise HTTPException(415, "not an image: send a JPEG, PNG, WebP, GIF, BMP or TIFF") from err


def query_model(
    db_path: Path, face_set: str | None, model: ModelConfig | None
) -> tuple[str, ModelConfig]:
    """The face set the app serves (``face_set``, or the catalog's default now, kept for the
    app's life) and the model that embeds uploads as that set's faces were: its recorded spec,
    with only the runtime (embedder runtime, threads, model files) taken from ``model``."""
    runtime = {}
    if model is not None:
        runtime = {
            "embedder": model.embedder,
            "threads": model.threads,
            "models_dir": model.models_dir,
        }
    with Catalog(db_path, model=face_set) as catalog:
        config = recorded_model(catalog, **runtime)
        return catalog.face_set.name, config


def create_app(
    db_path: str | Path,
    *,
    face_set: str | None = None,
    model: ModelConfig | None = None,
    params: IndexParams | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    thumbs_dir: str | Path | None = None,
    allowed_hosts: Iterable[str] | None = None,
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS,
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
    max_decodes: int = DEFAULT_MAX_DECODES,
    decode_wait: float = DEFAULT_DECODE_WAIT,
    read_only: bool = False,
    token: str | None = None,
) -> FastAPI:
    """The faceatlas web app for the catalog at ``db_path`` (model and index loaded now).

    ``face_set``: the face set to search (default: the catalog's default when the app starts);
    uploads are embedded by the model its spec records (``model`` sets only the runtime).
    ``allowed_hosts``: the names requests may give in ``Host`` (any port; ``*`` for any,
    ``*.example.org`` for subdomains), default loopback only (``guard.allowed_hosts_for(bind)``
    adds the bound address); others get 400. ``max_upload`` bytes and ``max_upload_pixels``
    pixels per uploaded photo; ``max_image_bytes``: largest original ``/api/images`` serves;
    ``max_decodes`` photos decoded and analysed at once, waiting ``decode_wait`` seconds for a
    turn before 503.

    Changes to people: only from this server's own pages or from clients that send no
    ``Origin``/``Referer`` (403 otherwise); none when ``read_only`` or when the catalog file
    cannot be written (403; search still works); with a ``token`` (see ``guard.check_token``),
    only with ``Authorization: Bearer <token>`` (401 otherwise).
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"no catalog at {db_path}")
    limits = Limits(max_upload, max_upload_pixels, max_image_bytes, max_decodes, decode_wait)
    hosts = list(LOOPBACK_HOSTS if allowed_hosts is None else allowed_hosts)
    if not hosts:
        raise UsageError("allowed_hosts must name at least one host")
    if token is not None and read_only:
        token = None  # nothing to unlock
    face_set, config = query_model(db_path, face_set, model)
    searcher = Searcher(
        db_path,
        face_set,
        config.build(),
        params,
        Path(thumbs_dir or thumbs_dir_for(db_path)),
        limits,
    )
    if searcher.read_only and not read_only:
        writes = WritePolicy(
            read_only=True, open_paths=frozenset({SEARCH_PATH}),
            read_only_detail="read-only: the catalog file cannot be written",
        )  # fmt: skip
    else:
        writes = WritePolicy(
            read_only=read_only, token=token, open_paths=frozenset({SEARCH_PATH}),
            read_only_detail="read-only: this server was started with --read-only",
        )  # fmt: skip

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        searcher.close()

    app = FastAPI(
        title="faceatlas",
        summary="Look-alike search and people over a faceatlas catalog (docs/web.md)",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their code from a CDN: nothing offline
        redoc_url=None,
    )
    app.state.searcher = searcher
    app.state.writes = writes
    app.add_middleware(
        Guard,
        allowed_hosts=hosts,
        max_body=max_upload + BODY_SLACK,
        too_large=limits.too_large,
        writes=writes,
    )

    @app.get("/", include_in_schema=False)
    def home() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/people", include_in_schema=False)
    def people_page() -> FileResponse:
        return FileResponse(STATIC / "people.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/info")
    def info() -> dict:
        """What the pages need to know: the face set, its "same person" cut, whether changes
        are off (``read_only``) or need the token, and how many faces and shown people."""
        with searcher.catalog() as catalog:
            faces = catalog.stats()["faces"]
            people = len(catalog.people(hidden=False))
        return {
            "face_set": searcher.face_set,
            "cut": searcher.cut,
            "read_only": writes.read_only,
            "token_required": writes.token_required,
            "faces": faces,
            "people": people,
        }

    @app.post(SEARCH_PATH)
    async def search(
        file: Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP ...)")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    ) -> dict:
        """Faces found in the uploaded photo, each with its k most similar catalog faces
        (``same_person``: within the model's ``cut``) and its verdict (``name``: the person of
        its nearest match if that is within the cut and shown, else null)."""
        data = await file.read(max_upload + 1)
        check_image_bytes(data, file.content_type, max_upload)
        return await run_in_threadpool(searcher.search_photo, data, k)

    @app.get("/api/faces/{face_id}/similar")
    def similar(face_id: str, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10) -> dict:
        """The k catalog faces most similar to catalog face ``face_id``."""
        fid = parse_id(face_id, "face")
        index = searcher.index
        if fid not in index:
            raise HTTPException(404, "no such face")
        hits = index.similar(fid, k)
        with searcher.catalog() as catalog:
            rows = catalog.faces([fid])
            if not rows:
                raise HTTPException(404, "no such face")
            matches = as_exported(catalog, describe(catalog, hits), MIN_FACES)
            return {
                "face": face_json(rows[0]),
                "cut": searcher.cut,
                "matches": [match_json(m, searcher.cut) for m in matches],
            }

    app.include_router(people_router(searcher))

    @app.get("/api/faces/{face_id}/thumb")
    def thumb(face_id: str, request: Request) -> Response:
        """A square JPEG crop of a catalog face (cached)."""
        fid = parse_id(face_id, "face")
        with searcher.catalog() as catalog:
            rows = catalog.faces([fid])
        if not rows:
            raise HTTPException(404, "no such face")
        try:
            path = searcher.thumbnail(rows[0])
        except DecodeError as err:
            raise HTTPException(404, f"the photo of this face cannot be read: {err}") from err
        return cached_file(request, path, "image/jpeg", CACHE_THUMB)

    @app.get("/api/images/{image_id}")
    def image(image_id: str, request: Request) -> Response:
        """The original photo of a catalog image that decoded when indexed: its file, or its
        bytes inside the TSV file or archive the catalog records for it, typed by sniffing."""
        iid = parse_id(image_id, "image")
        with searcher.catalog() as catalog:
            row = catalog.image(iid)
        if row is None or row.status not in ("ok", "no_face"):  # never what failed to decode
            raise HTTPException(404, "no such image")
        return original_image(request, row, limits.max_image_bytes)

    @app.exception_handler(SearchError)
    async def search_error(request: Request, err: SearchError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, 409)

    @app.exception_handler(NoPeopleYet)
    @app.exception_handler(UsageError)
    async def library_error(request: Request, err: FaceatlasError) -> JSONResponse:
        return JSONResponse({"detail": one_line(str(err))}, error_status(err))

    @app.exception_handler(StorageError)
    async def storage_error(request: Request, err: StorageError) -> JSONResponse:
        log.warning("a change could not be written: %s", err)  # its message names the file
        detail = "the catalog cannot be written now (locked, full or read-only); try again"
        return JSONResponse({"detail": detail}, 503, headers={"Retry-After": "5"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_line(err.errors())}, 422)

    return app


def one_line(text: str) -> str:
    return " ".join(text.split())


def validation_line(errors: Iterable[dict]) -> str:
    """FastAPI's validation errors in one line: ``name: Input should be a valid string; ...``."""
    parts = []
    for error in list(errors)[:3]:
        where = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        parts.append(f"{'.'.join(where) or 'body'}: {error.get('msg', 'invalid')}")
    return one_line("; ".join(parts)) or "invalid request"


class Unservable(Exception):
    """The recorded photo cannot be served now (gone, not a regular file, too big, not an
    image); ``str(err)`` says which, for the 404."""


def original_image(request: Request, row: ImageRow, limit: int) -> Response:
    """The bytes of a catalog photo (at most ``limit``), if they still sniff as an allowed
    image format, with its media type and caching headers; 304 when the client's copy is
    current; 404 otherwise. A file is streamed from the descriptor that was checked."""
    try:
        if row.source is None:
            return file_image(request, row.path, limit)
        data = read_contained(row.path, row.source, limit)
        etag = f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'
        cached = not_modified(request, etag, CACHE_IMAGE)
        if cached is not None:
            return cached
        fmt = sniffed(data)
    except Unservable as err:
        raise HTTPException(404, str(err)) from err
    return Response(data, media_type=media_type(fmt), headers=image_headers(etag))


def file_image(request: Request, path: str, limit: int) -> Response:
    """A photo file, if it is a regular file of at most ``limit`` bytes that sniffs as an
    image: streamed (its size as of now) from the descriptor opened and checked here."""
    handle = open_regular(path)
    try:
        info = os.fstat(handle.fileno())
        if info.st_size > limit:
            raise Unservable("the photo is too large to serve")
        etag = f'"{info.st_ino:x}-{info.st_size:x}-{info.st_mtime_ns:x}"'
        cached = not_modified(request, etag, CACHE_IMAGE)
        if cached is not None:
            return cached
        fmt = sniffed(handle)
        headers = image_headers(etag) | {"Content-Length": str(info.st_size)}
        response = StreamingResponse(
            stream_file(handle, info.st_size), media_type=media_type(fmt), headers=headers
        )
        handle = None  # the stream closes it
        return response
    finally:
        if handle is not None:
            handle.close()


def sniffed(source: bytes | io.BufferedReader) -> str:
    """The image format of encoded bytes or a file (header only), else ``Unservable``."""
    try:
        return image_format(source)
    except DecodeError as err:
        raise Unservable("the photo on record is no longer an image") from err


def image_headers(etag: str) -> dict[str, str]:
    return {"Cache-Control": CACHE_IMAGE, "ETag": etag, "X-Content-Type-Options": "nosniff"}


def stream_file(handle: io.BufferedReader, size: int, block: int = 256 * 1024) -> Iterator[bytes]:
    """The first ``size`` bytes of an open file, block by block (never more, should it grow);
    closes it."""
    try:
        handle.seek(0)
        left = size
        while left > 0:
            data = handle.read(min(block, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        handle.close()


def open_regular(path: str) -> io.BufferedReader:
    """``path`` opened for reading if it (or what a link there points to) is a regular file;
    never blocks on a FIFO or device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise Unservable("the photo is no longer on disk") from err
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        raise Unservable("the photo is no longer a file")
    return os.fdopen(fd, "rb")


def read_contained(path: str, source: str, limit: int) -> bytes:
    """The bytes of a TSV row or archive member, at most ``limit`` of them (``read_source``:
    checked against the size its container declares, then while reading)."""
    try:
        return read_source(path, source, max_bytes=limit)
    except ImageTooLarge as err:
        raise Unservable("the photo is too large to serve") from err
    except (OSError, ValueError) as err:
        raise Unservable("the photo can no longer be read from its container") from err


def cached_file(request: Request, path: Path, media_type: str, cache_control: str) -> Response:
    """The file with caching headers, or 304 Not Modified when the client's copy is current."""
    response = FileResponse(
        path,
        media_type=media_type,
        headers={"Cache-Control": cache_control},
        stat_result=path.stat(),
    )
    return not_modified(request, response.headers.get("etag"), cache_control) or response


def not_modified(request: Request, etag: str | None, cache_control: str) -> Response | None:
    """A 304 answer when the client already holds the version tagged ``etag``, else None."""
    if etag and etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
    return None
