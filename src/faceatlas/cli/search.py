"""`faceatlas search` and `faceatlas serve`: look-alike search from the CLI and the web."""

from __future__ import annotations

from pathlib import Path

import click

from faceatlas.cli import main
from faceatlas.cli.options import (
    count_option,
    db_option,
    echo_json,
    existing_catalog,
    face_set_option,
    json_option,
    min_faces_option,
    open_catalog,
)
from faceatlas.decode import load_rgb
from faceatlas.outputs.search import (
    FaceIndex,
    FaceResult,
    recorded_model,
    search_face_id,
    search_faces,
)
from faceatlas.paths import shown_path
from faceatlas.video import describe

LOOPBACK = "127.0.0.1"


def _print_results(results: list[FaceResult], source: str) -> None:
    if not results:
        click.echo(f"no face found in {source}")
    for number, result in enumerate(results, start=1):
        click.echo(f"face {number} at {result.box} in {source}:")
        for rank, match in enumerate(result.matches, start=1):
            click.echo(
                f"  {rank:3d}. {match.distance:.3f}  {match.person or '-':<20}  "
                f"{shown_path(describe(match.path))}  (face {match.face_id})"
            )


@main.command()
@click.argument(
    "photo", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@db_option
@click.option("-k", "--k", "k", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many look-alikes per face.")
@click.option("--face-id", type=int, help="Query a face already in the catalog instead of PHOTO.")
@json_option('Print a JSON list, one {"box", "matches"} object per query face.')
@min_faces_option("A match in a person with fewer faces (no folder) shows as unknown.")
@face_set_option
def search(
    photo: Path | None,
    db_path: Path,
    k: int,
    face_id: int | None,
    as_json: bool,
    min_faces: int,
    face_set: str | None,
) -> None:
    """Find the faces in PHOTO and, for each, the K most similar faces in the catalog.

    Each match shows its distance (0 = identical; below about 0.4 usually the same person),
    its person and its photo. PHOTO's faces are found and embedded with the model that made the
    catalog's faces (its recorded spec). The search index is kept beside the catalog (DB.faiss)
    and updated automatically when the catalog changes.

    \b
    Examples:
      faceatlas search query.jpg --db photos.db
      faceatlas search group.jpg --db photos.db -k 5 --json
      faceatlas search --face-id 42 --db photos.db
    """
    if (photo is None) == (face_id is None):
        raise click.UsageError("give either PHOTO or --face-id")
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        index = FaceIndex.open(catalog)
        if face_id is not None:
            results = [search_face_id(catalog, index, face_id, k)]
            source = f"face {face_id}"
        else:
            faces = recorded_model(catalog).build().analyze(load_rgb(photo))
            results = search_faces(catalog, index, faces, k)
            source = shown_path(str(photo))
        shown = {p.person_id for p in catalog.people(hidden=False) if p.size >= min_faces}
    for match in (m for r in results for m in r.matches):
        if match.person_id is not None and match.person_id not in shown:
            match.person = "unknown"  # as in the export: a person too small has no folder
    if as_json:
        echo_json([r.to_json() for r in results])
    else:
        _print_results(results, source)


@main.command()
@db_option
@click.option("--host", default=LOOPBACK, show_default=True,
              help="Address to listen on. Use 0.0.0.0 only to let other machines in.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port to listen on.")
@click.option("--max-upload-mb", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="Largest photo accepted by the upload page and API.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name requests may be addressed to (repeatable), e.g. the "
              "machine's name on your network; other Host headers get 400 (DNS rebinding).")
@count_option("--max-decodes", 2, "Uploads decoded and analysed at once; more wait, then 503.")
@face_set_option
def serve(
    db_path: Path,
    host: str,
    port: int,
    max_upload_mb: float,
    allow_hosts: tuple[str, ...],
    max_decodes: int,
    face_set: str | None,
) -> None:
    """Serve the look-alike web page and JSON API for a catalog (one process).

    Open http://HOST:PORT/ and upload or drop a photo: its faces are boxed and each gets a grid
    of look-alikes. /people lists the people. The face model is loaded once, at start; the
    search index is reopened when the catalog changes, so photos indexed meanwhile (by
    `faceatlas index` into the same DB) are found without a restart. API: POST /api/search
    (multipart "file"), GET /api/faces/ID/similar?k=, /api/people, /api/people/ID,
    /api/faces/ID/thumb, /api/images/ID; interactive docs at /docs.

    \b
    Example:
      faceatlas serve --db photos.db --port 8000
    """
    from faceatlas.web import allowed_hosts_for, create_app, run_server

    app = create_app(
        existing_catalog(db_path),
        face_set=face_set,
        max_upload=int(max_upload_mb * 2**20),
        allowed_hosts=allowed_hosts_for(host, allow_hosts),
        max_decodes=max_decodes,
    )
    if host != LOOPBACK:
        click.echo(f"warning: listening on {host}: other machines can reach this catalog", err=True)
    click.echo(f"serving {db_path} on http://{host}:{port}/ (Ctrl+C to stop)", err=True)
    run_server(app, host, port)
