"""`faceatlas clean`: keep each identity folder's largest group of one person, list the rest."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    choice_option,
    count_option,
    dataset_db_option,
    echo_json,
    face_set_model,
    face_set_option,
    json_option,
    model_options,
    quiet_option,
    show_progress,
    workers_option,
)
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig
from faceatlas.outputs.audit.clean import (
    BELOW_MINIMUM,
    CLEAN_CATALOG,
    MODES,
    NO_MAJORITY,
    CleanConfig,
    CleanRun,
    clean_dataset,
)


@main.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@count_option(
    "--min-faces",
    5,
    "Keep a folder only when its largest group of one person has at least this many faces.",
)
@choice_option(
    "--mode",
    MODES,
    "copy",
    "How OUT/<identity>/ refers to the kept originals (originals are never changed).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print what would be written and left out; write nothing (the catalog file is not "
    "changed either: missing images are indexed into a temporary copy).",
)
@dataset_db_option
@workers_option
@model_options
@face_set_option
@json_option("Print the summary as one JSON object.")
@quiet_option
def clean(
    dataset_dir: Path,
    out: Path,
    min_faces: int,
    mode: str,
    dry_run: bool,
    db_path: Path | None,
    workers: int,
    model: ModelConfig,
    face_set: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Clean a dataset laid out as DATASET_DIR/<identity>/<image>: per folder, group the faces
    into people and keep only the largest group, written to OUT/<identity>/.

    Everything left out is listed in OUT/removed.csv with its reason (other person, with the
    folder it likely belongs to; outlier; no face; several faces; duplicate; folder below the
    minimum or without a majority). OUT/folders.csv says what happened to each folder,
    OUT/kept.csv lists the files written (a rerun replaces exactly those).

    \b
    Example:
      faceatlas clean lfw/ lfw-clean/ --db lfw.db
      faceatlas clean lfw/ lfw-clean/ --min-faces 10 --mode symlink --dry-run
    """
    config = CleanConfig(min_faces=min_faces, mode=mode)  # checked before any long work
    run = clean_dataset(
        dataset_dir,
        out,
        db_path,
        config,
        IndexConfig(
            model=face_set_model(db_path or out / CLEAN_CATALOG, face_set) or model,
            workers=workers,
        ),
        dry_run=dry_run,
        show_progress=show_progress(quiet),
    )
    indexed = run.indexed
    if indexed is not None and indexed.processed and not quiet:
        click.echo(
            f"indexed {indexed.processed} new images in {indexed.seconds:.1f} s "
            f"({indexed.skipped} already in the catalog)",
            err=True,
        )
    if as_json:
        echo_json(run.summary())
        return
    if dry_run:
        _print_plan(run)
    _print_summary(run)


def _print_plan(run: CleanRun) -> None:
    """Every file a dry run would write and every image it would leave out."""
    plan, dataset = run.plan, run.dataset
    for item in plan.kept:
        click.echo(f"write  {run.target(item)}")
    for removal in plan.removed:
        likely = f" -> {removal.likely_folder}" if removal.likely_folder else ""
        detail = f" ({removal.detail})" if removal.detail else ""
        click.echo(f"remove {dataset.paths[removal.item]}: {removal.reason}{likely}{detail}")


def _print_summary(run: CleanRun) -> None:
    numbers = run.plan.summary()
    verb = "would keep" if run.dry_run else "kept"
    click.echo(
        f"{numbers['images']} images in {numbers['folders']} folders: {verb} "
        f"{numbers['kept_images']} images in {numbers['kept_folders']} folders, left out "
        f"{numbers['removed']}"
    )
    reasons = ", ".join(f"{n} {r}" for r, n in numbers["removed_by_reason"].items() if n)
    if reasons:
        click.echo(f"left out: {reasons}")
    min_faces = run.plan.min_faces
    for status, why in (
        (NO_MAJORITY, "no majority (groups tie)"),
        (BELOW_MINIMUM, f"below {min_faces} faces"),
    ):
        folders = [f.folder for f in run.plan.folders if f.status == status]
        if folders:
            shown = ", ".join(folders[:10]) + (", ..." if len(folders) > 10 else "")
            click.echo(f"{len(folders)} folders left out, {why}: {shown}")
    if run.dry_run:
        click.echo("dry run: nothing written")
    else:
        click.echo(f"written: {run.out}/<identity>/; left out: {run.written['removed.csv']}")
