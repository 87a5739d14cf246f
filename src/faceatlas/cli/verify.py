"""`faceatlas eval-verification`: LFW face verification accuracy (issue 3)."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    echo_json,
    json_option,
    model_options,
    open_catalog,
    workers_option,
)
from faceatlas.faces.pipeline import ModelConfig
from faceatlas.index import IndexConfig


@main.command(name="eval-verification")
@click.option(
    "--pairs",
    "pairs_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="LFW pairs file, View 2 layout: first line '10 300', then per fold 300 "
    "'name i j' (same person) and 300 'name1 i name2 j' (different people) lines.",
)
@click.option(
    "--lfw",
    "lfw_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="LFW image folder: <lfw>/<Name>/<Name>_0001.jpg.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Catalog to take the faces from (e.g. one made by `faceatlas index lfw/`); pair "
    "images it lacks are indexed into it first (the model options below apply only to those). "
    "Default: a temporary catalog.",
)
@workers_option
@model_options
@json_option()
def eval_verification(
    pairs_file: Path,
    lfw_dir: Path,
    db_path: Path | None,
    workers: int,
    model: ModelConfig,
    as_json: bool,
) -> None:
    """Face verification accuracy on LFW's official 10-fold protocol.

    For each fold, the distance threshold that is most accurate on the other nine folds is
    applied to this fold; prints the mean accuracy +- standard deviation over the ten folds.
    Each image's face is the one nearest its centre. Where the detector finds no face, dlib's
    CNN detector looks again, and failing that the face is taken at the usual LFW face position
    (LFW images are aligned and centred).

    \b
    Examples:
      faceatlas eval-verification --pairs lfw-pairs/pairs.txt --lfw lfw/ --workers 2
      faceatlas eval-verification --pairs lfw-pairs/pairs.txt --lfw lfw/ --db lfw.db
    """
    from faceatlas.verification import verify_lfw  # lazy: pulls in scikit-learn via evaluate

    config = IndexConfig(model=model, workers=workers)
    if db_path is None:
        report = verify_lfw(pairs_file, lfw_dir, None, config)
    else:
        with open_catalog(db_path) as catalog:
            report = verify_lfw(pairs_file, lfw_dir, catalog, config)
    result = report.result
    if as_json:
        echo_json(
            {
                "mean_accuracy": result.mean,
                "std": result.std,
                "fold_accuracies": result.accuracies.tolist(),
                "fold_thresholds": result.thresholds.tolist(),
                "pairs": report.pairs,
                "images": report.images,
                "fallback_images": report.fallback_images,
                "indexed": report.indexed,
                "seconds": report.seconds,
            }
        )
        return
    folds = "  ".join(f"{a:.4f}" for a in result.accuracies)
    click.echo(f"fold accuracies  {folds}")
    click.echo(
        f"thresholds       {result.thresholds.min():.4f} .. {result.thresholds.max():.4f} "
        "(Euclidean distance between unit embeddings)"
    )
    click.echo(
        f"{report.pairs} pairs, {report.images} images ({report.indexed} indexed now, "
        f"{len(report.fallback_images)} where the detector found no face: CNN retry) in "
        f"{report.seconds:.1f} s"
    )
    click.echo(f"accuracy {100 * result.mean:.2f} % +- {100 * result.std:.2f} %")
