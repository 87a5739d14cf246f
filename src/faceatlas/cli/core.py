"""The backbone commands that tie the steps together: export, run, stats."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.cli.index import report_index, report_search_index
from faceatlas.cli.options import (
    count_option,
    db_option,
    echo_json,
    existing_catalog,
    face_set_option,
    json_option,
    min_faces_option,
    mode_option,
    model_options,
    open_catalog,
    quiet_option,
    search_index_option,
    show_progress,
    threshold_option,
    video_options,
    workers_option,
)
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig
from faceatlas.outputs.export import ExportPlan, export_people, plan_export
from faceatlas.paths import shown_path
from faceatlas.people.known import read_known_folder
from faceatlas.workflow import plan_run, run_photos

dry_run_option = click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be added, removed and renamed in OUT, and touch nothing.",
)


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@db_option
@mode_option
@min_faces_option()
@face_set_option
@dry_run_option
def export(
    out: Path, db_path: Path, mode: str, min_faces: int, face_set: str | None, dry_run: bool
) -> None:
    """Write one folder per person (its name, else person_NNNN), OUT/unknown/ and
    OUT/manifest.csv.

    A photo with three people appears in three folders. Running export again replaces what the
    previous export wrote and nothing else; a person renamed since has its folder renamed.
    Hidden people get no folder.

    \b
    Examples:
      faceatlas export people/ --db photos.db --mode copy --min-faces 3
      faceatlas export people/ --db photos.db --dry-run
    """
    if dry_run:
        with Catalog(existing_catalog(db_path), model=face_set, read_only=True) as catalog:
            _print_plan(plan_export(catalog, out, min_faces))
        return
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
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
@min_faces_option()
@search_index_option
@quiet_option
@click.option(
    "--fresh",
    is_flag=True,
    help="Group every face again (mapped onto the existing people: numbers, names and your "
    "corrections stay) instead of only the new faces.",
)
@dry_run_option
@video_options
@click.option(
    "--known",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Reference photos of known people (DIR/Grandma/*.jpg, or DIR/john.jpg): each name "
    "becomes a named person (see `faceatlas people add-known`).",
)
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
    fresh: bool,
    dry_run: bool,
    video_fps: float,
    video_max_seconds: float | None,
    known: Path | None,
) -> None:
    """Index PHOTOS, group the faces into people and export them to OUT, in one go.

    The catalog is kept in OUT/faceatlas.db, so running again only processes new or changed
    photos: their faces join the people found before (numbers and names stay) or form new
    ones, and the folders are exported again.

    \b
    Examples:
      faceatlas run ~/Pictures people/
      faceatlas run ~/Pictures people/ --dry-run
      faceatlas run ~/Pictures people/ --known known_people/
    """
    config = IndexConfig(
        model=model, workers=workers, video_fps=video_fps, video_max_seconds=video_max_seconds
    )
    if dry_run:
        plan = plan_run(photos, out, config, min_faces=min_faces)
        for path in plan.to_index:
            click.echo(f"index  {shown_path(path)}")
        for path in plan.archives:
            click.echo(f"read   {shown_path(path)} (its new members)")
        click.echo(f"{len(plan.to_index)} photos to index, {plan.done} indexed already")
        if known is not None:
            references = read_known_folder(known)
            names = len({photo.name for photo in references})
            click.echo(f"then {names} known people named from {len(references)} reference photos")
        if plan.export is None:
            click.echo("no people yet: the run groups the faces, then exports every folder")
        else:
            click.echo("export, before the new faces are grouped:")
            _print_plan(plan.export)
        return
    summary = run_photos(
        photos,
        out,
        config,
        threshold=threshold,
        mode=mode,
        min_faces=min_faces,
        search_index=search_index,
        show_progress=show_progress(quiet),
        fresh=fresh,
        known=known,
    )
    report_index(summary.indexed, summary.catalog)
    if summary.search is not None:
        report_search_index(summary.search)
    for outcome in summary.known:
        click.echo(outcome.describe())
    exported = summary.exported
    click.echo(
        f"{summary.clustered.faces} faces -> {exported.people} people with {min_faces}+ faces, "
        f"{exported.unknown_faces} unknown faces; folders and manifest.csv in {out}"
    )


def _print_plan(plan: ExportPlan) -> None:
    for line in plan.describe():
        click.echo(line)


@main.command()
@db_option
@json_option()
@count_option("--errors", 10, "How many failed images to list.", least=0)
@face_set_option
def stats(db_path: Path, as_json: bool, errors: int, face_set: str | None) -> None:
    """Counts of one face set: images, faces, people, errors, images per status; the catalog's
    face sets (one per face model it was indexed with).

    \b
    Example:
      faceatlas stats --db photos.db --json
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        numbers = catalog.stats()
        numbers["face_sets"] = [
            {"name": s.name, "spec": asdict(s.spec)} for s in catalog.face_sets()
        ]
        numbers["clustering"] = catalog.clustering()
        failures = catalog.errors(limit=errors)
    if as_json:
        numbers["error_samples"] = [{"path": p, "reason": r} for p, r in failures]
        echo_json(numbers)
        return
    status = numbers["status"]
    others = [s["name"] for s in numbers["face_sets"] if s["name"] != numbers["face_set"]]
    click.echo(f"face set  {numbers['face_set'] or '(none yet)'}"
               + (f"  (others: {', '.join(others)}; pick one with --model)" if others else ""))
    click.echo(
        f"images    {numbers['images']}  (with faces {status['ok']}, "
        f"without {status['no_face']}, errors {status['error']})"
    )
    click.echo(f"faces     {numbers['faces']}")
    click.echo(f"people    {numbers['people']}")
    if numbers["clustering"]:
        click.echo(f"grouped   {describe_clustering(numbers['clustering'])}")
    for path, reason in failures:
        click.echo(f"error     {shown_path(path)}: {reason}")


def describe_clustering(clustering: dict) -> str:
    """One readable line: method, cut, other settings and when, e.g. ``infomap, cut 0.30, ...``."""
    params = dict(clustering["params"])
    cut = params.pop("threshold", None)
    auto = params.pop("auto", None)
    parts = [clustering["method"]]
    if isinstance(cut, float):
        parts.append(f"cut {cut:.3f}" + (" (auto)" if auto else ""))
    elif cut is not None:
        parts.append(f"cut {cut}")
    parts += [f"{key} {value}" for key, value in sorted(params.items())]
    return ", ".join(parts) + f"; at {clustering['created_at']}"
