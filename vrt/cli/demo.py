"""``vrt demo``: train tiny3d on the synthetic dataset and print the mAP table (``make demo``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import (
    OverridesOption,
    app,
    bundled_config,
    default_run_dir,
    err_console,
    run_session,
    show_evaluation,
)


@app.command()
def demo(
    output_option: Annotated[
        str | None, typer.Option("--output", help="Run directory (default runs/demo-TIME).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config (default: the bundled demo config).")] = None,
    overrides: OverridesOption = None,
) -> None:
    """Train tiny3d on the synthetic dataset (CPU, under a minute), export codes, print the mAP table."""
    from vrt.config import load_config
    from vrt.inference.evaluation import evaluate
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
    result = evaluate(query=paths.codes("test"), database=paths.codes("train"), topk=resolved.eval.topk)
    show_evaluation(result, title="Demo: test queries vs training database", caption=f"run: {run_dir}")
