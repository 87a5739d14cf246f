"""FastAPI app: upload a photo, get look-alikes; browse people; faces and photos by id only.

The face model is loaded once, when the app is created; so is the search index, which is reopened
(extended, or rebuilt) when another process commits to the catalog, e.g. `faceatlas index` of
more photos. Each request opens its own catalog connection (SQLite connections belong to one
thread). Files are served only by catalog id, never by a path taken from the request.
"""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError

from faceatlas.catalog import Catalog
from faceatlas.catalog.store import FaceRow
from faceatlas.decode import DecodeError, load_rgb
from faceatlas.faces.pipeline import FacePipeline, ModelConfig
from faceatlas.outputs.search import FaceIndex, IndexParams, Match, SearchError, describe
from faceatlas.outputs.thumbs import face_thumbnail
from faceatlas.sources import read_source

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
DEFAULT_MAX_UPLOAD = 20 * 1024 * 1024
MAX_K = 100
SAMPLE_FACES = 6  # faces shown per person on the people page
# the only Pillow decoders uploads may reach (never e.g. EPS, which runs Ghostscript)
IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "HEIF", "AVIF")
CACHE_THUMB = "public, max-age=86400"
CACHE_IMAGE = "private, max-age=3600"


def thumbs_dir_for(db_path: str | Path) -> Path:
    """Where face thumbnails of a catalog are cached: ``<db>.thumbs/`` beside it."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".thumbs")


class Searcher:
    """What the app holds for its lifetime: catalog path, face model, index."""

    def __init__(
        self,
        db_path: Path,
        pipeline: FacePipeline,
        params: IndexParams | None,
        thumbs_dir: Path,
        max_upload: int,
    ) -> None:
        self.db_path = db_path
        self.pipeline = pipeline
        self.params = params
        self.thumbs_dir = thumbs_dir
        self.max_upload = max_upload
        self._model_lock = threading.Lock()  # dlib objects are not documented as thread safe
        self._index_lock = threading.Lock()  # one check or reopen at a time
        # only asks SQLite whether another connection committed since (PRAGMA data_version)
        self._watch = sqlite3.connect(db_path, check_same_thread=False)
        self._seen = self._data_version()
        self._index = self._open_index()

    def _data_version(self) -> int:
        return self._watch.execute("PRAGMA data_version").fetchone()[0]

    def _open_index(self) -> FaceIndex:
        with self.catalog() as catalog:
            return FaceIndex.open(catalog, model=self.pipeline.name, params=self.params)

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

    def thumbnail(self, face: FaceRow) -> Path:
        """The cached thumbnail of ``face`` (safe from several threads at once)."""
        return face_thumbnail(face, self.thumbs_dir)

    @contextmanager
    def catalog(self) -> Iterator[Catalog]:
        with Catalog(self.db_path) as catalog:
            yield catalog

    def search_photo(self, data: bytes, k: int) -> dict:
        """Faces in the uploaded photo, each with its k nearest faces in the catalog."""
        try:
            rgb = load_rgb(data)
        except DecodeError as err:
            raise HTTPException(422, f"cannot read the image: {err}") from err
        with self._model_lock:
            faces = self.pipeline.analyze(rgb)
        hits = self.index.search(np.stack([f.embedding for f in faces]), k) if faces else []
        with self.catalog() as catalog:
            found = [
                {"box": list(face.box), "matches": [match_json(m) for m in describe(catalog, h)]}
                for face, h in zip(faces, hits, strict=True)
            ]
        return {"width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "faces": found}


def face_json(row: FaceRow | Match) -> dict:
    path = row.image_path if isinstance(row, FaceRow) else row.path
    return {
        "face_id": row.face_id,
        "image_id": row.image_id,
        "file": Path(path).name,
        "box": list(row.box),
        "person_id": row.person_id,
        "person": row.person,
        "thumb": f"/api/faces/{row.face_id}/thumb",
        "image": f"/api/images/{row.image_id}",
    }


def match_json(match: Match) -> dict:
    return face_json(match) | {"distance": round(match.distance, 6)}


def parse_id(text: str, what: str) -> int:
    """A catalog id from a URL segment; anything else is simply not found."""
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise HTTPException(404, f"no such {what}")
    return int(text)


def image_format(data: bytes) -> str | None:
    """The Pillow format name of encoded image bytes, trying only the allowed decoders.

    Raises what ``Image.open`` raises for data none of them recognises.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        Image.init()
        known = [name for name in IMAGE_FORMATS if name in Image.OPEN]  # HEIF: plugin
        with Image.open(io.BytesIO(data), formats=known) as image:
            return image.format


