"""`faceatlas identify`: name the known people in photos, one line per face, in the format of
face_recognition's command line."""

from __future__ import annotations

import os
from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    MODEL_PARAMETERS,
    db_option,
    face_set_option,
    given_on_command_line,
    model_options,
    open_catalog,
)
from faceatlas.errors import UsageError
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.identify import KnownFaces, PhotoVerdicts, identify_photos
from faceatlas.outputs.search import recorded_model
from faceatlas.paths import shown_path
from faceatlas.people.known import KnownPhoto, read_known_folder
from faceatlas.people.threshold import identification_cut
from faceatlas.sources import iter_image_files

UNKNOWN = "unknown_person"
NO_FACE = "no_persons_found"


def _shown(path: str, relative_roots: list[str]) -> str:
    """``path`` as the user named it: relative to the current folder when found under a PATH
    given as a relative path, as face_recognition prints it."""
    for root in relative_roots:
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return shown_path(os.path.relpath(path))
    return shown_path(path)


def _lines(photo: PhotoVerdicts, shown: str, show_distance: bool) -> list[str]:
    if not photo.verdicts:
        return [f"{shown},{NO_FACE}" + (",None" if show_distance else "")]
    return [
        f"{shown},{verdict.name or UNKNOWN}" + (f",{verdict.distance:.4f}" if show_distance else "")
        for verdict in photo.verdicts
    ]


@main.command()
@click.argument(
    "paths",
    nargs=-1,
    required=True,
    metavar="PATH...",
    type=click.Path(exists=True, path_type=Path),
)
@click.option(
    "--known",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Reference photos: a folder per name (DIR/Grandma/*.jpg), or "
    "files named after the person (DIR/john.jpg, DIR/john_2.jpg). The largest face of "
    "each is that person. Without it, the named people of the catalog (--db).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 2, min_open=True),
    metavar="DISTANCE",
    help="A face is the nearest known person if its distance (Euclidean between unit "
    "embeddings, 0..2) is at most this, else unknown_person.  [default: the model's "
    "same-person cut (0.4 for dlib's ResNet), lowered as the reference faces grow so that a "
    "stranger is named about 5% of the time at most]",
)
@click.option(
    "--show-distance",
    is_flag=True,
    help="Append the distance to the nearest known face to each line.",
)
@click.option(
    "--cpus",
    type=click.IntRange(min=-1),
    default=1,
    show_default=True,
    help="Worker processes analysing the photos, each loading the model once (-1: one per core).",
)
@db_option
@face_set_option
@model_options
def identify(
    paths: tuple[Path, ...],
    known: Path | None,
    tolerance: float | None,
    show_distance: bool,
    cpus: int,
    db_path: Path,
    face_set: str | None,
    model: ModelConfig,
) -> None:
    """Name the known people in photos: one line per face, PATH,NAME or PATH,unknown_person
    (PATH,no_persons_found for a photo without a face), in input order.

    The format of face_recognition's command line, with one name per face: the nearest known
    person within the tolerance. PATHs are photos or folders (read recursively, sorted). The
    reference faces are the photos of --known DIR (analysed with the model options), or every
    face of the people named in the catalog (analysed with the model that made them). The
    tolerance used is printed on stderr, and so is every photo that cannot be read.

    \b
    Examples:
      faceatlas identify unknown_pictures/ --known known_people/
      faceatlas identify party/ --known known_people/ --show-distance --cpus -1
      faceatlas identify new.jpg --db photos.db
    """
    if cpus == 0:
        raise UsageError("--cpus: give a number of processes, or -1 for one per core")
    workers = (os.cpu_count() or 1) if cpus == -1 else cpus
    if known is not None:
        catalog_flags = given_on_command_line(("db_path", "face_set"))
        if catalog_flags:
            raise UsageError(f"--known replaces the catalog; drop {catalog_flags[0]} or --known")
        references: KnownFaces | list[KnownPhoto] = read_known_folder(known)
        spec = model.spec()
        count = len(references)  # photos: at most one reference face each
    else:
        model_flags = given_on_command_line(MODEL_PARAMETERS)
        if model_flags:
            raise UsageError(
                f"{model_flags[0]}: a catalog's faces are compared with the model that made "
                "them; give reference photos with --known DIR to choose a model"
            )
        with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
            model = recorded_model(catalog)
            references = KnownFaces.from_catalog(catalog)
            spec, count = catalog.face_set.spec, len(references.names)
    if tolerance is None:
        tolerance = identification_cut(spec.cut, count, spec.embedder)
        how = "" if tolerance == spec.cut else f" {spec.cut:g}, lowered for {count} reference faces"
        click.echo(f"tolerance {tolerance:g} (the model's same-person cut{how})", err=True)
    else:
        click.echo(
            f"tolerance {tolerance:g} (the model's same-person cut is {spec.cut:g})", err=True
        )
    relative_roots = [os.path.abspath(p) for p in paths if not p.is_absolute()]
    results = identify_photos(
        iter_image_files(paths),
        model,
        references,
        tolerance,
        workers,
        warn=lambda message: click.echo(f"warning: {message}", err=True),
    )
    for photo in results:
        shown = _shown(photo.item.found_path, relative_roots)
        if photo.error is not None:
            click.echo(f"warning: {shown}: {photo.error}", err=True)
            continue
        for line in _lines(photo, shown, show_distance):
            click.echo(line)
