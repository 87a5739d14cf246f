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
    as_exported,
    recorded_model,
    search_face_id,
    search_faces,
    verdict,
)
from faceatlas.paths import shown_path
from faceatlas.video import describe

LOOPBACK = "127.0.0.1"


def _print_results(results: list[FaceResult], source: str, cut: float) -> None:
    if not results:
        click.echo(f"no face found in {source}")
    for number, result in enumerate(results, start=1):
        who = verdict(result.matches, cut) or "unknown person"
        click.echo(f"face {number} at {result.box} in {source}: {who}")
        for rank, match in enumerate(result.matches, start=1):
            if match.distance > cut and (rank == 1 or result.matches[rank - 2].distance <= cut):
                click.echo(f"       below: probably not the same person (distance > {cut:.2f})")
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

    Each face is named after the person of its nearest match when that lies within the model's
    same-person distance (0.4 for the default model), else "unknown person"; a line marks where
    the matches stop being probably the same person. Each match shows its distance (0 =
    identical), its person and its photo. PHOTO's faces are found and embedded with the model
    that made the catalog's faces (its recorded spec). The search index is kept beside the
    catalog (DB.faiss) and updated automatically when the catalog changes.

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
        as_exported(catalog, [m for result in results for m in result.matches], min_faces)
        cut = catalog.face_set.spec.cut
    if as_json:
        echo_json([r.to_json() | {"name": verdict(r.matches, cut)} for r in results])
    else:
        _print_results(results, source, cut)


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
@click.option("--read-only", is_flag=True,
              help="Refuse every change to people (403); search and browsing still work.")
@click.option("--token", envvar="FACEATLAS_TOKEN", metavar="TEXT",
              help="Changes need this token (Authorization: Bearer TEXT; the people page takes "
              "it from ?token=). Default: none on loopback, a fresh random one with --host "
              "[env: FACEATLAS_TOKEN].")
@face_set_option
def serve(
    db_path: Path,
    host: str,
    port: int,
    max_upload_mb: float,
    allow_hosts: tuple[str, ...],
    max_decodes: int,
    read_only: bool,
    token: str | None,
    face_set: str | None,
) -> None:
    """Serve the look-alike web page, the people page and the JSON API for a catalog.

    Open http://HOST:PORT/ and upload or drop a photo: its faces are boxed and each gets a grid
    of look-alikes, and a name when the nearest is within the model's "same person" distance.
    /people lists the people, doubtful ones first, and lets you name, merge, move, reject,
    hide and undo, as `faceatlas people` does (every change recorded and undoable). The face
    model is loaded once, at start; photos indexed meanwhile into the same DB are found
    without a restart. The JSON API is described in docs/web.md (schema at /openapi.json);
    the pages load nothing from other hosts.

    Changes are accepted only from this server's own pages (or from clients such as curl that
    send no Origin). With --host other than loopback they also need a token: one is made and
    printed as a /people?token=... address to open (or give --token). --read-only turns
    changes off.

    \b
    Examples:
      faceatlas serve --db photos.db --port 8000
      faceatlas serve --db photos.db --read-only
      faceatlas serve --db photos.db --host 0.0.0.0 --allow-host mybox.local
      FACEATLAS_TOKEN=... faceatlas serve --db photos.db --host 192.168.1.20
    """
    from faceatlas.web import allowed_hosts_for, create_app, run_server
    from faceatlas.web.guard import check_token, is_loopback, new_token

    if token is not None:
        token = check_token(token)
    elif not read_only and not is_loopback(host):
        token = new_token()
    app = create_app(
        existing_catalog(db_path),
        face_set=face_set,
        max_upload=int(max_upload_mb * 2**20),
        allowed_hosts=allowed_hosts_for(host, allow_hosts),
        max_decodes=max_decodes,
        read_only=read_only,
        token=token,
    )
    if not is_loopback(host):
        click.echo(f"warning: listening on {host}: other machines can reach this catalog", err=True)
    base = f"http://{_url_host(host, allow_hosts)}:{port}"
    click.echo(f"serving {db_path} on {base}/ (Ctrl+C to stop)", err=True)
    writes = app.state.writes
    if writes.read_only:
        click.echo(f"{writes.read_only_detail}: changes to people are off", err=True)
    elif writes.token_required:
        click.echo(f"changes need the token: open {base}/people?token={writes.token}", err=True)
    run_server(app, host, port)


def _url_host(host: str, allow_hosts: tuple[str, ...]) -> str:
    """The host to print in the server's address: a wildcard bind names no host, so the first
    name given with --allow-host (a request must name an allowed host), else loopback."""
    name = host.strip("[]")
    if name in ("", "0.0.0.0", "::"):
        name = next((h for h in allow_hosts if "*" not in h), LOOPBACK)
    return f"[{name}]" if ":" in name else name
