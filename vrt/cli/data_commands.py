"""Commands about the data itself: data summary."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrt.cli.common import OverridesOption, app, console, err_console

if TYPE_CHECKING:
    from rich.table import Table

    from vrt.data.pipeline import DataSplits

data_app = typer.Typer(help="Inspect datasets before training on them.", no_args_is_help=True)
app.add_typer(data_app, name="data")

_MISSING_SHOWN = 10


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
    from vrt.data.pipeline import build_data_splits

    resolved = load_config(config, overrides or ())
    # The datasets warn about missing files; collect the warnings so they land in the report
    # (and, with --json, leave stdout one clean JSON object).
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        splits = build_data_splits(resolved)
    report = summarize(splits, check=check)
    report = {"dataset": resolved.data.dataset.name, **report, "warnings": [str(w.message) for w in caught]}
    if as_json:
        print(json.dumps(report, indent=2))
        return
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


def summarize(splits: DataSplits, *, check: int) -> dict[str, Any]:
    """The report's numbers: ``train`` is the fit part, so ``train + val`` is the official training list."""
    sources = [splits.train_source, splits.test_source]
    missing_files = [path for source in sources for path in getattr(source, "missing", [])]
    counts = {
        "train": len(splits.fit_positions),
        "val": len(splits.val_positions),
        "test": len(splits.test_positions),
    }
    return {
        **counts,
        "classes": len(splits.class_names),
        "missing": len(missing_files),
        "missing_files": missing_files[:_MISSING_SHOWN],
        "clips": splits.train_source.describe_clips(),
        "decode_check": decode_check(splits, check),
    }


def decode_check(splits: DataSplits, count: int) -> dict[str, Any]:
    """Decode ``count`` videos, taken in turn from fit, val and test, evenly spread within each.

    Loads go straight to the dataset (not through a ClipView, which would turn a failure into
    a skipped item) so that the reason can be reported.
    """
    from vrt.errors import VideoDecodeError

    pools = [
        (source, positions)
        for source, positions in (
            (splits.train_source, splits.fit_positions),
            (splits.train_source, splits.val_positions),
            (splits.test_source, splits.test_positions),
        )
        if positions
    ]
    picks_per_pool = [len(range(p, count, len(pools))) for p in range(len(pools))] if pools else []
    failed, shapes = [], set()
    checked = 0
    for (source, positions), picks in zip(pools, picks_per_pool, strict=True):
        chosen = dict.fromkeys(positions[(2 * j + 1) * len(positions) // (2 * picks)] for j in range(picks))
        for index in chosen:
            checked += 1
            try:
                shapes.add(tuple(source.load_clip(index, training=False).shape))
            except VideoDecodeError as error:
                failed.append({"id": source.ids[index], "reason": str(error)})
    return {"checked": checked, "failed": failed, "clip_shapes": [list(shape) for shape in sorted(shapes)]}


def _summary_table(report: dict[str, Any]) -> Table:
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
