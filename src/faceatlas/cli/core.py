"""The backbone commands that tie the steps together: export, run, stats."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.cluster import threshold_option
from faceatlas.cli.index import (
    model_options,
    quiet_option,
    report_index,
    report_search_index,
    search_index_option,
    workers_option,
)
from faceatlas.cli.options import db_option, echo_json, fail_on, open_catalog, stderr_is_terminal
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.weights import ModelFilesMissing
from faceatlas.index import IndexConfig, index_paths
from faceatlas.outputs.export import MODES, export_people
from faceatlas.people.cluster import cluster_catalog

RUN_CATALOG = "faceatlas.db"

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
@model_options
@threshold_option
@mode_option
@min_faces_option
@search_index_option
@quiet_option
@fail_on(ModelFilesMissing, ValueError, OSError)
def run(
    photos: tuple[Path, ...],
    out: Path,
    workers: int,
    model: ModelConfig,
    threshold: float,
    mode: str,
    min_faces: int,
    search_index: bool,
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
    config = IndexConfig(model=model, workers=workers)
    with open_catalog(out / RUN_CATALOG) as catalog:
        summary = index_paths(
            catalog, photos, config, exclude=[out], show_progress=not quiet and stderr_is_terminal()
        )
        report_index(summary, catalog)
        if search_index:
            report_search_index(catalog)
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
