"""Real disks that refuse writes (tmpfs mounts, read-only or full): a read-only catalog can be
read (stats, search, report and export elsewhere); what would write to it, or to a full disk,
fails with one clear line and loses nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from faceatlas.catalog import Catalog
from faceatlas.errors import StorageError
from faceatlas.index import IndexConfig, index_paths
from faceatlas.people.cluster import cluster_catalog
from tests.conftest import faceatlas
from tests.fake_model import PALETTE, FakeModel, draw_faces


def mount_tmpfs(where, size: str) -> None:
    """A fresh tmpfs at ``where``; skips the test where mounting is not allowed."""
    where.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")


def fill(disk, leave: int) -> None:
    """Fill ``disk`` until only about ``leave`` bytes are free."""
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "wb") as handle:
        handle.write(b"\0" * max(0, free - leave))


@pytest.fixture
def read_only_catalog(tmp_path):
    """A grouped catalog (fake model) on a tmpfs mounted read-only; skips where mounting is not
    allowed."""
    photos = tmp_path / "photos"
    for i, who in enumerate([[0], [0], [1], [1, 0]]):
        draw_faces(photos / f"{i}.png", [PALETTE[p] for p in who])
    built = tmp_path / "built.db"
    with Catalog(built) as catalog:
        index_paths(catalog, [photos], IndexConfig(model=FakeModel(), workers=1))
        cluster_catalog(catalog, method="chinese-whispers", threshold=0.1)
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "8m")
    try:
        shutil.copy(built, disk / "c.db")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        yield disk / "c.db"
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_read_only_catalog_is_read_and_refuses_writes_in_one_line(read_only_catalog, tmp_path):
    db = read_only_catalog
    stats = faceatlas("stats", "--db", db)
    assert "faces     5" in stats.stdout and "people    2" in stats.stdout
    found = faceatlas("search", "--face-id", "1", "--db", db, "-k", "2", "--json")
    assert '"distance"' in found.stdout
    faceatlas("export", tmp_path / "people", "--db", db, "--min-faces", "1")
    assert (tmp_path / "people" / "manifest.csv").is_file()
    faceatlas("report", tmp_path / "report", "--db", db)
    assert (tmp_path / "report" / "index.html").is_file()
    refused = faceatlas("cluster", "--db", db, check=False)
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "read-only" in refused.stderr


def test_a_full_disk_stops_indexing_cleanly_and_the_run_resumes_after(tmp_path):
    photos = tmp_path / "photos"
    for i in range(60):
        draw_faces(photos / f"{i:02d}.png", [PALETTE[i % 5], PALETTE[(i + 1) % 5]])
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "4m")
    try:
        db = disk / "c.db"
        config = IndexConfig(model=FakeModel(dim=2048), workers=1, commit_every=4)
        with Catalog(db) as catalog:
            catalog.face_set_for(FakeModel(dim=2048).spec())
        fill(disk, 400 * 1024)  # room for some commits of 8 KB embeddings, not 60 photos
        with Catalog(db) as catalog, pytest.raises(StorageError, match="disk is full"):
            index_paths(catalog, [photos], config)
        with Catalog(db) as catalog:
            assert catalog.integrity_check() == "ok"
            kept = catalog.stats()["images"]
        assert 0 < kept < 60
        refused = faceatlas("index", photos, "--db", db, "-q", "--workers", "1", check=False)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert refused.stderr.count("\n") == 1 and "disk is full" in refused.stderr
        (disk / "filler").unlink()
        with Catalog(db) as catalog:
            resumed = index_paths(catalog, [photos], config)
            assert (resumed.skipped, resumed.processed) == (kept, 60 - kept)
            assert catalog.stats()["faces"] == 120
    finally:
        subprocess.run(["umount", str(disk)], check=False)
