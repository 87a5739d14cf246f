"""``run_photos``, the library call behind `faceatlas run`: index, group, export, in one go."""

from __future__ import annotations

from faceatlas import run_photos
from faceatlas.catalog import Catalog
from faceatlas.index import IndexConfig
from tests.conftest import lfw_people, link_tree


def test_run_photos_indexes_groups_exports_and_reruns_cheaply(tmp_path):
    photos = link_tree(lfw_people(min_images=4, max_people=2, per_person=3), tmp_path / "photos")
    out = tmp_path / "out"
    first = run_photos([photos], out, IndexConfig(workers=1), search_index=False)
    assert first.catalog == out / "faceatlas.db" and first.search is None
    assert first.indexed.processed == 6 and first.indexed.errors == 0
    assert first.clustered.faces == first.indexed.faces >= 4
    assert first.exported.people >= 2 and (out / "manifest.csv").is_file()

    again = run_photos([photos], out, IndexConfig(workers=1), min_faces=1)
    assert again.indexed.processed == 0 and again.indexed.skipped == 6  # nothing new to index
    assert again.search is not None and again.search.error is None
    assert again.exported.unknown_faces == 0  # min_faces=1: every face has a person folder
    with Catalog(again.catalog) as catalog:
        assert catalog.stats()["images"] == 6  # OUT (with its links) was not indexed
