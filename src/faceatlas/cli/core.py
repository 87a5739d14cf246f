"""The backbone commands: index, cluster, export, run, stats."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.cli.options import db_option, echo_json, fail_on, open_catalog, stderr_is_terminal
from faceatlas.faces.dlib_detect import DETECTOR_WINDOW
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.weights import ModelFilesMissing
from faceatlas.index import IndexConfig, IndexSummary, index_paths
from faceatlas.outputs.export import MODES, export_people
from faceatlas.people.cluster import cluster_catalog
from faceatlas.people.methods import DEFAULT_THRESHOLD, METHODS

RUN_CATALOG = "faceatlas.db"

workers_option = click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Worker processes, each loading the model once (0: one per core).",
)
detector_option = click.option(
    "--detector",
    type=click.Choice(sorted(DETECTOR_WINDOW)),
    default="hog",
    show_default=True,
    help="hog: fast, frontal faces. cnn: slower, finds turned and small faces better.",
)
min_face_option = click.option(
    "--min-face",
    type=click.IntRange(min=8),
    default=40,
    show_default=True,
    help="Smallest face side in pixels worth finding. Photos are up- or down-scaled for "
    "detection to match (very large photos are capped, so cost stays bounded).",
)
method_option = click.option(
    "--method",
    type=click.Choice(sorted(METHODS)),
    default="chinese-whispers",
    show_default=True,
    help="Clustering method.",
)
threshold_option = click.option(
    "--threshold",
    type=click.FloatRange(0, 2, min_open=True),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Faces closer than this (Euclidean distance of unit embeddings) may be one person. "
    "Lower: fewer merges of different people; higher: fewer splits of one person.",
)
mode_option = click.option(
    "--mode",
    type=click.Choice(MODES),
    default="symlink",
    show_default=True,
    help="How person folders refer to the originals (originals are never moved).",
)
min_faces_option = click.option(
    "--min-faces",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="People with fewer faces go to the unknown folder.",
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


def _report_index(summary: IndexSummary, catalog: Catalog) -> None:
    click.echo(
        f"indexed {summary.processed} new images ({summary.skipped} already done) in "
        f"{summary.seconds:.1f} s, {summary.images_per_second:.1f} img/s: "
        f"{summary.faces} faces, {summary.no_face} without faces, {summary.errors} errors"
    )
    for path, reason in summary.error_samples:
        click.echo(f"  skipped {path}: {reason}", err=True)
    if summary.errors > len(summary.error_samples):
        click.echo(f"  ... see `faceatlas stats --db {catalog.path}` for all errors", err=True)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@db_option
@workers_option
@detector_option
@min_face_option
@click.option("--retry-errors", is_flag=True, help="Try again images that failed before.")
@quiet_option
@fail_on(ModelFilesMissing, ValueError)
def index(
    paths: tuple[Path, ...],
    db_path: Path,
    workers: int,
    detector: str,
    min_face: int,
    retry_errors: bool,
    quiet: bool,
) -> None:
    """Find, align and embed every face in PATHS (files or folders, recursive).

    Unchanged images already in the catalog are skipped, so an interrupted run simply
    continues. Unreadable files are recorded with their reason and skipped.

    \b
    Example:
      faceatlas index ~/Pictures /mnt/archive --db photos.db --workers 4
    """
    config = IndexConfig(
        model=ModelConfig(detector=detector, min_face=min_face),
        workers=workers,
        retry_errors=retry_errors,
    )
    with open_catalog(db_path) as catalog:
        summary = index_paths(
            catalog, paths, config, show_progress=not quiet and stderr_is_terminal()
        )
        _report_index(summary, catalog)


@main.command()
@db_option
@method_option
@threshold_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@fail_on(ValueError)
def cluster(db_path: Path, method: str, threshold: float, seed: int) -> None:
    """Group the catalog's faces into people (replaces the previous grouping).

    \b
    Example:
      faceatlas cluster --db photos.db --threshold 0.38
    """
    with open_catalog(db_path, must_exist=True) as catalog:
        summary = cluster_catalog(catalog, method=method, threshold=threshold, seed=seed)
    click.echo(
        f"{summary.faces} faces -> {summary.people} people ({summary.singletons} single faces) "
        f"with {summary.method} at threshold {summary.threshold} in {summary.seconds:.1f} s"
    )


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@db_option
@mode_option
@min_faces_option
@fail_on(ValueError, OSError)
def export(out: Path, db_path: Path, mode: str, min_faces: int) -> None:
    """Write OUT/person_0001/ ... (largest first), OUT/unknown/ and OUT/manifest.csv.

    A photo with three people appears in three folders. Running export again replaces what the
    previous export wrote and nothing else.

    \b
    Example:
      faceatlas export people/ --db photos.db --mode copy --min-faces 3
    """
    with open_catalog(db_path, must_exist=True) as catalog:
        if catalog.clustering() is None:
            raise click.ClickException("no people yet; run `faceatlas cluster` first")
        summary = export_people(catalog, out, mode=mode, min_faces=min_faces)
    click.echo(
        f"exported {summary.people} people and {summary.unknown_faces} unknown faces "
        f"({summary.files} files) to {out}; see {out / 'manifest.csv'}"
    )


@main.command()
@click.argument("photos", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@workers_option
@detector_option
@min_face_option
@threshold_option
@mode_option
@min_faces_option
@quiet_option
@fail_on(ModelFilesMissing, ValueError, OSError)
def run(
    photos: tuple[Path, ...],
    out: Path,
    workers: int,
    detector: str,
    min_face: int,
    threshold: float,
    mode: str,
    min_faces: int,
    quiet: bool,
) -> None:
    """Index PHOTOS, group the faces into people and export them to OUT, in one go.

    The catalog is kept in OUT/faceatlas.db, so running again only processes new or changed
    photos and re-exports.

    \b
    Example:
      faceatlas run ~/Pictures people/
    """
    out.mkdir(parents=True, exist_ok=True)
    config = IndexConfig(model=ModelConfig(detector=detector, min_face=min_face), workers=workers)
    with open_catalog(out / RUN_CATALOG) as catalog:
        summary = index_paths(
            catalog, photos, config, exclude=[out], show_progress=not quiet and stderr_is_terminal()
        )
        _report_index(summary, catalog)
        clustered = cluster_catalog(catalog, threshold=threshold)
        exported = export_people(catalog, out, mode=mode, min_faces=min_faces)
    click.echo(
        f"{clustered.faces} faces -> {exported.people} people with {min_faces}+ faces, "
        f"{exported.unknown_faces} unknown faces; folders and manifest.csv in {out}"
    )


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--errors",
    "show_errors",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many failed images to list.",
)
def stats(db_path: Path, as_json: bool, show_errors: int) -> None:
    """Counts: images, faces, people, errors, images per status.

    \b
    Example:
      faceatlas stats --db photos.db --json
    """
    with open_catalog(db_path, must_exist=True) as catalog:
        numbers = catalog.stats()
        numbers["clustering"] = catalog.clustering()
        failures = catalog.errors(limit=show_errors)
    if as_json:
        numbers["error_samples"] = [{"path": p, "reason": r} for p, r in failures]
        echo_json(numbers)
        return
    status = numbers["status"]
    click.echo(
        f"images  {numbers['images']}  (with faces {status['ok']}, "
        f"without {status['no_face']}, errors {status['error']})"
    )
    click.echo(f"faces   {numbers['faces']}")
    click.echo(f"people  {numbers['people']}")
    if numbers["clustering"]:
        c = numbers["clustering"]
        click.echo(f"grouped by {c['method']} {c['params']} at {c['created_at']}")
    for path, reason in failures:
        click.echo(f"error   {path}: {reason}")
