"""`faceatlas people`: list, show, name, merge, split, move, reject, hide, forget, undo.

Every change is recorded with its time and can be undone; the faces you place are kept where
you put them by every later grouping (`run`, `cluster`, `cluster --fresh`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from faceatlas.catalog import Catalog
from faceatlas.cli import main
from faceatlas.cli.options import (
    db_option,
    echo_json,
    face_set_option,
    json_option,
    open_catalog,
    workers_option,
)
from faceatlas.index import IndexConfig
from faceatlas.paths import shown_path
from faceatlas.people import edit
from faceatlas.people.known import KnownOutcome, add_known, read_known_folder
from faceatlas.people.suggest import dismiss_suggestion, merge_suggestions

PERSON = "PERSON"  # metavar: person_0003, an id, or a name
face_ids_argument = click.argument(
    "face_ids", nargs=-1, required=True, type=int, metavar="FACE_ID..."
)


def _done(result: edit.EditResult) -> None:
    click.echo(result.message)


@main.group()
def people() -> None:
    """See and correct the people: names, merges, splits, moved or rejected faces.

    PERSON is the folder label (person_0003), the person's id, or its name. Every change is
    recorded and `faceatlas people undo` undoes the last one; every later grouping keeps what
    you decided.

    \b
    Examples:
      faceatlas people list --db photos.db
      faceatlas people name person_0003 "Barack Obama" --db photos.db
      faceatlas people merge "Barack Obama" person_0011 --db photos.db
      faceatlas people reject 812 --from "Barack Obama" --db photos.db
      faceatlas people undo --db photos.db
      faceatlas people add-known known/ --db photos.db
      faceatlas people suggestions --db photos.db
    """


@people.command("list")
@db_option
@json_option("Print a JSON list of people.")
@click.option("--no-hidden", "no_hidden", is_flag=True, help="Leave hidden people out.")
@face_set_option
def list_command(db_path: Path, as_json: bool, no_hidden: bool, face_set: str | None) -> None:
    """Every person, largest first: label, id, size, hidden or not.

    \b
    Example:
      faceatlas people list --db photos.db --json
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        found = edit.list_people(catalog, hidden=not no_hidden)
    if as_json:
        echo_json([edit.person_json(p) for p in found])
        return
    for person in found:
        hidden = "  (hidden)" if person.hidden else ""
        click.echo(f"{person.label:<30} id {person.person_id:<6} {person.size:>6} faces{hidden}")


@people.command()
@click.argument("person", metavar=PERSON)
@db_option
@json_option("Print the person and its faces as one JSON object.")
@face_set_option
def show(person: str, db_path: Path, as_json: bool, face_set: str | None) -> None:
    """A person's faces: face id, distance to the person's centre, box, photo; farthest (the
    likeliest mistakes) first. A * marks a face you placed.

    \b
    Example:
      faceatlas people show person_0003 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        found, faces = edit.show_person(catalog, person)
    if as_json:
        echo_json({**edit.person_json(found), "faces": [f.to_json() for f in faces]})
        return
    click.echo(f"{found.label} (id {found.person_id}): {found.size} faces"
               + (", hidden" if found.hidden else ""))  # fmt: skip
    for face in faces:
        mark = "*" if face.pinned else " "
        box = ",".join(map(str, face.box))
        click.echo(
            f"{mark} face {face.face_id:<7} {face.distance:.3f}  {box:<20} "
            f"{shown_path(face.image_path)}"
        )


@people.command()
@click.argument("person", metavar=PERSON)
@click.argument("name", required=False)
@click.option("--clear", is_flag=True, help="Remove the name: back to person_NNNN.")
@db_option
@face_set_option
def name(person: str, name: str | None, clear: bool, db_path: Path, face_set: str | None) -> None:
    """Name a person (or rename it). Its folder takes the name on the next export.

    \b
    Example:
      faceatlas people name person_0003 "Barack Obama" --db photos.db
    """
    if (name is None) == (not clear):
        raise click.UsageError("give a NAME, or --clear")
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.name_person(catalog, person, None if clear else name))


@people.command()
@click.argument("into", metavar=PERSON)
@click.argument("others", nargs=-1, required=True, metavar=f"{PERSON}...")
@db_option
@face_set_option
def merge(into: str, others: tuple[str, ...], db_path: Path, face_set: str | None) -> None:
    """Merge people into the first one (it keeps its number and name).

    \b
    Example:
      faceatlas people merge person_0003 person_0011 person_0042 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.merge_people(catalog, into, list(others)))


