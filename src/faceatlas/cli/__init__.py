"""The ``faceatlas`` command: a thin click layer over the library.

Each command group lives in its own module and registers itself on ``main``. Errors take one
path, ``FaceatlasGroup.invoke`` (see ``faceatlas.cli.failures``): no command catches its own.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from faceatlas import __version__
from faceatlas.cli.failures import as_click_error, expected


class FaceatlasGroup(click.Group):
    """The command group whose ``invoke`` turns every expected failure of any command into one
    ``Error: ...`` line and its exit code (click's own usage errors keep click's handling)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as err:
            if not expected(err):
                raise
            raise as_click_error(err, verbose=ctx.params.get("verbose", 0) > 0) from err


@click.group(
    cls=FaceatlasGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="faceatlas")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output, and the traceback of an error (-vv for debug).",
)
def main(verbose: int) -> None:
    """Who is in these pictures? Find every face, group faces into people, export folders.

    \b
    Start with:   faceatlas run PHOTOS OUT
    Step by step: faceatlas index PHOTOS --db cat.db
                  faceatlas cluster --db cat.db
                  faceatlas export OUT --db cat.db
    """
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


from faceatlas.cli import (  # noqa: E402,F401
    audit,
    clean,
    cluster,
    core,
    evaluate,
    identify,
    index,
    people,
    report,
    search,
    verify,
)
