"""`faceatlas index`: find, align and embed faces into the catalog."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.cli.options import db_option, fail_on, open_catalog, stderr_is_terminal
from faceatlas.faces.dlib_detect import DETECTOR_WINDOW
from faceatlas.faces.pipeline import EMBEDDERS, ModelConfig
from faceatlas.faces.weights import ModelFilesMissing
from faceatlas.index import ENGINES, IndexConfig, IndexSummary, Inputs, index_inputs
from faceatlas.outputs.search import SearchError, update_index
from faceatlas.sources import DryRun, TsvSpec, dry_run_tsv, parse_column, parse_range

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
embedder_option = click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default="onnx",
    show_default=True,
    help="onnx: dlib's face ResNet converted to ONNX, batched (~20x faster). dlib: the same "
    "network run by dlib itself (identical vectors), for comparison.",
)
jitter_option = click.option(
    "--jitter",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Average each face's embedding over N randomly jittered copies of its chip (dlib's "
    "num_jitters; slightly more accurate, about N times slower to embed). 0 or 1: off.",
)
flip_option = click.option(
    "--flip/--no-flip",
    default=True,
    show_default=True,
    help="Average each face's embedding with its mirror image's: fewer errors (LFW verification "
    "98.8 -> 99.2 %) for twice the embedding time (~4 ms a face). --no-flip gives "
    "face_recognition's vectors. Not combined with --jitter, which mirrors copies itself.",
)


def model_options(command: Callable) -> Callable:
    """The face-model options (--detector, --min-face, --embedder, --jitter, --flip), handed to
    ``command`` as one ``model: ModelConfig`` argument."""

    @functools.wraps(command)
    def with_model(
        *args: Any,
        detector: str,
        min_face: int,
        embedder: str,
        jitter: int,
        flip: bool,
        **kwargs: Any,
    ) -> Any:
        model = ModelConfig(
            detector=detector, min_face=min_face, embedder=embedder, jitter=jitter, flip=flip
        )
        return command(*args, model=model, **kwargs)

    options = (detector_option, min_face_option, embedder_option, jitter_option, flip_option)
    for option in reversed(options):  # as if stacked in this order above the command
        with_model = option(with_model)
    return with_model


quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
search_index_option = click.option(
    "--search-index/--no-search-index",
    default=True,
    show_default=True,
    help="At the end, bring the look-alike search index (DB.faiss) up to date: extended by "
    "the new faces, or rebuilt if faces changed. Without it, `search`/`serve` do it when "
    "they start.",
)


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


def report_search_index(catalog: Catalog) -> None:
    """Bring the search index up to date and say what that did, in one line."""
    try:
        click.echo(f"search index: {update_index(catalog).describe()}")
    except SearchError as err:
        click.echo(f"search index: not updated: {err}", err=True)


def _column(ctx: click.Context, param: click.Parameter, value: str | None) -> int | str | None:
    return None if value is None else parse_column(value)


def _range(ctx: click.Context, param: click.Parameter, value: str | None):
    if value is None:
        return None
    try:
        return parse_range(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@db_option
@workers_option
@model_options
@click.option("--retry-errors", is_flag=True, help="Try again images that failed before.")
@click.option(
    "--tsv",
    "tsv_files",
    multiple=True,
    type=existing_file,
    metavar="FILE",
    help="A TSV file whose rows carry a base64-encoded image (repeatable). Streamed, never "
    "loaded whole; a row's key is FILE#ROW (row 0 = first data row) or its --key-column.",
)
@click.option(
    "--image-column",
    default="-1",
    show_default=True,
    callback=_column,
    metavar="N|NAME",
    help="TSV column with the base64 image: 0-based number (negative from the end) or name.",
)
@click.option(
    "--key-column",
    callback=_column,
    metavar="N|NAME",
    help="TSV column with a stable unique id per row, used as the catalog key.",
)
@click.option(
    "--segment-column",
    callback=_column,
    metavar="N|NAME",
    help="TSV column with a coarse pre-class; see `faceatlas cluster --per-segment`.",
)
@click.option(
    "--header/--no-header",
    default=None,
    help="Whether the TSV's first line names the columns [default: only if a column is "
    "given by name].",
)
@click.option(
    "--range",
    "row_range",
    callback=_range,
    metavar="START:END",
    help="Only TSV data rows START <= row < END (either side may be empty, e.g. 1000:).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count TSV rows, decodable images and bad rows (with reasons), without the face "
    "model and without writing the catalog. Fast: base64 and image header only.",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Streamed rows checked against the catalog at once; memory stays bounded by it "
    "(commits happen every 32 images or 2 s regardless). With --engine ray, one Ray Data wave "
    "is this many rows, at least 20,000 (each wave starts the actor pool once).",
)
@click.option(
    "--list",
    "list_files",
    multiple=True,
    type=existing_file,
    metavar="FILE",
    help="A .txt (one path a line) or .csv (column 'path', else the first) list of images.",
)
@click.option(
    "--largest-face-only",
    is_flag=True,
    help="Store only the largest face of each image (the image keeps the count of all).",
)
@click.option(
    "--segment-from-folder",
    is_flag=True,
    help="Each image's segment is its top folder below the given folder (or archive).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="local: worker processes on this machine. ray: a Ray cluster (pip install "
    "'faceatlas[ray]'), local unless --address is given.",
)
@click.option(
    "--address",
    metavar="auto|HOST:PORT",
    help="Join this Ray cluster (with --engine ray) instead of starting a local one.",
)
@search_index_option
@quiet_option
@fail_on(ModelFilesMissing, ValueError, OSError, RuntimeError)
def index(
    paths: tuple[Path, ...],
    db_path: Path,
    workers: int,
    model: ModelConfig,
    retry_errors: bool,
    tsv_files: tuple[Path, ...],
    image_column: int | str,
    key_column: int | str | None,
    segment_column: int | str | None,
    header: bool | None,
    row_range: tuple[int, int | None] | None,
    dry_run: bool,
    chunk_size: int,
    list_files: tuple[Path, ...],
    largest_face_only: bool,
    segment_from_folder: bool,
    engine: str,
    address: str | None,
    search_index: bool,
    quiet: bool,
) -> None:
    """Find, align and embed every face in PATHS (files, folders, .zip/.tar archives), TSV
    files of base64 images (--tsv) and lists of paths (--list).

    Images already in the catalog are skipped, so an interrupted run simply continues where it
    stopped (TSV rows by key, files and members by size and time). Unreadable files and bad TSV
    rows (not base64, not an image, wrong column count, empty) are recorded with their reason
    and skipped. At the end the look-alike search index beside the catalog is brought up to
    date (--no-search-index: left to `faceatlas search`/`serve`).

    \b
    Examples:
      faceatlas index ~/Pictures /mnt/archive --db photos.db --workers 4
      faceatlas index --tsv part-0001.tsv --segment-column 0 --image-column 2 --dry-run
      faceatlas index --tsv part-0001.tsv --segment-column 0 --range 0:100000 --db big.db
      faceatlas index photos.zip --list more.txt --largest-face-only --db photos.db
      faceatlas index --tsv part-*.tsv --engine ray --address auto --db big.db
    """
    start, end = row_range or (0, None)
    spec = TsvSpec(
        image_column=image_column,
        key_column=key_column,
        segment_column=segment_column,
        header=header,
        start=start,
        end=end,
    )
    if dry_run:
        if paths or list_files or not tsv_files:
            raise click.UsageError("--dry-run reads TSV files only: give --tsv FILE")
        report_dry_run(dry_run_tsv(tsv_files, spec))
        return
    if not (paths or tsv_files or list_files):
        raise click.UsageError("nothing to index: give PATHS, --tsv FILE or --list FILE")
    config = IndexConfig(
        model=model,
        workers=workers,
        retry_errors=retry_errors,
        largest_face_only=largest_face_only,
        chunk_size=chunk_size,
        engine=engine,
        ray_address=address,
    )
    inputs = Inputs(
        paths=paths,
        tsv=tsv_files,
        lists=list_files,
        tsv_spec=spec,
        segment_from_folder=segment_from_folder,
    )
    with open_catalog(db_path) as catalog:
        summary = index_inputs(
            catalog, inputs, config, show_progress=not quiet and stderr_is_terminal()
        )
        report_index(summary, catalog)
        if search_index:
            report_search_index(catalog)


def report_dry_run(result: DryRun) -> None:
    click.echo(
        f"dry run: {result.rows} rows, {result.images} images, {result.bad} bad rows in "
        f"{result.seconds:.2f} s ({result.rows_per_second:,.0f} rows/s, "
        f"{result.bytes / max(result.seconds, 1e-9) / 1e6:,.0f} MB/s of base64)"
    )
    for reason, count in sorted(result.reasons.items()):
        click.echo(f"  {count} {reason}")
    for key, error in result.samples:
        click.echo(f"  bad {key}: {error}", err=True)
