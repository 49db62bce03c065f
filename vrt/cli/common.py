"""What every command module shares: the typer app, consoles and common options.

Command modules import heavy libraries inside each command's body, so ``vrt --help`` and the
commands that work on code files start without importing torch.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    help="vrt: video retrieval by learned binary hashing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
# Messages and warnings stay one line each however long (a path, a reason), so logs grep cleanly.
err_console = Console(stderr=True, soft_wrap=True)

OverridesOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set model.head.bits=64 (repeatable)."),
]
DataOverridesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a value of the checkpoint's stored config, e.g. where the data now is: "
        "--set data.dataset.root=/new/place (repeatable; model.* keys cannot change).",
    ),
]


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def bundled_config(name: str) -> Path:
    """A config shipped in the repository's configs/ folder (the demo's, say)."""
    from vrt.config import ConfigError

    for folder in (Path.cwd() / "configs", Path(__file__).resolve().parents[2] / "configs"):
        if (folder / name).is_file():
            return folder / name
    raise ConfigError(f"cannot find configs/{name}; pass --config PATH")
