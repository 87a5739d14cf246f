"""A catalog on a read-only disk can be read (stats, search, report and export elsewhere); what
would write to it fails with one clear line. The disk is a real read-only tmpfs mount."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig, index_paths
from faceatlas.people.cluster import cluster_catalog
from tests.conftest import faceatlas
from tests.fake_model import PALETTE, FakeModel, draw_faces


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
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
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
