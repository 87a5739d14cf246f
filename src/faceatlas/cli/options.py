"""Options and helpers shared by every command module."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from faceatlas.catalog import Catalog

DEFAULT_DB = "faceatlas.db"

db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_DB,
    envvar="FACEATLAS_DB",
    show_default=True,
    show_envvar=True,
    help="Catalog file (SQLite). Created if missing.",
)


def open_catalog(db_path: Path, must_exist: bool = False) -> Catalog:
    """Open the catalog, or fail with a clear message when it should already exist."""
    if must_exist and not db_path.exists():
        raise click.ClickException(
            f"no catalog at {db_path}; run `faceatlas index PHOTOS --db {db_path}` first"
        )
    return Catalog(db_path)


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def fail_on(*errors: type[Exception]) -> Callable:
    """Turn the given library errors into clean CLI errors (message, exit code 1)."""

    def wrap(fn: Callable) -> Callable:
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except errors as err:
                raise click.ClickException(str(err)) from err

        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        return run

    return wrap


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
