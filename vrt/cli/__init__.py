"""The ``vrt`` command line: a thin layer over the library, one module per group of commands."""

from __future__ import annotations

import importlib
import os
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

__all__ = ["DEBUG_VARIABLE", "app", "main"]

#: ``VRT_DEBUG=1`` shows the traceback behind an error message (for a bug report).
DEBUG_VARIABLE = "VRT_DEBUG"


def main() -> None:
    """Entry point: every expected problem prints one ``error:`` line, not a traceback.

    Exit codes: 2 for a usage error (options, config, input files), 1 for a runtime error (a
    full disk, a locked run, a loss that stopped being finite), 130/143 for SIGINT/SIGTERM.
    Anything else is a bug and keeps its traceback.
    """
    import typer

    click = _click_exceptions()
    no_args_is_help = getattr(click, "NoArgsIsHelpError", ())  # click >= 8.2

    from vrt.errors import RUNTIME_EXIT_CODE, USAGE_EXIT_CODE, USER_ERRORS
    from vrt.runtime.syserrors import is_system_error, system_error

    debug = os.environ.get(DEBUG_VARIABLE, "").strip() not in ("", "0")
    try:
        code = app(standalone_mode=False)
    except no_args_is_help as error:  # `vrt index`: the group's help, as click shows it
        error.show()
        sys.exit(error.exit_code)
    except click.UsageError as error:
        if debug:
            raise
        hint = f" (see: {error.ctx.command_path} --help)" if error.ctx is not None else ""
        _print_error(f"{error.format_message()}{hint}")
        sys.exit(USAGE_EXIT_CODE)
    except click.ClickException as error:
        if debug:
            raise
        _print_error(error.format_message())
        sys.exit(error.exit_code)
    except USER_ERRORS as error:
        if debug:
            raise
        _print_error(str(error))
        sys.exit(getattr(error, "exit_code", USAGE_EXIT_CODE))
    except OSError as error:
        if debug or not is_system_error(error):
            raise
        _print_error(str(system_error(error, action="use")))
        sys.exit(RUNTIME_EXIT_CODE)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _click_exceptions():  # noqa: ANN202 - a module
    """click's exceptions as typer raises them: its own copy of click since typer 0.24, click before."""
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


def _print_error(message: str) -> None:
    from rich.markup import escape

    # One line however long (soft_wrap), and file names are text, not markup ("[_NEW_AUDIO_]").
    err_console.print(
        f"[bold red]error:[/] {escape(message.replace(chr(10), ' '))}", highlight=False, soft_wrap=True
    )
