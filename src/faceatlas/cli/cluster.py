"""`faceatlas cluster`: group the catalog's faces into people."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    choice_option,
    db_option,
    echo_json,
    face_set_option,
    json_option,
    open_catalog,
    threshold_option,
)
from faceatlas.graph import METHODS as KNN_METHODS
from faceatlas.people.cluster import AUTO, ClusterSummary, cluster_catalog
from faceatlas.people.incremental import IncrementalSummary, assign_new_faces
from faceatlas.people.methods import DEFAULT_K, DEFAULT_METHOD, METHODS
from faceatlas.people.segments import cluster_per_segment


def _option_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(text.lower(), text)


def parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("min_samples=2", "representative=mean")`` -> ``{"min_samples": 2, ...}``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        out[key.strip().replace("-", "_")] = _option_value(value.strip())
    return out


@main.command()
@db_option
@choice_option(
    "--method",
    METHODS,
    DEFAULT_METHOD,
    "Clustering method (see docs/clustering.md for how they compare).",
)
@threshold_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--neighbors",
    type=click.IntRange(1, 1000),
    default=DEFAULT_K,
    show_default=True,
    help="Neighbours per face in the kNN graph (cached beside the catalog).",
)
@choice_option(
    "--knn",
    KNN_METHODS,
    "auto",
    "kNN search: exact, ivf or hnsw (approximate, for very many faces); auto: exact up to "
    "50,000 faces, ivf above.",
)
@click.option(
    "--k",
    "n_clusters",
    type=click.IntRange(min=1),
    help="Number of people, for --method kmeans (required there, refused elsewhere).",
)
@click.option(
    "-o",
    "--option",
    "extra",
    multiple=True,
    metavar="KEY=VALUE",
    help="Method-specific setting, repeatable: e.g. min_samples=2 (dbscan), "
    "representative=mean (leader), rank_threshold=1.6 (rank-order), trials=5 (infomap), "
    "rejoin=0 (infomap: keep the modules as Infomap cut them).",
)
@json_option("Print the summary as one JSON object.")
@click.option(
    "--per-segment",
    is_flag=True,
    help="Cluster inside each segment only (see `faceatlas index --segment-column`): people "
    "never cross segments, and export writes OUT/<segment>/<person>/.",
)
@click.option(
    "--fresh/--incremental",
    default=True,
    show_default=True,
    help="--fresh: group every face again, mapped onto the existing people (numbers, names and "
    "your corrections are kept). --incremental: only faces not grouped yet join the existing "
    "people (or form new ones) at the last grouping's cut and method, as `run` does.",
)
@face_set_option
def cluster(
    db_path: Path,
    method: str,
    threshold: float | str,
    seed: int,
    neighbors: int,
    knn: str,
    n_clusters: int | None,
    extra: tuple[str, ...],
    as_json: bool,
    per_segment: bool,
    fresh: bool,
    face_set: str | None,
) -> None:
    """Group the catalog's faces into people, keeping the people that exist.

    Groups that overlap existing people most become those people (their numbers, names and
    the faces you placed stay), the others new people with the next numbers.

    Methods: infomap (default), chinese-whispers, leader, rank-order, dbscan, hdbscan,
    agglomerative, kmeans. Graph methods reuse the kNN graph kept beside the catalog, so
    trying other methods or thresholds is fast.

    \b
    Examples:
      faceatlas cluster --db photos.db
      faceatlas cluster --db photos.db --method chinese-whispers --threshold 0.33
      faceatlas cluster --db photos.db --method leader -o representative=mean
      faceatlas cluster --db photos.db --method kmeans --k 40
      faceatlas cluster --db big.db --per-segment --method leader
      faceatlas cluster --db photos.db --incremental
    """
    if not fresh:
        with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
            done = assign_new_faces(catalog, threshold=None if threshold == AUTO else threshold)
        if isinstance(done, IncrementalSummary):
            _report_incremental(done, as_json)
            return
        summary = done
    else:
        summary = _regroup(
            db_path, face_set, method, threshold, seed, neighbors, knn, n_clusters, extra,
            per_segment,
        )  # fmt: skip
    _report(summary, as_json)


def _regroup(
    db_path: Path,
    face_set: str | None,
    method: str,
    threshold: float | str,
    seed: int,
    neighbors: int,
    knn: str,
    n_clusters: int | None,
    extra: tuple[str, ...],
    per_segment: bool,
) -> Any:
    options = parse_options(extra)
    if not per_segment:
        options["knn"] = knn  # per segment, each small segment gets its own exact graph
    run = cluster_per_segment if per_segment else cluster_catalog
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        summary = run(
            catalog,
            method=method,
            threshold=threshold,
            seed=seed,
            k=neighbors,
            n_clusters=n_clusters,
            **options,
        )
    return summary


def _counts(summary: ClusterSummary | IncrementalSummary) -> dict[str, Any]:
    """What every grouping reports in --json: faces, people, method, cut, seconds."""
    return {
        "faces": summary.faces,
        "people": summary.people,
        "singletons": summary.singletons,
        "method": summary.method,
        "threshold": summary.threshold,
        "seconds": round(summary.seconds, 3),
    }


def _report_incremental(summary: IncrementalSummary, as_json: bool) -> None:
    if as_json:
        echo_json(
            _counts(summary)
            | {
                "new_faces": summary.new_faces,
                "joined": summary.joined,
                "new_people": summary.new_people,
                "waiting": summary.waiting,
            }
        )
        return
    click.echo(f"{summary.reason} in {summary.seconds:.1f} s; {summary.people} people")


def _report(summary: ClusterSummary, as_json: bool) -> None:
    if as_json:
        echo_json(
            _counts(summary)
            | {
                "reason": summary.reason,
                "segment_cuts": summary.segment_cuts,
                "people_split": summary.people_split,
                "doubtful": summary.doubtful,
                "auto": summary.auto,
            }
        )
        return
    click.echo(
        f"{summary.faces} faces -> {summary.people} people ({summary.singletons} single faces) "
        f"with {summary.method} in {summary.seconds:.1f} s: {summary.reason}"
    )
    if summary.people_split:
        click.echo(f"  {summary.people_split} people split: two faces of one photo are two people")
    if summary.doubtful:
        click.echo(
            f"  {summary.doubtful} people look doubtful (spread out, or close to another "
            "person): check them first (`faceatlas report` lists them first)"
        )
