"""Ray engine: the faces step on a Ray cluster (or a local Ray), through Ray Data.

The driver (the ``faceatlas index`` process) streams the inputs exactly as the local engine
does, skips what the catalog already has, and sends each wave of pending items to Ray Data as
small descriptors (key and locator: a file path, a TSV row's byte range, an archive member).
Ray tasks read the bytes where the data lives, and a pool of actors, each loading the model
once, detects and embeds (a video is one task: an actor samples, analyses and tracks it whole,
reading it where it lives). Results stream back to the driver, which commits them in batches
with the same keys, error records and resume behaviour as the local engine.

Needs the optional extra: ``pip install 'faceatlas[ray]'``. Every machine of a cluster must
have faceatlas installed and see the input files at the same paths.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from faceatlas.engines.task import analyze_item
from faceatlas.errors import UsageError
from faceatlas.faces.model import FaceModel
from faceatlas.faces.record import ImageResult
from faceatlas.sources import ImageFile, is_video_name, read_source
from faceatlas.video import VideoOptions

log = logging.getLogger(__name__)

ACTOR_CPUS = 0.9  # an actor per core, leaving a tenth of each core to the read tasks
READ_CPUS = 0.1  # reading is I/O and base64: light, but it must never wait for the actors
MIN_WAVE = 20_000  # items per Ray Data dataset: each wave starts the actor pool once
ACTOR_BATCH = 4  # small batches spread a wave evenly over the actors
READ_BATCH = ACTOR_BATCH  # keeps enough blocks for every actor
COLUMNS = ("path", "size", "mtime_ns", "data", "error", "source")


def import_ray() -> Any:
    """The ``ray`` module, or a clear error saying how to install it."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    try:
        import ray
        import ray.data  # the Data library is a separate extra of ray
    except ImportError as err:
        raise UsageError(
            f"the ray engine needs Ray Data: pip install 'faceatlas[ray]' ({err})"
        ) from err
    return ray


def run_ray_items(
    items: Iterable[ImageFile],
    model: FaceModel,
    *,
    workers: int = 0,
    max_pixels: int,
    address: str | None = None,
    wave: int = MIN_WAVE,
    video: VideoOptions | None = None,
) -> Iterator[list[ImageResult]]:
    """Each item's results (a photo's, or a video's stills and its own), computed by Ray
    actors, unordered; ``video``: how videos are sampled.

    ``address=None`` starts a local Ray with ``workers`` CPUs (0: all cores) for this run and
    stops it afterwards; ``"auto"`` or ``HOST:PORT`` joins a running cluster (``ray start
    --head``), where ``workers`` caps the number of actors (0: one per CPU of the cluster).
    """
    ray = import_ray()
    model.check_files()
    iterator = iter(items)
    first = next(iterator, None)
    if first is None:  # nothing to do: do not start Ray for it
        return
    iterator = itertools.chain([first], iterator)
    started_here = False
    if not ray.is_initialized():
        if address is None:
            ray.init(
                num_cpus=workers or os.cpu_count() or 1,
                include_dashboard=False,
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        started_here = True
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        # a small last wave has fewer blocks than actors: expected, not worth a warning
        warnings.filterwarnings("ignore", message="The minimum number of concurrent actors")
        cpus = int(ray.cluster_resources().get("CPU", 1))
        actors = max(1, min(workers, cpus) if workers and address else cpus)
        log.info("ray: %d CPUs, %d face actors", cpus, actors)
        # descriptors, not items: decoded TSV images are dropped as soon as they are described
        while chunk := [_descriptor(item) for item in itertools.islice(iterator, max(wave, 1))]:
            blocks = min(len(chunk), max(4 * actors, len(chunk) // 64))
            dataset = (
                ray.data.from_items(chunk, override_num_blocks=blocks)
                .map_batches(_read_batch, batch_size=READ_BATCH, num_cpus=READ_CPUS)
                .map_batches(
                    FaceActor,
                    fn_constructor_kwargs={
                        "model": model,
                        "max_pixels": max_pixels,
                        "video": video,
                    },
                    batch_size=ACTOR_BATCH,
                    compute=ray.data.ActorPoolStrategy(size=actors),
                    num_cpus=ACTOR_CPUS,
                )
            )
            for batch in dataset.iter_batches(batch_size=ACTOR_BATCH, batch_format="numpy"):
                for blob in batch["result"]:
                    yield pickle.loads(blob)  # one item's list of results
    finally:
        if started_here:
            ray.shutdown()


def _descriptor(item: ImageFile) -> dict[str, Any]:
    """What a Ray task needs to find the image: bytes travel only when nothing else can.

    Absent values are empty strings and bytes (not None), so every column keeps one type.
    """
    rereadable = item.source is None or '"tar"' not in item.source
    data = b"" if item.data is None or rereadable else item.data
    return {
        "path": item.path,
        "size": item.size,
        "mtime_ns": item.mtime_ns,
        "data": data,
        "error": item.error or "",
        "source": item.source or "",
    }


def _read_batch(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray task: read each image's bytes from its file or container (errors become records)."""
    data, errors = [], []
    for path, blob, error, source in zip(
        batch["path"], batch["data"], batch["error"], batch["source"], strict=True
    ):
        if error or len(blob) or (not source and is_video_name(str(path))):
            data.append(bytes(blob))  # a video file is read where it lives, by the actor
            errors.append(str(error))
            continue
        try:
            data.append(read_source(str(path), str(source) or None))
            errors.append("")
        except (OSError, ValueError) as err:
            data.append(b"")
            errors.append(f"unreadable source: {err}")
    return {**batch, "data": np.array(data, dtype=object), "error": np.array(errors, dtype=object)}


class FaceActor:
    """Ray actor: loads the face model once, then analyses batches of images."""

    def __init__(
        self, model: FaceModel, max_pixels: int, video: VideoOptions | None = None
    ) -> None:
        self.pipeline = model.build()
        self.max_pixels = max_pixels
        self.video = video

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = []
        for path, size, mtime_ns, blob, error, source in zip(
            *(batch[c] for c in COLUMNS), strict=True
        ):
            item = ImageFile(
                str(path),
                int(size),
                int(mtime_ns),
                data=bytes(blob) if len(blob) else None,
                error=str(error) or None,
                source=str(source) or None,
            )
            found = analyze_item(self.pipeline, item, self.max_pixels, self.video)
            results.append(pickle.dumps(found))
        return {"result": np.array(results, dtype=object)}
