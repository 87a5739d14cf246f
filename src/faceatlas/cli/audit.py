"""`faceatlas audit`: find mislabeled, outlier and duplicate images in a labeled dataset."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
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
from faceatlas.outputs.audit import AuditConfig, audit_dataset, undo_quarantine
from faceatlas.outputs.audit.run import AUDIT_CATALOG

DEFAULT_OUT = "faceatlas-audit"


class AutoOrFloat(click.ParamType):
    """``auto`` (None) or a number."""

    name = "auto|NUMBER"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None):
        if value is None or value == "auto":
            return None
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            self.fail(f"expected 'auto' or a number, got {value!r}", param, ctx)


def auto_option(name: str, help: str) -> Callable[[Callable], Callable]:
    """A number option whose default, ``auto`` (None), is calibrated on the dataset."""
    return click.option(name, type=AutoOrFloat(), default="auto", show_default=True, help=help)


@main.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@dataset_db_option
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the CSV files, summary.json and report.html.",
)
@auto_option(
    "--threshold",
    "Suspect pairs: faces in different folders closer than this distance (unit-vector "
    "Euclidean, like every faceatlas threshold). auto: the dataset's median within-folder "
    "distance.",
)
@auto_option(
    "--margin",
    "Mislabeled: the best other folder must beat the own folder by this cosine similarity. "
    "auto: 0.4 x (same-person level - different-people level) of this dataset.",
)
@count_option("--top", 50, "Findings of each kind shown in report.html (the CSV files list all).")
@click.option(
    "--apply",
    type=(click.Choice(["quarantine"]), click.Path(file_okay=False, path_type=Path)),
    default=None,
    metavar="quarantine DIR",
    help="Move the mislabeled images and repeated copies to DIR/<folder>/ and log each move "
    "in DIR/quarantine_log.csv (undo: faceatlas unquarantine DIR). Without it nothing is "
    "moved or deleted.",
)
@workers_option
@model_options
@face_set_option
@json_option("Print the summary as one JSON object.")
@quiet_option
def audit(
    dataset_dir: Path,
    db_path: Path | None,
    out: Path,
    threshold: float | None,
    margin: float | None,
    top: int,
    apply: tuple[str, Path] | None,
    workers: int,
    model: ModelConfig,
    face_set: str | None,
    as_json: bool,
    quiet: bool,
) -> None:
    """Audit a dataset laid out as DATASET_DIR/<identity>/<image>: mislabeled images, outliers,
    duplicates, images without a face or with several.

    Indexes the images (only those the catalog lacks), then writes into OUT: mislabeled.csv,
    outliers.csv, suspect_pairs.csv, duplicates.csv, no_face.csv, many_faces.csv, summary.json
    and report.html (open it in a browser; crops in OUT/report_files/). Every list is ranked,
    most suspicious first.

    \b
    Example:
      faceatlas audit lfw/ --out lfw-audit/ --db lfw.db
      faceatlas audit lfw/ --out lfw-audit/ --apply quarantine lfw-quarantine/
    """
    audit = audit_dataset(
        dataset_dir,
        out,
        db_path,
        AuditConfig(threshold=threshold, margin=margin),  # checked before any long work
        IndexConfig(
            model=face_set_model(db_path or out / AUDIT_CATALOG, face_set) or model,
            workers=workers,
        ),
        top=top,
        quarantine_to=None if apply is None else apply[1],
        show_progress=show_progress(quiet),
    )
    indexed = audit.indexed
    if indexed is not None and indexed.processed and not quiet:
        click.echo(
            f"indexed {indexed.processed} new images in {indexed.seconds:.1f} s "
            f"({indexed.skipped} already in {db_path or out / AUDIT_CATALOG})",
            err=True,
        )
    numbers = audit.summary()
    if as_json:
        echo_json(numbers)
        return
    click.echo(
        f"{numbers['images']} images in {numbers['folders']} folders: "
        f"{numbers['mislabeled']} possibly mislabeled, {numbers['outliers']} outliers, "
        f"{numbers['duplicates']} duplicates, {numbers['suspect_pairs']} suspect pairs, "
        f"{numbers['no_face']} without a face, {numbers['many_faces']} with several faces"
    )
    if audit.dataset.unlabeled:
        skipped = len(audit.dataset.unlabeled)
        click.echo(f"skipped {skipped} images directly in {dataset_dir} (no folder)")
    if apply is not None:
        click.echo(
            f"moved {numbers['quarantined']} images; undo: faceatlas unquarantine {apply[1]}"
        )
    click.echo(f"report: {audit.written['report.html']}")


@main.command()
@click.argument("quarantine_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def unquarantine(quarantine_dir: Path) -> None:
    """Put back every image `faceatlas audit --apply quarantine DIR` moved into DIR.

    Reads DIR/quarantine_log.csv, moves each image back to where it was (newest first) and
    renames the log so it is not replayed twice.

    \b
    Example:
      faceatlas unquarantine lfw-quarantine/
    """
    restored = undo_quarantine(quarantine_dir)
    click.echo(f"restored {restored} images")
