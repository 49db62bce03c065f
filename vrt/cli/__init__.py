"""The ``vrt`` command line: a thin layer over the library, one module per group of commands."""

from __future__ import annotations

import importlib
import sys

from vrt.cli.common import app, err_console

# Importing a module registers its commands; this order is the order of `vrt --help`.
COMMAND_MODULES = (
    "run_commands",
    "eval_commands",
    "collection_commands",
    "index_commands",
    "serve_commands",
    "data_commands",
    "prepare_commands",
    "inspect_commands",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"vrt.cli.{_module}")

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: expected problems (bad config, missing files) print one line, not a traceback."""
    from rich.markup import escape

    from vrt.errors import USER_ERRORS

    try:
        app()
    except USER_ERRORS as error:
        # One line however long (soft_wrap), and file names are text, not markup ("[_NEW_AUDIO_]").
        err_console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
