"""The ``vrt`` command line: a thin layer over the library, one module per group of commands."""

from __future__ import annotations

import sys

from vrt.cli import data_commands, inspect_commands, run_commands  # noqa: F401 - importing registers the commands
from vrt.cli.common import app, err_console

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: expected problems (bad config, missing files) print one line, not a traceback."""
    from vrt.errors import USER_ERRORS

    try:
        app()
    except USER_ERRORS as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