def check_image_bytes(data: bytes, content_type: str | None, max_upload: int) -> None:
    """Refuse what is not a photo before decoding it: empty, too big, wrong type."""
    if not data:
        raise HTTPException(400, "empty upload: choose a photo")
    if len(data) > max_upload:
        raise HTTPException(413, f"photo too large: the limit is {max_upload // 2**20} MB")
    if content_type and not content_type.startswith(("image/", "application/octet-stream")):
        raise HTTPException(415, f"not an image upload ({content_type}); send a photo")
    try:
        image_format(data)
    except Image.DecompressionBombError as err:
        raise HTTPException(422, f"cannot read the image: image too large ({err})") from err
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise HTTPException(415, "not an image: send a JPEG, PNG, WebP, GIF, BMP or TIFF") from err


def create_app(
    db_path: str | Path,
    *,
    model: ModelConfig | None = None,
    params: IndexParams | None = None,
    max_upload: int = DEFAULT_MAX_UPLOAD,
    thumbs_dir: str | Path | None = None,
) -> FastAPI:
    """The faceatlas web app for the catalog at ``db_path`` (model and index loaded now)."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise FileNotFoundError(f"no catalog at {db_path}")
    if max_upload < 1:
        raise ValueError(f"max_upload must be >= 1 byte, got {max_upload}")
    pipeline = (model or ModelConfig()).build()
    searcher = Searcher(
        db_path, pipeline, params, Path(thumbs_dir or thumbs_dir_for(db_path)), max_upload
    )
    app = FastAPI(title="faceatlas", summary="Look-alike search over a faceatlas catalog")
    app.state.searcher = searcher

    @app.middleware("http")
    async def refuse_big_bodies(request: Request, call_next):
        """413 before reading the body when the client announces an oversized upload."""
        length = request.headers.get("content-length", "")
        if request.method == "POST" and length.isdigit() and int(length) > max_upload + 2**16:
            return JSONResponse(
                {"detail": f"photo too large: the limit is {max_upload // 2**20} MB"}, 413
            )
        return await call_next(request)

    @app.get("/", include_in_schema=False)
    def home() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/people", include_in_schema=False)
    def people_page() -> FileResponse:
        return FileResponse(STATIC / "people.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.post("/api/search")
    async def search(
        file: Annotated[UploadFile, File(description="a photo (JPEG, PNG, WebP ...)")],
        k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
    ) -> dict:
        """Faces found in the uploaded photo, each with its k most similar catalog faces."""
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
            return {
                "face": face_json(rows[0]),
                "matches": [match_json(m) for m in describe(catalog, hits)],
            }

    @app.get("/api/people")
    def people(
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict:
        """People of the current clustering, largest first, each with a few faces."""
        with searcher.catalog() as catalog:
            everyone = catalog.people()
            page = everyone[offset : offset + limit]
            samples = person_faces(catalog, [p.person_id for p in page], SAMPLE_FACES)
            rows = {r.face_id: r for r in catalog.faces(f for ids in samples.values() for f in ids)}
        return {
            "total": len(everyone),
            "people": [
                {
                    "person_id": p.person_id,
                    "label": p.label,
                    "size": p.size,
                    "faces": [face_json(rows[f]) for f in samples.get(p.person_id, [])],
                }
                for p in page
            ],
        }

    @app.get("/api/people/{person_id}")
    def person(person_id: str) -> dict:
        """One person: all their faces and the photos they appear in."""
        pid = parse_id(person_id, "person")
        with searcher.catalog() as catalog:
            found = [p for p in catalog.people() if p.person_id == pid]
            if not found:
                raise HTTPException(404, "no such person")
            rows = catalog.faces(person_faces(catalog, [pid], None).get(pid, []))
        images = sorted({(r.image_id, Path(r.image_path).name) for r in rows})
        return {
            "person_id": pid,
            "label": found[0].label,
            "size": found[0].size,
            "faces": [face_json(r) for r in rows],
            "images": [
                {"image_id": i, "file": name, "url": f"/api/images/{i}"} for i, name in images
            ],
        }

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
        """The original photo of a catalog image: its file, or its bytes inside the TSV file or
        archive the catalog records for it."""
        iid = parse_id(image_id, "image")
        with searcher.catalog() as catalog:
            path = catalog.image_path(iid)
            source = None if path is None else catalog.image_sources([path])[path][1]
        if path is None:
            raise HTTPException(404, "no such image")
        if source is not None:
            return contained_image(request, path, source)
        if not Path(path).is_file():
            raise HTTPException(404, "the photo is no longer on disk")
        media = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return cached_file(request, Path(path), media, CACHE_IMAGE)

    @app.exception_handler(SearchError)
    async def search_error(request: Request, err: SearchError) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, 409)

    return app


def cached_file(request: Request, path: Path, media_type: str, cache_control: str) -> Response:
    """The file with caching headers, or 304 Not Modified when the client's copy is current."""
    response = FileResponse(
        path, media_type=media_type, headers={"Cache-Control": cache_control},
        stat_result=path.stat(),
    )
    return not_modified(request, response.headers.get("etag"), cache_control) or response


