"""Commands that train, encode and evaluate: train, export, eval, demo."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import OverridesOption, app, bundled_config, console, default_run_dir, err_console


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (optional with --resume).")] = None,
    output: Annotated[Path | None, typer.Option(help="Run directory (default runs/NAME-TIME).")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --output from its last.pt.")] = False,
    overrides: OverridesOption = None,
) -> None:
    """Train a hashing model; writes config.yaml, metrics.jsonl, last.pt, best.pt, results.json."""
    from vrt.config import load_config
    from vrt.reporting import retrieval_table
    from vrt.runner import Runner

    if resume and output is None:
        raise typer.BadParameter("--resume needs --output, the run directory to continue")
    if config is None:
        if not resume:
            raise typer.BadParameter("give a CONFIG file (or --resume --output DIR)")
        config = output / "config.yaml"
    resolved = load_config(config, overrides or ())
    run_dir = output or default_run_dir(resolved.name)
    report = Runner(resolved, run_dir, console=err_console).fit(resume=resume)
    console.print(
        retrieval_table(report, title="Test queries vs training database", caption=f"run: {run_dir}")
    )


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `vrt train`.")],
    split: Annotated[Split, typer.Option(help="train (the database), val, or test (the queries).")],
    out: Annotated[Path, typer.Option(help="Output .npz codes file.")],
) -> None:
    """Encode one split into a binary codes file (format: docs/metrics.md)."""
    from vrt.codes import save_codes
    from vrt.runner import Runner, model_from_checkpoint

    model, config, _ = model_from_checkpoint(checkpoint)
    runner = Runner(config, checkpoint.parent, console=err_console)
    codes = runner.encode(model, split.value)
    save_codes(out, codes)
    err_console.print(f"Wrote {len(codes.labels)} codes of {codes.bits} bits to {out}")


@app.command("eval")
def evaluate(
    checkpoint: Annotated[
        Path | None, typer.Option(help="Encode test (queries) vs train (database).")
    ] = None,
    query: Annotated[Path | None, typer.Option(help="Query codes file (.npz).")] = None,
    database: Annotated[Path | None, typer.Option(help="Database codes file (.npz).")] = None,
    topk: Annotated[int | None, typer.Option(help="K of mAP@K and precision@K.", min=1)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Report mAP, mAP@K and precision@K, from a checkpoint or from two codes files."""
    from vrt.metrics import evaluate_retrieval
    from vrt.reporting import retrieval_table

    if checkpoint is not None and (query is not None or database is not None):
        raise typer.BadParameter("give either --checkpoint or --query with --database, not both")
    if checkpoint is not None:
        from vrt.runner import Runner, model_from_checkpoint

        model, config, _ = model_from_checkpoint(checkpoint)
        k = topk or config.eval.topk
        runner = Runner(config, checkpoint.parent, console=err_console)
        query_codes, database_codes = runner.encode(model, "test"), runner.encode(model, "train")
    elif query is not None and database is not None:
        from vrt.codes import load_codes

        k = topk or 100
        query_codes, database_codes = load_codes(query), load_codes(database)
    else:
        raise typer.BadParameter("give --checkpoint, or both --query and --database")
    report = evaluate_retrieval(query_codes, database_codes, topk=k)
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        console.print(retrieval_table(report))


@app.command()
def demo(
    output: Annotated[Path | None, typer.Option(help="Run directory (default runs/demo-TIME).")] = None,
    config: Annotated[Path | None, typer.Option(help="Config (default configs/demo_synthetic.yaml).")] = None,
) -> None:
    """Train tiny3d on the synthetic dataset (CPU, under a minute), export codes, print the mAP table."""
    from vrt.codes import load_codes, save_codes
    from vrt.config import load_config
    from vrt.metrics import evaluate_retrieval
    from vrt.reporting import retrieval_table
    from vrt.runner import Runner, model_from_checkpoint

    config_path = config or bundled_config("demo_synthetic.yaml")
    resolved = load_config(config_path)
    run_dir = output or default_run_dir("demo")
    Runner(resolved, run_dir, console=err_console).fit()

    model, trained_config, _ = model_from_checkpoint(run_dir / "best.pt")
    runner = Runner(trained_config, run_dir, console=err_console)
    for split in ("train", "test"):
        save_codes(run_dir / f"codes_{split}.npz", runner.encode(model, split))
    report = evaluate_retrieval(
        load_codes(run_dir / "codes_test.npz"),
        load_codes(run_dir / "codes_train.npz"),
        topk=resolved.eval.topk,
    )
    console.print(
        retrieval_table(report, title="Demo: test queries vs training database", caption=f"run: {run_dir}")
    )
