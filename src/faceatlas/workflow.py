"""Photos to people folders in one call: what ``faceatlas run`` does.

    from faceatlas.workflow import run_photos

    summary = run_photos(["~/Pictures"], "people/")
    print(summary.exported.people, "people in", summary.out)

The catalog is kept in ``OUT/faceatlas.db``, so calling it again only indexes new or changed
photos; their faces join the people that exist (``people.incremental``: numbers, names and the
user's corrections stay), and the folders are exported again. ``plan_run`` says what a run
would do without doing it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from faceatlas.catalog import Catalog
from faceatlas.errors import UsageError
from faceatlas.index import IndexConfig, IndexSummary, index_paths, pending_images
from faceatlas.outputs.export import (
    ExportPlan,
    ExportSummary,
    check_export_settings,
    export_people,
    plan_export,
)
from faceatlas.outputs.search import IndexUpdate, SearchError, update_index
from faceatlas.paths import canonical_path
from faceatlas.people.cluster import AUTO, ClusterSummary, cluster_catalog
from faceatlas.people.incremental import IncrementalSummary, assign_new_faces
from faceatlas.people.known import KnownOutcome, add_known, read_known_folder
from faceatlas.sources import IMAGE_SUFFIXES, is_archive

RUN_CATALOG = "faceatlas.db"


@dataclass(slots=True)
class SearchRefresh:
    """What bringing the look-alike search index up to date did, or why it could not."""

    update: IndexUpdate | None = None
    error: str | None = None  # the index is a cache: a failure is reported, never raised

    def describe(self) -> str:
        return f"not updated: {self.error}" if self.update is None else self.update.describe()


@dataclass(slots=True)
class RunSummary:
    """What ``run_photos`` did, step by step."""

    out: Path
    catalog: Path  # OUT/faceatlas.db
    indexed: IndexSummary
    search: SearchRefresh | None  # None: not asked for
    clustered: ClusterSummary | IncrementalSummary  # a full grouping, or new faces joined
    exported: ExportSummary
    known: list[KnownOutcome] = field(default_factory=list)  # names given from reference photos


@dataclass(slots=True)
class RunPlan:
    """What ``run_photos`` would do (``plan_run``): photos to index, what export would change."""

    to_index: list[str]  # new or changed photos
    done: int  # photos indexed already and unchanged
    archives: list[str] = field(default_factory=list)  # read for their new members
    export: ExportPlan | None = None  # None: no people yet (the run groups them first)


def refresh_search_index(catalog: Catalog) -> SearchRefresh:
    """Bring the search index beside ``catalog`` up to date (``update_index``); a
    ``SearchError`` is returned in the result, as the index is rebuilt on first search anyway."""
    try:
        return SearchRefresh(update=update_index(catalog))
    except SearchError as err:
        return SearchRefresh(error=str(err))


def check_out_folder(photos: Iterable[str | Path], out: Path) -> None:
    """``UsageError`` for an OUT that would mix results into photos: OUT is one of PHOTOS, a
    PHOTOS folder is an earlier OUT (PHOTOS and OUT swapped), or OUT holds photos of its own
    and no catalog."""
    real_out = canonical_path(out)
    for photo in photos:
        if canonical_path(photo) == real_out:
            raise UsageError(f"OUT {out} is also one of PHOTOS: give a separate output folder")
        if Path(photo, RUN_CATALOG).is_file():
            raise UsageError(
                f"{photo} is an output folder of `faceatlas run` (it holds {RUN_CATALOG}); "
                "did you swap PHOTOS and OUT? Usage: faceatlas run PHOTOS... OUT"
            )
    if out.is_dir() and not (out / RUN_CATALOG).exists():
        found = [p.name for p in out.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        if found:
            raise UsageError(
                f"OUT {out} holds photos ({found[0]}, ...) but no {RUN_CATALOG}: give a new or "
                "empty folder (or an earlier OUT). Usage: faceatlas run PHOTOS... OUT"
            )


def run_photos(
    photos: Iterable[str | Path],
    out: str | Path,
    config: IndexConfig | None = None,
    *,
    threshold: float | str = AUTO,
    mode: str = "symlink",
    min_faces: int = 2,
    search_index: bool = True,
    show_progress: bool = False,
    fresh: bool = False,
    known: str | Path | None = None,
) -> RunSummary:
    """Index ``photos`` into ``out/faceatlas.db``, group the faces into people and export them
    to ``out`` (``index_paths``, ``cluster_catalog``, ``export_people``).

    ``out`` itself is never indexed. When the face set has people already, only the new faces
    are grouped, into those people or new ones (``assign_new_faces``; ``threshold`` then
    overrides the last cut); ``fresh`` groups every face again, mapped onto the existing people.
    ``threshold``, ``mode`` and ``min_faces`` are those of
    ``cluster_catalog`` and ``export_people``. Failed photos are recorded, not raised (see
    ``RunSummary.indexed``); a failed search index update is reported in ``search``.

    ``known``: a folder of reference photos of known people (``people.known``); after the
    grouping, each name becomes a named person (``add_known``), before the export.
    """
    out = Path(out)
    photos = list(photos)
    check_out_folder(photos, out)
    references = read_known_folder(known) if known is not None else []
    check_export_settings(mode, min_faces)
    out.mkdir(parents=True, exist_ok=True)
    with Catalog(out / RUN_CATALOG) as catalog:
        indexed = index_paths(catalog, photos, config, exclude=[out], show_progress=show_progress)
        search = refresh_search_index(catalog) if search_index else None
        if fresh or catalog.clustering() is None:
            clustered = cluster_catalog(catalog, threshold=threshold)
        else:
            clustered = assign_new_faces(
                catalog, threshold=None if threshold == AUTO else threshold
            )
        named = add_known(catalog, references, config) if references else []
        exported = export_people(catalog, out, mode=mode, min_faces=min_faces)
    return RunSummary(out, out / RUN_CATALOG, indexed, search, clustered, exported, named)


def plan_run(
    photos: Iterable[str | Path],
    out: str | Path,
    config: IndexConfig | None = None,
    *,
    min_faces: int = 2,
) -> RunPlan:
    """What ``run_photos`` would do, touching nothing (the catalog is opened read-only, and
    not created): the photos it would index and how the export would change OUT now (before
    the new photos' faces are grouped)."""
    out = Path(out)
    photos = list(photos)
    check_out_folder(photos, out)
    check_export_settings("symlink", min_faces)
    config = config or IndexConfig()
    files = [p for p in photos if not (os.path.isfile(p) and is_archive(p))]
    archives = [str(p) for p in photos if os.path.isfile(p) and is_archive(p)]
    db = out / RUN_CATALOG
    if not db.is_file():
        with Catalog(":memory:") as empty:
            todo, done = pending_images(empty, files, exclude=[out])
        return RunPlan([item.path for item in todo], done, archives)
    with Catalog(db, read_only=True) as catalog:
        spec = config.model.spec()
        chosen = next((s for s in catalog.face_sets() if s.spec == spec), None)
        catalog.face_set = chosen  # None: this model has indexed nothing here yet
        todo, done = pending_images(catalog, files, exclude=[out])
        export = (
            plan_export(catalog, out, min_faces)
            if chosen is not None and catalog.clustering() is not None
            else None
        )
    return RunPlan([item.path for item in todo], done, archives, export)
