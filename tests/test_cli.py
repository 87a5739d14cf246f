"""Every command documents itself with an example; stats prints the promised keys."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from faceatlas.cli import main
from tests.conftest import faceatlas


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output, f"`faceatlas {name} --help` shows no example"


def test_stats_json_has_the_promised_keys(people_run):
    stats = json.loads(faceatlas("stats", "--db", people_run / "faceatlas.db", "--json").stdout)
    assert {"images", "faces", "people", "errors"} <= set(stats)
    assert stats["images"] == 70 and stats["faces"] >= 70 and stats["errors"] == 0
    assert stats["people"] >= 15


def test_version():
    assert faceatlas("--version").stdout.startswith("faceatlas, version")
