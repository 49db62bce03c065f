"""``vrt report``: one table row per configuration of runs (no torch)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import app


class TableFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"


@app.command("report")
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories written by `vrt train`.")],
    output_format: Annotated[
        TableFormat, typer.Option("--format", help="markdown or csv.")
    ] = TableFormat.markdown,
) -> None:
    """One row per configuration: runs differing only in train.seed are averaged (mean ± std, seeds).

    Columns: dataset, split, bits, margin, frames, seeds, mAP (tie-aware), mAP in database
    order, mAP@K, P@K, unique database codes, epochs, backbone.
    """
    from vrt.reporting.runs import read_run, runs_csv, runs_markdown

    rows = [read_run(run_dir) for run_dir in run_dirs]
    print(runs_csv(rows) if output_format is TableFormat.csv else runs_markdown(rows), end="")
