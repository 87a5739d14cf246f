"""`faceatlas eval`: clustering quality against known labels (issue 4)."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    db_option,
    echo_json,
    face_set_option,
    json_option,
    open_catalog,
)


@main.command(name="eval")
@db_option
@click.option(
    "--labels",
    "spec",
    required=True,
    metavar="folder|FILE",
    help="'folder': each photo's identity is its parent folder's name (LFW layout). "
    "FILE: a CSV 'path,identity' (paths absolute or relative to the file).",
)
@json_option()
@face_set_option
def evaluate(db_path: Path, spec: str, as_json: bool, face_set: str | None) -> None:
    """Score the current people against known identities.

    Prints pairwise precision/recall/F (over pairs of faces), BCubed precision/recall/F (per
    face), NMI, and the number of clusters against the number of true identities. Only the
    face nearest each photo's centre carries the photo's label; faces without a person count
    as single-face clusters.

    \b
    Example:
      faceatlas run lfw/ out/ && faceatlas eval --db out/faceatlas.db --labels folder
    """
    if spec != "folder" and not Path(spec).is_file():
        raise click.BadParameter(f"{spec!r} is neither 'folder' nor a file", param_hint="--labels")
    from faceatlas.evaluate import evaluate_catalog  # lazy: scikit-learn is slow to import

    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        scores = evaluate_catalog(catalog, spec)
    if as_json:
        echo_json(scores.as_dict())
        return
    s = scores
    click.echo(
        f"pairwise  precision {s.pairwise_precision:.4f}  recall {s.pairwise_recall:.4f}  "
        f"F {s.pairwise_f:.4f}"
    )
    click.echo(
        f"BCubed    precision {s.bcubed_precision:.4f}  recall {s.bcubed_recall:.4f}  "
        f"F {s.bcubed_f:.4f}"
    )
    click.echo(f"NMI       {s.nmi:.4f}")
    click.echo(
        f"clusters  {s.clusters} for {s.identities} identities ({s.singletons} single faces)"
    )
