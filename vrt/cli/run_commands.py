"""Commands that train and encode: train, export, demo (eval lives in eval_commands)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import (
    DataOverridesOption,
    OverridesOption,
    app,
    bundled_config,
    console,
    default_run_dir,
    err_console,
)
from vrt.rundir import RunDirectory
from vrt.training.interrupt import TrainingInterrupted


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


@contextmanager
def run_session() -> Iterator[None]:
    """What every training/encoding command shares: a stop on a signal exits with the shell's
    code (130 for SIGINT, 143 for SIGTERM) and says how to resume; under torchrun the process
    group is left at the end."""
    try:
        yield
    except TrainingInterrupted as stopped:
        if is_main_process():
            err_console.print(f"[bold yellow]stopped:[/] {stopped}", highlight=False)
            err_console.print(
                f"Resume with: vrt train --output {stopped.run_dir} --resume", highlight=False, soft_wrap=True
            )
        raise typer.Exit(stopped.exit_code) from None
    finally:
        if "torch" in sys.modules:  # nothing to leave when the command never imported torch
            from vrt.runtime import distributed

            distributed.shutdown()


def is_main_process() -> bool:
    """Rank 0 prints results and writes files; the other torchrun processes stay silent."""
    return os.environ.get("RANK", "0") == "0"


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
    from vrt.reporting.tables import retrieval_table
    from vrt.training.run_folder import check_output
    from vrt.training.runner import Runner

    if config is None:
        check_output(RunDirectory(output), resume=True)  # a run, before its config.yaml is trusted
        config = RunDirectory(output).config
    resolved = load_config(config, overrides or ())
    run_dir = output or default_run_dir(resolved.name)
    with run_session():
        report = Runner(resolved, run_dir, console=err_console).fit(resume=resume)
    if is_main_process():
        console.print(
            retrieval_table(report, title="Test queries vs training database", caption=f"run: {run_dir}")
        )


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `vrt train`.")],
    split: Annotated[Split, typer.Option(help="train (the database), val, or test (the queries).")],
    out: Annotated[str, typer.Option(help="Output .npz codes file.")],
    overrides: DataOverridesOption = None,
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not a codes file.")] = False,
) -> None:
    """Encode one split into a binary codes file (format: docs/metrics.md)."""
    from vrt.cli.encoding import bad_video_log, encode_with_progress, load_trained
    from vrt.codes import is_codes_file, save_codes
    from vrt.runtime.writeguard import check_replaceable, output_path

    out_file = output_path(out, option="--out")
    check_replaceable(out_file, kind="codes file", is_own=is_codes_file, force=force)  # before encoding
    with run_session():
        trained = load_trained(checkpoint, overrides or ())
        codes = encode_with_progress(trained, split.value, bad_videos=bad_video_log(None))
    if is_main_process():
        save_codes(out_file, codes)
        err_console.print(f"Wrote {len(codes.labels)} codes of {codes.bits} bits to {out_file}")


@app.command()
def demo(
    output_option: Annotated[
        str | None, typer.Option("--output", help="Run directory (default runs/demo-TIME).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config (default: the bundled demo config).")] = None,
    overrides: OverridesOption = None,
) -> None:
    """Train tiny3d on the synthetic dataset (CPU, under a minute), export codes, print the mAP table."""
    from vrt.codes import load_codes
    from vrt.config import load_config
    from vrt.metrics import evaluate_retrieval
    from vrt.reporting.tables import retrieval_table
    from vrt.runtime.writeguard import output_path
    from vrt.training.runner import Runner

    output = None if output_option is None else output_path(output_option, option="--output")
    config_path = config or bundled_config("demo_synthetic.yaml")
    resolved = load_config(config_path, overrides or ())
    run_dir = output or default_run_dir("demo")
    runner = Runner(resolved, run_dir, console=err_console)
    with run_session():
        runner.fit()  # also exports the codes of best.pt on test and train
    paths = runner.paths
    # Evaluated from the exported files, as a user would with `vrt eval --query --database`.
    report = evaluate_retrieval(
        load_codes(paths.codes("test")), load_codes(paths.codes("train")), topk=resolved.eval.topk
    )
    console.print(
        retrieval_table(report, title="Demo: test queries vs training database", caption=f"run: {run_dir}")
    )
