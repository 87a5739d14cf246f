"""`faceatlas cluster`: group the catalog's faces into people."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import db_option, fail_on, open_catalog
from faceatlas.people.cluster import cluster_catalog
from faceatlas.people.methods import DEFAULT_THRESHOLD, METHODS

method_option = click.option(
    "--method",
    type=click.Choice(sorted(METHODS)),
    default="chinese-whispers",
    show_default=True,
    help="Clustering method.",
)
threshold_option = click.option(
    "--threshold",
    type=click.FloatRange(0, 2, min_open=True),
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Faces closer than this (Euclidean distance of unit embeddings) may be one person. "
    "Lower: fewer merges of different people; higher: fewer splits of one person.",
)


@main.command()
@db_option
@method_option
@threshold_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@fail_on(ValueError)
def cluster(db_path: Path, method: str, threshold: float, seed: int) -> None:
    """Group the catalog's faces into people (replaces the previous grouping).

    \b
    Example:
      faceatlas cluster --db photos.db --threshold 0.38
    """
    with open_catalog(db_path, must_exist=True) as catalog:
        summary = cluster_catalog(catalog, method=method, threshold=threshold, seed=seed)
    click.echo(
        f"{summary.faces} faces -> {summary.people} people ({summary.singletons} single faces) "
        f"with {summary.method} at threshold {summary.threshold} in {summary.seconds:.1f} s"
    )