@people.command()
@click.argument("person", metavar=PERSON)
@click.option("--faces", "face_ids", multiple=True, type=int, metavar="FACE_ID",
              help="These faces become a new person (repeatable).")  # fmt: skip
@click.option("--threshold", type=click.FloatRange(0, 2, min_open=True),
              help="Cut to split at (default: the loosest below the grouping's that splits).")
@db_option
@face_set_option
def split(
    person: str,
    face_ids: tuple[int, ...],
    threshold: float | None,
    db_path: Path,
    face_set: str | None,
) -> None:
    """Split a person into sub-people at a tighter cut, or split off --faces as a new person.

    \b
    Examples:
      faceatlas people split person_0003 --db photos.db
      faceatlas people split person_0003 --faces 812 --faces 813 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.split_person(catalog, person, face_ids or None, threshold))


@people.command()
@face_ids_argument
@click.option("--to", "to", required=True, metavar=PERSON, help="The person they belong to.")
@db_option
@face_set_option
def move(face_ids: tuple[int, ...], to: str, db_path: Path, face_set: str | None) -> None:
    """Move faces to a person (face ids: `faceatlas people show`, `search`, the web pages).

    \b
    Example:
      faceatlas people move 812 813 --to "Barack Obama" --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.move_faces(catalog, face_ids, to))


@people.command()
@face_ids_argument
@click.option("--from", "person", metavar=PERSON,
              help="The person they are not (default: the one each is in).")  # fmt: skip
@db_option
@face_set_option
def reject(face_ids: tuple[int, ...], person: str | None, db_path: Path,
           face_set: str | None) -> None:  # fmt: skip
    """Not this person: the faces leave it and never join it again.

    \b
    Example:
      faceatlas people reject 812 --from "Barack Obama" --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.reject_faces(catalog, face_ids, person))


@people.command()
@click.argument("person", metavar=PERSON)
@db_option
@face_set_option
def hide(person: str, db_path: Path, face_set: str | None) -> None:
    """Hide a person: no folder on export, left out of `people list --no-hidden`.

    \b
    Example:
      faceatlas people hide person_0007 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.hide_person(catalog, person, True))


@people.command()
@click.argument("person", metavar=PERSON)
@db_option
@face_set_option
def unhide(person: str, db_path: Path, face_set: str | None) -> None:
    """Show a hidden person again.

    \b
    Example:
      faceatlas people unhide person_0007 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.hide_person(catalog, person, False))


@people.command()
@face_ids_argument
@db_option
@face_set_option
def forget(face_ids: tuple[int, ...], db_path: Path, face_set: str | None) -> None:
    """Not a face (a false detection): remove it from the catalog (`undo` brings it back).

    \b
    Example:
      faceatlas people forget 977 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        _done(edit.forget_faces(catalog, face_ids))


@people.command("add-known")
@click.argument("known", type=click.Path(exists=True, file_okay=False, path_type=Path),
                metavar="DIR")  # fmt: skip
@db_option
@workers_option
@click.option("--dry-run", is_flag=True,
              help="Say what would change (worked out on a copy); change nothing.")  # fmt: skip
