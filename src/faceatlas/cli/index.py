"""`faceatlas index`: find, align and embed faces into the catalog."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    choice_option,
    count_option,
    db_option,
    model_options,
    open_catalog,
    quiet_option,
    search_index_option,
    show_progress,
    video_options,
    workers_option,
)
from faceatlas.index import ENGINES, IndexConfig, IndexSummary, Inputs, index_inputs
from faceatlas.paths import shown_path
from faceatlas.sources import DryRun, TsvSpec, dry_run_tsv, parse_column, parse_range
from faceatlas.workflow import SearchRefresh, refresh_search_index


def report_index(summary: IndexSummary, db_path: Path) -> None:
    click.echo(
        f"indexed {summary.processed} new images ({summary.skipped} already done) in "
        f"{summary.seconds:.1f} s, {summary.images_per_second:.1f} img/s: "
        f"{summary.faces} faces, {summary.no_face} without faces, {summary.errors} errors"
    )
    if summary.ignored:
        kinds = ", ".join(f"{n} {suffix}" for suffix, n in summary.ignored.most_common())
        click.echo(f"  left out {summary.ignored.total()} files that are not images ({kinds})")
    for path, reason in summary.error_samples:
        click.echo(f"  skipped {shown_path(path)}: {reason}", err=True)
    if summary.errors > len(summary.error_samples):
        click.echo(f"  ... see `faceatlas stats --db {db_path}` for all errors", err=True)


def report_search_index(refresh: SearchRefresh) -> None:
    """What bringing the search index up to date did, in one line (on stderr if it failed)."""
    click.echo(f"search index: {refresh.describe()}", err=refresh.update is None)


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
TSV_COLUMNS = ("image_column", "key_column", "segment_column", "header")  # TsvSpec's fields
TSV_OPTIONS = (
    click.option(
        "--image-column",
        default="-1",
        show_default=True,
        callback=_column,
        metavar="N|NAME",
        help="TSV column with the base64 image: 0-based number (negative from the end) or name.",
    ),
    click.option(
        "--key-column",
        callback=_column,
        metavar="N|NAME",
        help="TSV column with a stable unique id per row, used as the catalog key.",
    ),
    click.option(
        "--segment-column",
        callback=_column,
        metavar="N|NAME",
        help="TSV column with a coarse pre-class; see `faceatlas cluster --per-segment`.",
    ),
    click.option(
        "--header/--no-header",
        default=None,
        help="Whether the TSV's first line names the columns [default: only if a column is "
        "given by name].",
    ),
    click.option(
        "--range",
        "row_range",
        callback=_range,
        metavar="START:END",
        help="Only TSV data rows START <= row < END (either side may be empty, e.g. 1000:).",
    ),
)


def tsv_options(command: Callable) -> Callable:
    """The TSV reading options (--image-column, --key-column, --segment-column, --header,
    --range), handed to ``command`` as one ``tsv_spec: TsvSpec`` argument."""

    @functools.wraps(command)
    def with_spec(*args: Any, row_range: tuple[int, int | None] | None, **kwargs: Any) -> Any:
        columns = {name: kwargs.pop(name) for name in TSV_COLUMNS}
        start, end = row_range or (0, None)
        return command(*args, tsv_spec=TsvSpec(**columns, start=start, end=end), **kwargs)

    for option in reversed(TSV_OPTIONS):  # as if stacked in this order above the command
        with_spec = option(with_spec)
    return with_spec


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
@tsv_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Count TSV rows, decodable images and bad rows (with reasons), without the face "
    "model and without writing the catalog. Fast: base64 and image header only.",
)
@count_option(
    "--chunk-size",
    1000,
    "Streamed rows checked against the catalog at once; memory stays bounded by it. With "
    "--engine ray, one Ray Data wave is this many rows, at least 20,000 (each wave starts the "
    "actor pool once).",
)
@count_option(
    "--commit-every",
    32,
    "Images stored per transaction (or fewer, when 2 s have passed): larger commits cost less "
    "per image, smaller ones redo less work after a crash (docs/bulk.md).",
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
@choice_option(
    "--engine",
    ENGINES,
    "local",
    "local: worker processes on this machine. ray: a Ray cluster (pip install "
    "'faceatlas[ray]'), local unless --address is given.",
)
@click.option(
    "--address",
    "ray_address",
    metavar="auto|HOST:PORT",
    help="Join this Ray cluster (with --engine ray) instead of starting a local one.",
)
@video_options
@search_index_option
@quiet_option
def index(
    paths: tuple[Path, ...],
    db_path: Path,
    tsv_files: tuple[Path, ...],
    tsv_spec: TsvSpec,
    dry_run: bool,
    list_files: tuple[Path, ...],
    segment_from_folder: bool,
    search_index: bool,
    quiet: bool,
    **settings: Any,
) -> None:
    """Find, align and embed every face in PATHS (files, folders, .zip/.tar archives), TSV
    files of base64 images (--tsv) and lists of paths (--list). Videos (.mp4 .mov .m4v .mkv
    .avi .webm) are sampled (--video-fps) and each face tracked through them is one face.

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
      faceatlas index ~/Videos --video-fps 1 --video-max-seconds 600 --db clips.db
      faceatlas index --tsv part-*.tsv --engine ray --address auto --db big.db
    """
    if dry_run:
        if paths or list_files or not tsv_files:
            raise click.UsageError("--dry-run reads TSV files only: give --tsv FILE")
        report_dry_run(dry_run_tsv(tsv_files, tsv_spec))
        return
    if not (paths or tsv_files or list_files):
        raise click.UsageError("nothing to index: give PATHS, --tsv FILE or --list FILE")
    config = IndexConfig(**settings)  # the options named as its fields: --workers, --engine ...
    inputs = Inputs(
        paths=paths,
        tsv=tsv_files,
        lists=list_files,
        tsv_spec=tsv_spec,
        segment_from_folder=segment_from_folder,
    )
    with open_catalog(db_path) as catalog:
        summary = index_inputs(catalog, inputs, config, show_progress=show_progress(quiet))
        report_index(summary, db_path)
        if search_index:
            report_search_index(refresh_search_index(catalog))


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
