"""The CLI's one error path: an expected failure becomes one ``Error: ...`` line and an exit code.

Expected failures are the library's ``FaceatlasError`` (its ``exit_code``), the machine's
``OSError`` (read-only or full disk, no permission) and SQLite's operational errors (locked,
read-only or corrupt catalog), both with exit code 1. Anything else is a bug and keeps its
traceback; ``faceatlas -v`` prints the traceback of an expected failure too.
"""

from __future__ import annotations

import errno
import sqlite3
import traceback

import click

from faceatlas.errors import FaceatlasError

EXPECTED = (FaceatlasError, OSError, sqlite3.DatabaseError)

WRITABLE = "choose a folder (or --db) on a writable disk"
OS_HINTS = {
    errno.EROFS: f"the disk is read-only: {WRITABLE}",
    errno.ENOSPC: "the disk is full: free some space or write to another disk",
    errno.EDQUOT: "the disk quota is used up: free some space or write to another disk",
    errno.EACCES: f"no permission: {WRITABLE}, or fix the permissions",
    errno.EPERM: f"not permitted: {WRITABLE}, or fix the permissions",
}
SQLITE_HINTS = {
    "readonly database": f"the catalog file, its folder or its disk is read-only: {WRITABLE}",
    "database or disk is full": "the disk is full: free some space or use a --db elsewhere",
    "database is locked": "another faceatlas process is writing this catalog: wait for it",
    "file is not a database": "that --db file is not a faceatlas catalog",
    "disk i/o error": "the disk failed to read or write the catalog: check it, or use a --db "
    "on a local disk",
    "unable to open database file": f"the catalog's folder is missing or not writable: {WRITABLE}",
}


def expected(err: BaseException) -> bool:
    """Whether ``err`` is a failure to report in one line (not a bug, not click's own)."""
    if isinstance(err, BrokenPipeError):  # click silences a closed pipe (`| head`) itself
        return False
    if isinstance(err, sqlite3.DatabaseError):  # not IntegrityError, ProgrammingError ...
        return type(err) in (sqlite3.DatabaseError, sqlite3.OperationalError)
    return isinstance(err, EXPECTED)


def describe(err: BaseException) -> str:
    """One line: what went wrong and, for a disk or catalog problem, what to do about it."""
    hint = None
    if isinstance(err, FaceatlasError) or not isinstance(err, OSError | sqlite3.Error):
        text = str(err)
    elif isinstance(err, sqlite3.Error):
        text = f"catalog: {err}"
        hint = next((h for key, h in SQLITE_HINTS.items() if key in str(err).lower()), None)
    elif err.errno is not None and err.strerror:
        files = [f for f in (err.filename, err.filename2) if f is not None]
        text = f"{err.strerror}: {' -> '.join(map(str, files))}" if files else err.strerror
        hint = OS_HINTS.get(err.errno)
    else:
        text = str(err)
    text = " ".join(text.split()) or type(err).__name__
    return f"{text} (hint: {hint})" if hint else text


def as_click_error(err: BaseException, verbose: bool) -> click.ClickException:
    """The ``click.ClickException`` that prints ``Error: <describe(err)>`` and exits with the
    error's exit code; with ``verbose``, the traceback is printed first."""
    if verbose:
        click.echo("".join(traceback.format_exception(err)).rstrip(), err=True)
    failure = click.ClickException(describe(err))
    failure.exit_code = err.exit_code if isinstance(err, FaceatlasError) else 1
    return failure