@face_set_option
def add_known_command(
    known: Path, db_path: Path, workers: int, dry_run: bool, face_set: str | None
) -> None:
    """Name people from reference photos: DIR holds a folder per name (DIR/Grandma/*.jpg), or
    photos named as face_recognition's CLI expects (DIR/john.jpg, DIR/john_2.jpg: "john").

    The photos are indexed with the catalog's model; the person that holds a name's reference
    faces takes the name (or a new person is made), other people whose faces lie as close join
    it, and the reference faces stay with it through every regrouping. `undo` undoes one name
    at a time. --dry-run works on a copy and says what would change.

    \b
    Examples:
      faceatlas people add-known known/ --db photos.db
      faceatlas people add-known known/ --db photos.db --dry-run
    """
    photos = read_known_folder(known)
    config = IndexConfig(workers=workers)
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        if not dry_run:
            _print_known(add_known(catalog, photos, config))
            return
        with tempfile.TemporaryDirectory(prefix="faceatlas-dry-run-") as scratch:
            copy = Path(scratch) / "catalog.db"
            catalog.backup(copy)
            with Catalog(copy, model=catalog.face_set and catalog.face_set.name) as trial:
                outcomes = add_known(trial, photos, config)
    click.echo("dry run: nothing changed; this would happen:")
    _print_known(outcomes)


def _print_known(outcomes: list[KnownOutcome]) -> None:
    for outcome in outcomes:
        click.echo(outcome.describe())
        for path, why in outcome.skipped:
            click.echo(f"  left out {shown_path(path)}: {why}", err=True)


@people.command()
@db_option
@json_option("Print a JSON list of suggestions.")
@click.option("-n", "limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many, nearest first.")  # fmt: skip
@face_set_option
def suggestions(db_path: Path, as_json: bool, limit: int, face_set: str | None) -> None:
    """People that may be one person: pairs whose faces lie, on average, within the model's
    same-person distance, nearest first (never two named people, nor two holding faces of one
    photo). Accept one with `merge`, or `dismiss` it for good.

    \b
    Example:
      faceatlas people suggestions --db photos.db
      faceatlas people merge person_0003 person_0011 --db photos.db
      faceatlas people dismiss 3-11 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        found = merge_suggestions(catalog, limit) if catalog.clustering() is not None else []
    if as_json:
        echo_json([s.to_json() for s in found])
        return
    for s in found:
        click.echo(
            f"{s.suggestion_id:<14} {s.distance:.3f}  {s.first.label} ({s.first.size} faces)"
            f" + {s.second.label} ({s.second.size} faces)"
        )
    if not found:
        click.echo("no suggestions: no two people look like one")


@people.command()
@click.argument("suggestion", metavar="ID")
@db_option
@face_set_option
def dismiss(suggestion: str, db_path: Path, face_set: str | None) -> None:
    """These two people are not one: the suggestion ID (as `suggestions` lists it, e.g. 3-11)
    is never made again.

    \b
    Example:
      faceatlas people dismiss 3-11 --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        dismiss_suggestion(catalog, suggestion)
    click.echo(f"{suggestion} will not be suggested again")


@people.command()
@db_option
@face_set_option
def undo(db_path: Path, face_set: str | None) -> None:
    """Undo the last change (repeat to undo earlier ones).

    \b
    Example:
      faceatlas people undo --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        change = edit.undo(catalog)
    click.echo(f"undid {change.kind} of {change.at}: {edit.describe_change(change)}")


@people.command()
@db_option
@json_option("Print a JSON list of changes.")
@click.option("-n", "limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many, newest first.")  # fmt: skip
@face_set_option
def history(db_path: Path, as_json: bool, limit: int, face_set: str | None) -> None:
    """The changes made to people, newest first, with their time (undone ones marked).

    \b
    Example:
      faceatlas people history --db photos.db
    """
    with open_catalog(db_path, must_exist=True, face_set=face_set) as catalog:
        changes = catalog.changes(limit)
    if as_json:
        echo_json([
            {"id": c.change_id, "at": c.at, "kind": c.kind, "detail": c.detail,
             "undone_at": c.undone_at}
            for c in changes
        ])  # fmt: skip
        return
    for change in changes:
        undone = f"  (undone {change.undone_at})" if change.undone_at else ""
        click.echo(f"{change.at}  {change.kind:<7} {edit.describe_change(change)}{undone}")

