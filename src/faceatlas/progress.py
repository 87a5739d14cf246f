"""A progress bar for long work (rich), with rates and running counts; silent when disabled."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Items per second, e.g. ``12.3 img/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} {self.unit}/s" if speed else f"-- {self.unit}/s")


class Meter:
    """``with Meter(total, "indexing") as m: m.advance(faces=..., errors=...)``."""

    def __init__(self, total: int, label: str, enabled: bool = True, unit: str = "img") -> None:
        self.enabled = enabled and total > 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(unit),
            TextColumn("faces {task.fields[faces]}  errors {task.fields[errors]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not self.enabled,
        )
        self._task = self._progress.add_task(label, total=total, faces=0, errors=0)

    def __enter__(self) -> Meter:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, **fields: int) -> None:
        self._progress.update(self._task, advance=1, **fields)


class Laps:
    """Seconds spent in each step of a long call, one lap at a time.

    >>> laps = Laps()
    >>> laps("scan")
    >>> list(laps.seconds)
    ['scan']
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._clock = time.perf_counter()

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = round(now - self._clock, 2)
        self._clock = now
