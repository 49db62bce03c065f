"""Commands about the data itself: data summary (the report is built by vrt.data.summary)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vrt.cli.common import OverridesOption, app, console, err_console

if TYPE_CHECKING:
    from rich.table import Table

    from vrt.data.summary import DataSummary

data_app = typer.Typer(help="Inspect datasets before training on them.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("summary")
def summary(
    config: Annotated[Path, typer.Argument(help="YAML config whose data section to inspect.")],
    overrides: OverridesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    check: Annotated[
        int, typer.Option("--check", min=0, help="Videos to decode, spread over the splits.")
    ] = 4,
) -> None:
    """Per-split counts, classes, missing files, and a decode check of a few videos."""
    from vrt.config import load_config
    from vrt.data.summary import summarize_data

    # The report holds the datasets' warnings, so with --json stdout is one clean JSON object.
    report = summarize_data(load_config(config, overrides or ()), check=check)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report)
    if report["problems"]:  # after the report: the counts help to see why
        from vrt.errors import DataError

        raise DataError(f"{config}: vrt train would stop before training: {'; '.join(report['problems'])}")


def _print_report(report: DataSummary) -> None:
    from rich.markup import escape

    for message in report["warnings"]:
        # Real file names hold brackets (HMDB51's "[_NEW_AUDIO_]"): not rich markup.
        err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)
    console.print(_summary_table(report))
    if report["missing"]:
        shown = len(report["missing_files"])
        console.print(f"Missing files (first {shown} of {report['missing']}):", highlight=False)
        for path in report["missing_files"]:
            console.print(f"  {path}", highlight=False, markup=False)
    if report["decode_check"]["failed"]:
        console.print("Videos that failed to decode:")
        for item in report["decode_check"]["failed"]:
            console.print(f"  {item['id']}: {item['reason']}", highlight=False, markup=False)


def _summary_table(report: DataSummary) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"Data: {report['dataset']}", title_justify="left", min_width=44)
    table.add_column("")
    table.add_column("value", justify="right", overflow="fold")
    table.add_row("train (fit)", str(report["train"]))
    table.add_row("val (carved from train)", str(report["val"]))
    table.add_row("test", str(report["test"]))
    table.add_row("classes", str(report["classes"]))
    missing = report["missing"]
    table.add_row("missing files", f"[red]{missing}[/]" if missing else "0")
    check = report["decode_check"]
    failed = len(check["failed"])
    status = f"[red]{failed} of {check['checked']} failed[/]" if failed else f"{check['checked']} ok"
    table.add_row("decode check", status)
    if check["clip_shapes"]:
        table.add_row("clip shape (C, T, H, W)", ", ".join(str(tuple(s)) for s in check["clip_shapes"]))
    for name, description in report["clips"].items():
        table.add_row(name, escape(description))
    return table
