"""``run_photos``, the library call behind `faceatlas run`: index, group, export, in one go."""

from __future__ import annotations

import pytest

from faceatlas import run_photos
from faceatlas.catalog import Catalog
from faceatlas.errors import UsageError
from faceatlas.index import IndexConfig
from tests.conftest import lfw_people, link_tree
from tests.fake_model import PALETTE, FakeModel, draw_faces


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


def test_run_refuses_an_out_that_would_mix_results_into_photos(tmp_path):
    photos = tmp_path / "photos"
    for name, colour in (("a.png", PALETTE[0]), ("b.png", PALETTE[0])):
        draw_faces(photos / name, [colour])
    config = IndexConfig(model=FakeModel(), workers=1)
    with pytest.raises(UsageError, match="also one of PHOTOS"):
        run_photos([photos], photos, config)
    with pytest.raises(UsageError, match="holds photos"):  # OUT is a folder of photos
        run_photos([photos / "a.png"], photos, config)
    out = tmp_path / "out"
    run_photos([photos], out, config, search_index=False)
    with pytest.raises(UsageError, match="did you swap PHOTOS and OUT"):
        run_photos([out], tmp_path / "new", config)
    assert not (photos / "faceatlas.db").exists() and not (tmp_path / "new").exists()
