"""`faceatlas report`: a self-contained HTML report of the people found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    choice_option,
    count_option,
    db_option,
    face_set_option,
    min_faces_option,
    open_catalog,
)
from faceatlas.outputs.report.projection import DEFAULT_LIMITS, MAP_METHODS


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@db_option
@count_option("--max-people", 200, "People with a contact sheet, largest first.")
@count_option(
    "--faces-per-person",
    24,
    "Faces per contact sheet: the most typical two thirds and the least typical third.",
)
@choice_option(
    "--map",
    MAP_METHODS,
    "pca",
    "2-D map of the embeddings: pca (fast), tsne (slower), umap (needs faceatlas[umap]).",
    "map_method",
)
@count_option(
    "--map-limit",
    None,
    "Most faces on the map; above it a random sample is drawn and its size shown. Default: "
    + ", ".join(f"{m} {n:,}" for m, n in DEFAULT_LIMITS.items())
    + ".",
)
@click.option(
    "--labels",
    metavar="folder|FILE",
    help="Known identities, as for `faceatlas eval`: 'folder' (each photo's folder name) or "
    "a CSV 'path,identity'. Adds the scores of `faceatlas eval` and the worst merges and "
    "splits.",
)
@min_faces_option("People with fewer faces count as unknown faces (as in export).")
@count_option("--workers", 0, "Threads cutting face thumbnails (0: one per core).", least=0)
@face_set_option
def report(out_dir: Path, db_path: Path, face_set: str | None, **settings: Any) -> None:
    """Write a self-contained HTML report of the people into OUT_DIR; open OUT_DIR/index.html.

    The report shows the counts and the clustering used, the distribution of people sizes, an
    interactive map of the faces (hover for the face, click for the photo), and one contact
    sheet per person, most typical faces first and least typical last, so wrong members stand
    out. With --labels folder it adds precision/recall and the worst merges and splits.

    It needs no server or network: OUT_DIR holds plotly.min.js, the data and the face
    thumbnails (kept, so the next report is faster); photos are linked by relative path.

    \b
    Example:
      faceatlas report report/ --db photos.db --max-people 50 --map umap
      faceatlas report lfw-report/ --db lfw.db --labels folder
    """
    from faceatlas.outputs.report.writer import ReportConfig, write_report  # lazy: plotly

    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        summary = write_report(catalog, out_dir, ReportConfig(**settings))  # options = fields
    sampled = f" (sample of {summary.faces:,})" if summary.map_points < summary.faces else ""
    click.echo(
        f"report of {summary.faces:,} faces and {summary.people:,} people "
        f"({summary.people_shown:,} with contact sheets, {summary.map_points:,} on the map"
        f"{sampled}) written in {summary.seconds:.1f} s: {summary.index}"
    )
    if summary.unreadable:
        click.echo(f"warning: {summary.unreadable} faces have no thumbnail (photo unreadable)")
    if summary.scores:
        s = summary.scores
        click.echo(
            f"against the labels: pairwise F {s['pairwise_f']:.3f}, "
            f"BCubed F {s['bcubed_f']:.3f}, NMI {s['nmi']:.3f}"
        )
