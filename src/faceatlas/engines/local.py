"""Local engine: a pool of worker processes on this machine, each loading the model once.

One task is one item: a photo, or a whole video (its frames sampled, analysed and tracked in
one worker, in order).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import signal
import sys
from collections.abc import Iterable, Iterator

from faceatlas.engines.task import analyze_item
from faceatlas.faces.model import Analyzer, FaceModel
from faceatlas.faces.record import ImageResult
from faceatlas.sources import ImageFile
from faceatlas.video import VideoOptions

_worker_pipeline: Analyzer | None = None
_worker_max_pixels = 0
_worker_video: VideoOptions | None = None


def run_local_items(
    items: Iterable[ImageFile],
    model: FaceModel,
    workers: int,
    max_pixels: int,
    in_flight: int | None = None,
    video: VideoOptions | None = None,
) -> Iterator[list[ImageResult]]:
    """Each item's results (``engines.task.analyze_item``) as it finishes (unordered when
    ``workers`` > 1); ``video``: how videos are sampled.

    ``items`` is consumed lazily in the calling thread, at most ``in_flight`` (default: 8 per
    worker) ahead of the results, so a stream of millions of in-memory images (TSV rows,
    archive members) never piles up in memory.
    """
    model.check_files()
    if workers <= 1:
        pipeline = model.build()
        for item in items:
            yield analyze_item(pipeline, item, max_pixels, video)
        return
    window = in_flight or 8 * workers
    done: queue.SimpleQueue = queue.SimpleQueue()
    # spawn, not fork: the parent runs a progress thread, and forking a threaded process can
    # leave a lock held forever in the child.
    context = multiprocessing.get_context("spawn")
    setup = (model, max_pixels, video)
    with context.Pool(workers, initializer=_init_worker, initargs=setup) as pool:
        iterator = iter(items)
        pending, exhausted = 0, False
        while True:
            while not exhausted and pending < window:
                item = next(iterator, None)
                if item is None:
                    exhausted = True
                    break
                pool.apply_async(_work, (item,), callback=done.put, error_callback=done.put)
                pending += 1
            if pending == 0:
                return
            result = done.get()
            pending -= 1
            if isinstance(result, BaseException):
                raise result
            yield result


def _init_worker(model: FaceModel, max_pixels: int, video: VideoOptions | None) -> None:
    global _worker_pipeline, _worker_max_pixels, _worker_video
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker_pipeline = model.build()
    _worker_max_pixels = max_pixels
    _worker_video = video


def _work(item: ImageFile) -> list[ImageResult]:
    return analyze_item(_worker_pipeline, item, _worker_max_pixels, _worker_video)


def _die_with_parent() -> None:
    """On Linux, have the kernel end this worker if the parent is killed (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
