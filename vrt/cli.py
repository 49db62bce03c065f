"""The ``vrt`` command line: a thin layer over the library.

Each command imports what it needs inside its body, so ``vrt --help`` and the commands that work
on code files (``eval --query/--database``) start without importing torch.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="vrt: video retrieval by learned binary hashing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")

console = Console()
err_console = Console(stderr=True)

OverridesOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional at runtime on older Pythons
    typer.Option("--set", help="Override a config value: --set model.head.bits=64 (repeatable)."),
]


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


class ListFormat(str, Enum):
    table = "table"
    markdown = "markdown"


def _default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (optional with --resume).")] = None,  # noqa: UP045
    output: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/NAME-TIME).")] = None,  # noqa: UP045
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
    run_dir = output or _default_run_dir(resolved.name)
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
    """Encode one split into a binary codes file (format: docs/codes.md)."""
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
    ] = None,  # noqa: UP045
    query: Annotated[Optional[Path], typer.Option(help="Query codes file (.npz).")] = None,  # noqa: UP045
    database: Annotated[Optional[Path], typer.Option(help="Database codes file (.npz).")] = None,  # noqa: UP045
    topk: Annotated[Optional[int], typer.Option(help="K of mAP@K and precision@K.", min=1)] = None,  # noqa: UP045
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
    output: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/demo-TIME).")] = None,  # noqa: UP045
    config: Annotated[Path | None, typer.Option(help="Config (default configs/demo_synthetic.yaml).")] = None,  # noqa: UP045
) -> None:
    """Train tiny3d on the synthetic dataset (CPU, ~2 min), export codes, print the mAP table."""
    from vrt.codes import load_codes, save_codes
    from vrt.config import load_config
    from vrt.metrics import evaluate_retrieval
    from vrt.reporting import retrieval_table
    from vrt.runner import Runner, model_from_checkpoint

    config_path = config or _bundled_config("demo_synthetic.yaml")
    resolved = load_config(config_path)
    run_dir = output or _default_run_dir("demo")
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


@app.command("list")
def list_components(
    kind: Annotated[
        str | None, typer.Argument(help="backbones, heads, losses, miners, datasets or samplers.")
    ] = None,  # noqa: UP045
    output_format: Annotated[
        ListFormat, typer.Option("--format", help="table or markdown.")
    ] = ListFormat.table,
) -> None:
    """List registered components (built-in and from plugins)."""
    from vrt.registry import REGISTRIES, normalize_name
    from vrt.reporting import registry_markdown, registry_rows, registry_table

    if kind is None:
        registries = list(REGISTRIES.values())
    else:
        key = normalize_name(kind)
        key = key if key in REGISTRIES else f"{key}s"
        if key not in REGISTRIES:
            raise typer.BadParameter(f"unknown kind {kind!r}; expected one of {', '.join(REGISTRIES)}")
        registries = [REGISTRIES[key]]
    rows = registry_rows(registries)
    if output_format is ListFormat.markdown:
        print(registry_markdown(rows), end="")
    else:
        console.print(registry_table(rows))
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


def _bundled_config(name: str) -> Path:
    """A config shipped in the repository's configs/ folder (the demo's, say)."""
    for folder in (Path.cwd() / "configs", Path(__file__).resolve().parent.parent / "configs"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"cannot find configs/{name}; pass --config PATH")


def main() -> None:
    """Entry point: expected problems (bad config, missing files) print one line, not a traceback."""
    from vrt.errors import USER_ERRORS

    try:
        app()
    except USER_ERRORS as error:
        err_console.print(f"[bold red]error:[/] {error}", highlight=False)
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        sys.exit(130)
