"""Shared fixtures: paths to the real photos in ../shared/data and catalogs built from them once."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test with a message when it is absent."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} (see ../shared/data/README.md)")
    return path


def faceatlas(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run the real ``faceatlas`` command in a subprocess and return its result."""
    result = subprocess.run(
        [sys.executable, "-m", "faceatlas", *map(str, args)],
        capture_output=True, text=True, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"faceatlas {' '.join(map(str, args))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def kill_when_stored(args: list, db: Path, stored: Callable[[Path], int], at_least: int) -> int:
    """Run ``faceatlas *args`` in a process group of its own and kill the group with SIGKILL (the
    process and its workers, like a power cut) once ``stored(db)`` reaches ``at_least``; returns
    what was stored then. Fails if the run ended before."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "faceatlas", *map(str, args)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    count, deadline = 0, time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if db.exists():
            try:
                count = stored(db)
            except sqlite3.OperationalError:
                continue  # busy creating the schema
            if count >= at_least:
                break
    assert proc.poll() is None, "indexing finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return count


def lfw_people(min_images: int, max_people: int, per_person: int | None = None) -> list[Path]:
    """Image paths of LFW people with at least ``min_images`` images (sorted, deterministic)."""
    root = data("lfw")
    chosen = []
    for person in sorted(p for p in root.iterdir() if p.is_dir()):
        images = sorted(person.glob("*.jpg"))
        if len(images) >= min_images:
            chosen.extend(images[:per_person])
            if len({p.parent for p in chosen}) >= max_people:
                break
    return chosen


def link_tree(paths: list[Path], dest: Path, depth: int = 1) -> Path:
    """Symlink ``paths`` into ``dest``, keeping their last ``depth`` parent folders."""
    for path in paths:
        target = dest.joinpath(*path.parts[-1 - depth:])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(path)
    return dest


@pytest.fixture(scope="session")
def people_run(tmp_path_factory) -> Path:
    """`faceatlas run` on people-fr + people-deepface, once per session; returns OUT.

    Treat it as read-only; copy ``OUT/faceatlas.db`` to change it.
    """
    out = tmp_path_factory.mktemp("people_run") / "out"
    faceatlas("run", data("people-fr"), data("people-deepface"), out, "--quiet")
    return out


@pytest.fixture
def people_catalog(people_run, tmp_path) -> Path:
    """A private copy of the people catalog (indexed and clustered) for one test."""
    copy = tmp_path / "people.db"
    shutil.copy(people_run / "faceatlas.db", copy)
    return copy
