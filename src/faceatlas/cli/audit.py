"""`faceatlas audit`: find mislabeled, outlier and duplicate images in a labeled dataset."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.index import detector_option, min_face_option, quiet_option, workers_option
from faceatlas.cli.options import echo_json, fail_on, open_catalog, stderr_is_terminal
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.faces.weights import ModelFilesMissing
from faceatlas.index import IndexConfig
from faceatlas.outputs.audit import (
    AuditConfig,
    index_dataset,
    quarantine,
    run_audit,
    scan_dataset,
    undo_quarantine,
    write_audit,
)
from faceatlas.outputs.audit.dataset import file_digests, load_faces

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


@main.command()
@click.argument("dataset_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Catalog file to index into and reuse (default: OUT/faceatlas.db). Links in the "
    "dataset are resolved, so a catalog of the original photos is reused as is.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder for the CSV files, summary.json and report.html.",
)
@click.option(
    "--threshold",
    type=AutoOrFloat(),
    default="auto",
    show_default=True,
    help="Suspect pairs: faces in different folders closer than this distance (unit-vector "
    "Euclidean, like every faceatlas threshold). auto: the dataset's median within-folder "
    "distance.",
)
@click.option(
    "--margin",
    type=AutoOrFloat(),
    default="auto",
    show_default=True,
    help="Mislabeled: the best other folder must beat the own folder by this cosine "
    "similarity. auto: 0.4 x (same-person level - different-people level) of this dataset.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Findings of each kind shown in report.html (the CSV files list all).",
)
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
@detector_option
@min_face_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@quiet_option
@fail_on(ModelFilesMissing, ValueError, OSError)
def audit(
    dataset_dir: Path,
    db_path: Path | None,
    out: Path,
    threshold: float | None,
    margin: float | None,
    top: int,
    apply: tuple[str, Path] | None,
    workers: int,
    detector: str,
    min_face: int,
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
    AuditConfig(threshold=threshold, margin=margin)  # validate before any long work
    db_path = db_path or out / "faceatlas.db"
    dataset = scan_dataset(dataset_dir, exclude=[out])
    config = IndexConfig(model=ModelConfig(detector=detector, min_face=min_face), workers=workers)
    with open_catalog(db_path) as catalog:
        summary = index_dataset(
            catalog, dataset, config, show_progress=not quiet and stderr_is_terminal()
        )
        if summary.processed and not quiet:
            click.echo(
                f"indexed {summary.processed} new images in {summary.seconds:.1f} s "
                f"({summary.skipped} already in {db_path})",
                err=True,
            )
        faces = load_faces(catalog, dataset)
    digests = file_digests(dataset.paths)
    result = run_audit(dataset, faces, digests, AuditConfig(threshold=threshold, margin=margin))
    written = write_audit(result, out, top=top)
    numbers = result.summary()
    if apply is not None:
        moved = quarantine(result, apply[1])
        numbers["quarantined"] = moved.moved
        numbers["quarantine_log"] = str(moved.log)
    if as_json:
        echo_json(numbers)
        return
    click.echo(
        f"{numbers['images']} images in {numbers['folders']} folders: "
        f"{numbers['mislabeled']} possibly mislabeled, {numbers['outliers']} outliers, "
        f"{numbers['duplicates']} duplicates, {numbers['suspect_pairs']} suspect pairs, "
        f"{numbers['no_face']} without a face, {numbers['many_faces']} with several faces"
    )
    if dataset.unlabeled:
        click.echo(f"skipped {len(dataset.unlabeled)} images directly in {dataset_dir} (no folder)")
    if apply is not None:
        click.echo(
            f"moved {numbers['quarantined']} images; undo: faceatlas unquarantine {apply[1]}"
        )
    click.echo(f"report: {written['report.html']}")


@main.command()
@click.argument("quarantine_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@fail_on(ValueError, OSError)
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
