"""``vrt list``: the registered components, built-in and from plugins."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from vrt.cli.common import app, console, err_console


class ListFormat(str, Enum):
    table = "table"
    markdown = "markdown"


@app.command("list")
def list_components(
    kind: Annotated[
        str | None, typer.Argument(help="backbones, heads, losses, miners, reducers, datasets or samplers.")
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
