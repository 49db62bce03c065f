"""``vrt train``: train a hashing model in a run directory (vrt.training.Runner)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import (
    OverridesOption,
    app,
    console,
    default_run_dir,
    err_console,
    is_main_process,
    run_session,
    show_evaluation,
)
from vrt.rundir import RunDirectory


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (optional with --resume).")] = None,
    output_option: Annotated[
        str | None,
        typer.Option("--output", help="Run directory: new, empty or a vrt run (default runs/NAME-TIME)."),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --output from its last.pt.")] = False,
    overrides: OverridesOption = None,
) -> None:
    """Train a hashing model; writes config.yaml, metrics.jsonl, last.pt, best.pt, results.json."""
    from vrt.runtime.writeguard import output_path

    # The arguments first: a mistake there costs no import of the training stack.
    output = None if output_option is None else output_path(output_option, option="--output")
    if resume and output is None:
        raise typer.BadParameter("--resume needs --output, the run directory to continue")
    if config is None and not resume:
        raise typer.BadParameter("give a CONFIG file (or --resume --output DIR)")
    if output is None and os.environ.get("WORLD_SIZE", "1") != "1":
        # Each process would name its own directory from its own clock.
        raise typer.BadParameter("under torchrun give --output DIR, the run directory all processes share")

    from vrt.config import load_config
    from vrt.training.run_folder import check_output
    from vrt.training.runner import Runner

    if config is None:
        check_output(RunDirectory(output), resume=True)  # a run, before its config.yaml is trusted
        config = RunDirectory(output).config
    resolved = load_config(config, overrides or ())
    run_dir = output or default_run_dir(resolved.name)
    with run_session():
        result = Runner(resolved, run_dir, console=err_console).fit(resume=resume)
    if is_main_process() and result is not None:
        show_evaluation(result, title="Test queries vs training database", caption=f"run: {run_dir}")
    elif is_main_process():
        console.print(f"run: {run_dir}")
