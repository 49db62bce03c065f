"""The ``vrt`` command line: a thin layer over the library, one module per command (or group)."""

from __future__ import annotations

import importlib
import os
import sys
import warnings

from vrt.cli import common
from vrt.cli.common import err_console

# One module per command (or group of subcommands), named after it; importing a module
# registers its commands, and this order is the order of `vrt --help`.
COMMAND_MODULES = (
    "train",
    "export",
    "demo",
    "eval",
    "report",
    "encode",
    "codes",
    "features",
    "index",
    "search",
    "serve",
    "data",
    "prepare",
    "list",
    "config",
)

__all__ = ["COMMAND_MODULES", "DEBUG_VARIABLE", "app", "load_commands", "main"]


def load_commands(command: str | None = None) -> None:
    """Register ``command``'s module alone (``vrt eval`` starts without importing the other
    commands' modules), or every command (the help, an unknown name)."""
    for module in (command,) if command in COMMAND_MODULES else COMMAND_MODULES:
        importlib.import_module(f"vrt.cli.{module}")


def __getattr__(name: str) -> object:
    if name == "app":  # the whole command line, for tests and embedding: every command registered
        load_commands()
        return common.app
    raise AttributeError(f"module 'vrt.cli' has no attribute {name!r}")


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
    words = [word for word in sys.argv[1:] if not word.startswith("-")]
    load_commands(words[0] if words else None)
    app = common.app
    # A library warning is one "warning:" line too, not Python's two with a source line. The
    # format only: what records warnings (the run log, a test) still gets them.
    formatting = warnings.formatwarning
    if not debug:
        warnings.formatwarning = _one_line_warning
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
    finally:
        warnings.formatwarning = formatting
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


def _one_line_warning(message: Warning | str, *_args: object, **_kwargs: object) -> str:
    return f"warning: {' '.join(str(message).split())}\n"