def contained_image(request: Request, path: str, source: str) -> Response:
    """The bytes of an image stored inside a TSV row or an archive member (read only from the
    container the catalog records), typed by sniffing them, with the image caching headers."""
    try:
        data = read_source(path, source)
    except (OSError, ValueError) as err:
        raise HTTPException(404, "the photo can no longer be read from its container") from err
    etag = f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'
    cached = not_modified(request, etag, CACHE_IMAGE)
    if cached is not None:
        return cached
    try:
        media = Image.MIME.get(image_format(data), "application/octet-stream")
    except (Image.DecompressionBombError, UnidentifiedImageError, OSError, ValueError):
        media = "application/octet-stream"
    headers = {"Cache-Control": CACHE_IMAGE, "ETag": etag}
    return Response(data, media_type=media, headers=headers)


def not_modified(request: Request, etag: str | None, cache_control: str) -> Response | None:
    """A 304 answer when the client already holds the version tagged ``etag``, else None."""
    if etag and etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
    return None


def person_faces(
    catalog: Catalog, person_ids: list[int], per_person: int | None
) -> dict[int, list[int]]:
    """Face ids of each person (the first ``per_person`` by face id, or all)."""
    if not person_ids:
        return {}
    marks = ",".join("?" * len(person_ids))
    sql = (
        "SELECT person_id, face_id FROM (SELECT person_id, face_id, ROW_NUMBER() OVER"
        " (PARTITION BY person_id ORDER BY face_id) AS n FROM assignments"
        f" WHERE person_id IN ({marks}))"
    )
    args: list[int] = list(person_ids)
    if per_person is not None:
        sql += " WHERE n <= ?"
        args.append(per_person)
    found: dict[int, list[int]] = {}
    for pid, fid in catalog.conn.execute(sql + " ORDER BY person_id, face_id", args):
        found.setdefault(pid, []).append(fid)
    return found
