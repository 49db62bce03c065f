"""Commands that inspect what is available: list, config show."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import OverridesOption, app, console, err_console

config_app = typer.Typer(help="Inspect configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


class ListFormat(str, Enum):
    table = "table"
    markdown = "markdown"


@app.command("list")
def list_components(
    kind: Annotated[
        str | None, typer.Argument(help="backbones, heads, losses, miners, datasets or samplers.")
    ] = None,
    output_format: Annotated[
        ListFormat, typer.Option("--format", help="table or markdown.")
    ] = ListFormat.table,
) -> None:
    """List registered components (built-in and from plugins)."""
    from vrt.registry import REGISTRIES, normalize_name
    from vrt.reporting.models import model_table_markdown
    from vrt.reporting.tables import registry_rows, registry_table

    if kind is None:
        registries = list(REGISTRIES.values())
    else:
        key = normalize_name(kind)
        key = key if key in REGISTRIES else f"{key}s"
        if key not in REGISTRIES:
            raise typer.BadParameter(f"unknown kind {kind!r}; expected one of {', '.join(REGISTRIES)}")
        registries = [REGISTRIES[key]]
    if output_format is ListFormat.markdown:
        print(model_table_markdown(registries), end="")
    else:
        console.print(registry_table(registry_rows(registries)))
    for registry in registries:
        for warning in registry.shadowed_plugins():
            err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


@config_app.command("show")
def config_show(
    config: Annotated[Path, typer.Argument(help="YAML config.")],
    overrides: OverridesOption = None,
) -> None:
    """Print the fully resolved config (base merged, overrides applied, defaults filled)."""
    from vrt.config import config_to_yaml, load_config

    print(config_to_yaml(load_config(config, overrides or ())), end="")
