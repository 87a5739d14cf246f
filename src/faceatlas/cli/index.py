"""`faceatlas index`: find, align and embed faces into the catalog."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.cli.options import db_option, fail_on, open_catalog, stderr_is_terminal
from faceatlas.faces.dlib_detect import DETECTOR_WINDOW
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.weights import ModelFilesMissing
from faceatlas.index import IndexConfig, IndexSummary, index_paths

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
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")


def report_index(summary: IndexSummary, catalog: Catalog) -> None:
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
        report_index(summary, catalog)
