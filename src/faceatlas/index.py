"""Index images: skip what the catalog already has, run the faces step, commit in batches.

A batch of results is committed in one transaction (image rows with their faces), so a run
killed at any moment leaves every image either fully stored or absent; the next run picks up
exactly the absent ones.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.decode import DEFAULT_MAX_PIXELS
from faceatlas.engines.local import run_local
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.record import ImageResult
from faceatlas.progress import Meter
from faceatlas.sources import ImageFile, iter_image_files


@dataclass(frozen=True, slots=True)
class IndexConfig:
    """How to index; validated once here."""

    model: ModelConfig = field(default_factory=ModelConfig)
    workers: int = 0  # 0: one per core
    max_pixels: int = DEFAULT_MAX_PIXELS
    commit_every: int = 32  # results per transaction
    commit_seconds: float = 2.0  # ... or sooner when this much time has passed
    retry_errors: bool = False

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.commit_every < 1:
            raise ValueError(f"commit_every must be >= 1, got {self.commit_every}")

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


@dataclass(slots=True)
class IndexSummary:
    """What a run did."""

    found: int = 0
    skipped: int = 0
    processed: int = 0
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
    catalog: Catalog, paths: Iterable[str | Path], exclude: Iterable[str | Path] = ()
) -> tuple[list[ImageFile], int]:
    """(images not yet in the catalog or changed since, number already done)."""
    known = catalog.known_images()
    todo, skipped = [], 0
    for item in iter_image_files(paths, exclude):
        if known.get(item.path) == (item.size, item.mtime_ns):
            skipped += 1
        else:
            todo.append(item)
    return todo, skipped


def index_paths(
    catalog: Catalog,
    paths: Iterable[str | Path],
    config: IndexConfig | None = None,
    exclude: Iterable[str | Path] = (),
    show_progress: bool = False,
) -> IndexSummary:
    """Index every image under ``paths`` into ``catalog``; returns counts for this run."""
    config = config or IndexConfig()
    started = time.monotonic()
    if config.retry_errors:
        catalog.forget_errors()
    todo, skipped = pending_images(catalog, paths, exclude)
    summary = IndexSummary(found=len(todo) + skipped, skipped=skipped)
    workers = min(config.worker_count, max(1, len(todo)))
    batch: list[ImageResult] = []
    last_commit = time.monotonic()
    with Meter(len(todo), "indexing", enabled=show_progress) as meter:
        for result in run_local(todo, config.model, workers, config.max_pixels):
            batch.append(result)
            summary.add(result)
            meter.advance(faces=summary.faces, errors=summary.errors)
            now = time.monotonic()
            if len(batch) >= config.commit_every or now - last_commit >= config.commit_seconds:
                catalog.add_results(batch)
                batch, last_commit = [], now
        catalog.add_results(batch)
    summary.seconds = time.monotonic() - started
    return summary
