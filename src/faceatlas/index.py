"""Index images: skip what the catalog already has, run the faces step, commit in batches.

A batch of results is committed in one transaction (image rows with their faces), so a run
killed at any moment leaves every image either fully stored or absent; the next run picks up
exactly the absent ones.

A video is one item: its stills (frames keeping the faces of its tracks, keys like
``/abs/clip.mp4#t=12.50``) and its own record are committed in one transaction, after the
stills an earlier run left of it are dropped; a run killed mid-video does that video again.

Inputs are folders and files (``index_paths``) and, through ``index_inputs``, also lists of
paths, .zip/.tar archives and TSV files of base64 images. Streamed inputs (TSV rows, archive
members, listed paths) are checked against the catalog in chunks, so millions of rows never
need all their keys in memory.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.decode import DEFAULT_MAX_PIXELS
from faceatlas.engines.local import run_local_items
from faceatlas.errors import UsageError
from faceatlas.faces.model import FaceModel
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import ImageResult, largest_face
from faceatlas.progress import Meter
from faceatlas.sources import (
    ImageFile,
    TsvSpec,
    is_archive,
    is_video,
    iter_archive,
    iter_image_files,
    iter_listed_images,
    iter_tsv,
)
from faceatlas.video import VideoOptions

ENGINES = ("local", "ray")
STREAM_BYTES = 256 * 2**20  # encoded bytes of streamed items held at once while keys are checked


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """How to index; validated once here."""

    model: FaceModel = field(default_factory=ModelConfig)
    workers: int = 0  # 0: one per core
    max_pixels: int = DEFAULT_MAX_PIXELS
    commit_every: int = 32  # results per transaction
    commit_seconds: float = 2.0  # ... or sooner when this much time has passed
    retry_errors: bool = False
    largest_face_only: bool = False  # keep only the largest face (face_count keeps them all)
    chunk_size: int = 1000  # streamed items checked against the catalog at once
    engine: str = "local"
    ray_address: str | None = None  # None: start a local Ray; "auto" or HOST:PORT: join one
    video_fps: float = 2.0  # video frames sampled per second (and one at each cut)
    video_max_seconds: float | None = None  # read only this much of each video (None: all)
    video_tracking: bool = True  # False: every sampled frame's faces stored as a photo's

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise UsageError(f"workers must be >= 0, got {self.workers}")
        if self.commit_every < 1:
            raise UsageError(f"commit_every must be >= 1, got {self.commit_every}")
        if self.chunk_size < 1:
            raise UsageError(f"chunk_size must be >= 1, got {self.chunk_size}")
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}; choose one of {ENGINES}")
        if self.ray_address is not None and self.engine != "ray":
            raise UsageError("a Ray address needs the ray engine (--engine ray)")
        _ = self.video  # validates the video settings

    @property
    def video(self) -> VideoOptions:
        return VideoOptions(
            fps=self.video_fps, max_seconds=self.video_max_seconds, tracking=self.video_tracking
        )

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(slots=True)
class IndexSummary:
    """What a run did."""

    found: int = 0
    skipped: int = 0
    ignored: Counter[str] = field(default_factory=Counter)  # files not images, by suffix
    processed: int = 0  # photos and videos
    videos: int = 0  # of which videos (their faces: one per track)
    faces: int = 0
    no_face: int = 0
    errors: int = 0
    seconds: float = 0.0
    error_samples: list[tuple[str, str]] = field(default_factory=list)

    def add(self, result: ImageResult) -> None:
        self.processed += 1
        self.faces += len(result.faces or [])
        if result.status == "error":
            self.errors += 1
            if len(self.error_samples) < 10:
                self.error_samples.append((result.path, result.error or ""))
        elif result.status == "no_face":
            self.no_face += 1

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0


def pending_images(
    catalog: Catalog,
    paths: Iterable[str | Path],
    exclude: Iterable[str | Path] = (),
    segment_from_folder: bool = False,
    ignored: Counter[str] | None = None,
) -> tuple[list[ImageFile], int]:
    """(images not yet in the catalog or changed since, number already done)."""
    known = catalog.known_images()
    todo, skipped = [], 0
    found = iter_image_files(paths, exclude, segment_from_folder, ignored=ignored, videos=True)
    for item in found:
        if known.get(item.path) == (item.size, item.mtime_ns):
            skipped += 1
        else:
            todo.append(item)
    return todo, skipped


@dataclass(frozen=True, slots=True)
class Inputs:
    """Everything one index run reads. ``paths`` may hold folders, image files and archives."""

    paths: tuple[str | Path, ...] = ()
    tsv: tuple[str | Path, ...] = ()
    lists: tuple[str | Path, ...] = ()
    tsv_spec: TsvSpec = field(default_factory=TsvSpec)
    exclude: tuple[str | Path, ...] = ()
    segment_from_folder: bool = False

    def __post_init__(self) -> None:
        for path in (*self.paths, *self.tsv, *self.lists):
            if not os.path.exists(path):
                raise FileNotFoundError(f"no such file or folder: {path}")


def index_paths(
    catalog: Catalog,
    paths: Iterable[str | Path],
    config: IndexConfig | None = None,
    exclude: Iterable[str | Path] = (),
    show_progress: bool = False,
) -> IndexSummary:
    """Index every image under ``paths`` into ``catalog``; returns counts for this run."""
    return index_inputs(
        catalog, Inputs(paths=tuple(paths), exclude=tuple(exclude)), config, show_progress
    )


def index_inputs(
    catalog: Catalog,
    inputs: Inputs,
    config: IndexConfig | None = None,
    show_progress: bool = False,
) -> IndexSummary:
    """Index everything ``inputs`` names into ``catalog``; returns counts for this run."""
    config = config or IndexConfig()
    started = time.monotonic()
    catalog.face_set_for(config.model.spec())  # reads and writes below: this model's faces
    if config.retry_errors:
        catalog.forget_errors()
    files = [p for p in inputs.paths if not (os.path.isfile(p) and is_archive(p))]
    archives = [p for p in inputs.paths if os.path.isfile(p) and is_archive(p)]
    todo: list[ImageFile] = []
    skipped, ignored = 0, Counter()
    if files:  # folders: one listing, so the progress bar knows the total
        todo, skipped = pending_images(
            catalog, files, inputs.exclude, inputs.segment_from_folder, ignored
        )
    summary = IndexSummary(found=len(todo) + skipped, skipped=skipped, ignored=ignored)
    streamed = itertools.chain(
        (item for path in archives for item in iter_archive(path, inputs.segment_from_folder)),
        (item for path in inputs.lists for item in iter_listed_images(path)),
        (item for path in inputs.tsv for item in iter_tsv(path, inputs.tsv_spec)),
    )
    items = itertools.chain(todo, _pending_stream(catalog, streamed, config.chunk_size, summary))
    total = len(todo)
    if not files and inputs.tsv and not archives and not inputs.lists:
        spec = inputs.tsv_spec
        total = 0 if spec.end is None else (spec.end - spec.start) * len(inputs.tsv)
    _run(catalog, items, config, summary, total, show_progress)
    summary.seconds = time.monotonic() - started
    return summary


def _pending_stream(
    catalog: Catalog, items: Iterable[ImageFile], chunk_size: int, summary: IndexSummary
) -> Iterator[ImageFile]:
    """Items not yet in the catalog (or changed), checking keys ``chunk_size`` at a time.

    A key that came first from another container (a TSV key column repeated across files),
    in the catalog or earlier in this run, is a duplicate: the first wins, the later one is
    recorded as a failed item. Keys of this run are remembered only for keyed rows.
    """
    first_from: dict[str, str | None] = {}  # keyed item -> the container it came from first
    for chunk in _bounded_chunks(items, chunk_size, STREAM_BYTES):
        summary.found += len(chunk)
        known = catalog.known_among([item.path for item in chunk])
        stored = [i.path for i in chunk if i.path in known and _keyed_container(i) is not None]
        if stored:
            for path, (_, source) in catalog.image_sources(stored).items():
                first_from.setdefault(path, _container(source))
        checked, duplicates = [], []
        for item in chunk:
            container = _keyed_container(item)
            if container is not None:
                first = first_from.setdefault(item.path, container)
                if first != container:
                    item = _duplicate(item, first)
                    duplicates.append(item.path)
            checked.append(item)
        chunk = checked
        if duplicates:  # recorded by an earlier run?
            known |= catalog.known_among(duplicates)
        for item in chunk:
            if known.get(item.path) == (item.size, item.mtime_ns):
                summary.skipped += 1
            else:
                yield item


def _bounded_chunks(
    items: Iterable[ImageFile], count: int, budget: int
) -> Iterator[list[ImageFile]]:
    """``items`` in lists of ``count``, cut sooner when their image bytes reach ``budget``."""
    chunk: list[ImageFile] = []
    held = 0
    for item in items:
        chunk.append(item)
        held += len(item.data or b"")
        if len(chunk) >= count or held >= budget:
            yield chunk
            chunk, held = [], 0
    if chunk:
        yield chunk


def _keyed_container(item: ImageFile) -> str | None:
    """The container of an item keyed by a value of its own (a TSV key column), not by its
    place in the container (``container#...``); None for every other item."""
    container = _container(item.source)
    if container is None or item.path.startswith(container + "#"):
        return None
    return container


def _container(source: str | None) -> str | None:
    """The file a container locator points into (TSV file or archive), or None."""
    if source is None:
        return None
    where = json.loads(source)
    return where.get("tsv") or where.get("zip") or where.get("tar")


def _duplicate(item: ImageFile, first: str | None) -> ImageFile:
    """``item`` as a failed item: its key came first from the container ``first``."""
    row = json.loads(item.source).get("row")
    key = f"{_container(item.source)}#{item.path}#dup{row}"
    error = f"duplicate key (first seen in {first})"
    return ImageFile(key, item.size, item.mtime_ns, error=error, segment=item.segment)


def _engine(
    items: Iterable[ImageFile], config: IndexConfig, workers: int
) -> Iterator[list[ImageResult]]:
    """Each item's results: a photo's, or a video's stills followed by its own."""
    if config.engine == "ray":
        from faceatlas.engines.ray import MIN_WAVE, run_ray_items

        return run_ray_items(
            items,
            config.model,
            workers=config.workers,
            max_pixels=config.max_pixels,
            address=config.ray_address,
            wave=max(config.chunk_size, MIN_WAVE),
            video=config.video,
        )
    return run_local_items(items, config.model, workers, config.max_pixels, video=config.video)


def _run(
    catalog: Catalog,
    items: Iterable[ImageFile],
    config: IndexConfig,
    summary: IndexSummary,
    total: int,
    show_progress: bool,
) -> None:
    """Run the engine over ``items`` and commit results with their notes in batches."""
    notes: dict[str, tuple[str | None, str | None]] = {}  # key -> (segment, source), in flight

    def noted(stream: Iterable[ImageFile]) -> Iterator[ImageFile]:
        for item in stream:
            if item.segment is not None or item.source is not None:
                notes[item.path] = (item.segment, item.source)
            yield item

    workers = config.worker_count if total == 0 else min(config.worker_count, max(1, total))
    batch: list[ImageResult] = []
    batch_notes: list[tuple[str, str | None, str | None, int]] = []
    videos: list[ImageResult] = []  # videos in the batch: stills earlier runs left are dropped
    last_commit = time.monotonic()

    def commit() -> None:
        with catalog.atomic():
            for video in videos:
                catalog.forget_stills(video.path, video.size, video.mtime_ns)
            catalog.add_results(batch)
            if batch_notes:
                catalog.annotate_images(batch_notes)

    with Meter(total, "indexing", enabled=show_progress) as meter:
        for *stills, result in _engine(noted(items), config, workers):
            segment, source = notes.pop(result.path, (None, None))
            if stills or is_video(ImageFile(result.path, 0, 0, source=source)):
                videos.append(result)
                summary.videos += 1
            for still in stills:  # frames of a video that keep its tracks' faces
                kept = len(still.faces or [])
                batch_notes.append((still.path, segment, getattr(still, "source", None), kept))
                batch.append(still)
                summary.faces += kept
            detected = len(result.faces or [])
            if config.largest_face_only and detected > 1:
                result.faces = [largest_face(result.faces)]
            if result.status == "error" and source is not None:
                result.error = _with_row(result.error or "", source)
            if segment is not None or source is not None or detected > len(result.faces or []):
                batch_notes.append((result.path, segment, source, detected))
            batch.append(result)
            summary.add(result)
            meter.advance(faces=summary.faces, errors=summary.errors)
            now = time.monotonic()
            if len(batch) >= config.commit_every or now - last_commit >= config.commit_seconds:
                commit()  # between items: a video's results are committed together
                batch, batch_notes, videos, last_commit = [], [], [], now
        if batch:
            commit()


def _with_row(error: str, source: str) -> str:
    """Prefix the TSV row number to a failure found after reading the row (e.g. not an image)."""
    row = json.loads(source).get("row")
    if row is None or error.startswith(f"row {row}: "):
        return error
    return f"row {row}: {error}"
