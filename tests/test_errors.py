"""One error path: every expected failure of any command is one `Error: ...` line on stderr and a
non-zero exit, never a traceback (unless `-v`); click's own usage errors keep click's handling."""

from __future__ import annotations

import errno
import sqlite3

import pytest
from click.testing import CliRunner

from faceatlas.catalog import Catalog
from faceatlas.cli import core, main
from faceatlas.cli.failures import describe
from faceatlas.errors import NoPeopleYet, UsageError
from tests.conftest import faceatlas


def one_error_line(result, code: int = 1) -> str:
    """The single stderr line of a failed subprocess run, after checking the promises."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


def test_a_missing_catalog_is_one_line(tmp_path):
    line = one_error_line(faceatlas("stats", "--db", tmp_path / "none.db", check=False))
    assert "no catalog at" in line and "faceatlas index" in line
    assert not (tmp_path / "none.db").exists()


def test_export_before_cluster_is_one_line(tmp_path):
    Catalog(tmp_path / "new.db").close()
    result = faceatlas("export", tmp_path / "out", "--db", tmp_path / "new.db", check=False)
    assert one_error_line(result) == f"Error: {NoPeopleYet()}"


def test_an_output_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file.txt"  # root ignores chmod, so a file stands in the way instead
    blocker.write_text("not a folder")
    photos = tmp_path / "photos"
    photos.mkdir()
    line = one_error_line(faceatlas("run", photos, blocker / "sub", "-q", check=False))
    assert "Not a directory" in line and str(blocker) in line


def test_a_catalog_that_is_not_sqlite_is_one_line(tmp_path):
    (tmp_path / "notes.db").write_text("hello, not a database " * 100)
    line = one_error_line(faceatlas("stats", "--db", tmp_path / "notes.db", check=False))
    assert "file is not a database" in line and "not a faceatlas catalog" in line


def test_verbose_adds_the_traceback(tmp_path):
    result = faceatlas("-v", "stats", "--db", tmp_path / "none.db", check=False)
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "CatalogMissing" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: no catalog at")


def test_click_usage_errors_keep_clicks_handling(tmp_path):
    result = faceatlas("export", tmp_path, "--mode", "teleport", check=False)
    assert result.returncode == 2 and "Usage:" in result.stderr and "teleport" in result.stderr


@pytest.mark.parametrize(
    ("error", "code", "expected"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), 1, "read-only"),
        (sqlite3.OperationalError("database or disk is full"), 1, "the disk is full"),
        (sqlite3.OperationalError("database is locked"), 1, "another faceatlas process"),
        (sqlite3.OperationalError("disk I/O error"), 1, "the disk failed"),
        (OSError(errno.EROFS, "Read-only file system", "/media/cd/out"), 1, "disk is read-only"),
        (OSError(errno.ENOSPC, "No space left on device", "/full/x.jpg"), 1, "free some space"),
        (PermissionError(errno.EACCES, "Permission denied", "/root/x"), 1, "no permission"),
        (UsageError("min_faces must be >= 1"), 2, "min_faces must be >= 1"),
    ],
)
def test_machine_and_library_errors_are_one_line_with_a_hint(monkeypatch, error, code, expected):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(core, "open_catalog", fail)
    result = CliRunner().invoke(main, ["stats"])
    assert result.exit_code == code and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0]


def test_a_bug_keeps_its_traceback(monkeypatch):
    def bug(*args, **kwargs):
        raise TypeError("a bug, not a user's mistake")

    monkeypatch.setattr(core, "open_catalog", bug)
    result = CliRunner().invoke(main, ["stats"])
    assert isinstance(result.exception, TypeError) and "Error:" not in result.output


def test_describe_names_the_file_and_keeps_one_line():
    err = OSError(errno.ENOSPC, "No space left on device", "/disk/out/manifest.csv")
    assert describe(err).startswith("No space left on device: /disk/out/manifest.csv (hint: ")
    assert describe(UsageError("two\nlines")) == "two lines"
    assert describe(sqlite3.DatabaseError("file is not a database")).startswith("catalog: ")
