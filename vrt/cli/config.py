"""``vrt config show``: a config as vrt resolves it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import OverridesOption, app

config_app = typer.Typer(help="Inspect configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="YAML config.")],
    overrides: OverridesOption = None,
) -> None:
    """Print the fully resolved config (base merged, overrides applied, defaults filled)."""
    from vrt.config import config_to_yaml, load_config

    print(config_to_yaml(load_config(config, overrides or ())), end="")
