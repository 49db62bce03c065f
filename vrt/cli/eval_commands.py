"""Commands that evaluate and compare: eval, report.

``vrt eval`` on code files and ``vrt report`` never import torch: they start in a fraction of
a second and run where the training stack is not installed.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from vrt.cli.common import DataOverridesOption, app, console, err_console

if TYPE_CHECKING:
    from vrt.codes import CodeSet


class TableFormat(str, Enum):
    markdown = "markdown"
    csv = "csv"


@app.command("eval")
def evaluate(
    checkpoint: Annotated[
        Optional[Path], typer.Option(help="Encode test (queries) vs train (database).")  # noqa: UP045
    ] = None,
    query: Annotated[Optional[Path], typer.Option(help="Query codes file (.npz).")] = None,  # noqa: UP045
    database: Annotated[Optional[Path], typer.Option(help="Database codes file (.npz).")] = None,  # noqa: UP045
    topk: Annotated[Optional[int], typer.Option(help="K of mAP@K, precision@K and recall@K.", min=1)] = None,  # noqa: UP045
    radius: Annotated[int, typer.Option(help="r of the precision within Hamming radius r.", min=0)] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    output_option: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--output",
            help="Write metrics.json, the plots, retrieval.html (and bad_videos.txt) here; nothing is "
            "written unless given (e.g. --output RUN_DIR/eval, which vrt report reads).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Write into --output even if it holds files vrt did not write.")
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write pr_curve.png and map_at_k.png.")
    ] = True,
    workers: Annotated[Optional[int], typer.Option(help="Threads (default: one per core).", min=1)] = None,  # noqa: UP045
    videos: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="With code files: the folder the ids are paths in, for retrieval.html thumbnails."),
    ] = None,
    overrides: DataOverridesOption = None,
) -> None:
    """Report mAP, mAP@K, precision@K, recall@K (tie-aware and in database order), P@H<=r and code diagnostics.

    Warnings (collapsed codes, K beyond the database) go to stderr, one line each.
    """
    from vrt.codes import check_comparable
    from vrt.metrics import score_queries

    output = None if output_option is None else _output_folder(output_option, force=force)
    if checkpoint is not None and (query is not None or database is not None):
        raise typer.BadParameter("give either --checkpoint or --query with --database, not both")
    if checkpoint is not None and videos is not None:
        raise typer.BadParameter(
            "--videos applies to code files; with --checkpoint the videos are the config's"
        )
    if checkpoint is not None:
        query_codes, database_codes, k, protocol, out_dir, thumbnails = _encode_checkpoint(
            checkpoint, topk=topk, radius=radius, output=output, overrides=overrides or []
        )
        if query_codes is None:  # a torchrun process other than the first: it only helped encode
            return
    elif query is not None and database is not None:
        from vrt.codes import load_codes
        from vrt.reporting.metrics_file import codes_record, protocol_record
        from vrt.reporting.thumbnails import video_thumbnails

        k, out_dir = topk or 100, output
        thumbnails = video_thumbnails([videos]) if videos is not None else None
        query_codes, database_codes = load_codes(query), load_codes(database)
        protocol = protocol_record(
            query=codes_record(query_codes, source="codes file", path=query),
            database=codes_record(database_codes, source="codes file", path=database),
            topk=k,
            radius=radius,
        )
    else:
        raise typer.BadParameter("give --checkpoint, or both --query and --database")
    names = (str(query), str(database)) if checkpoint is None else ("the test split", "the train split")
    check_comparable(query_codes, database_codes, query_name=names[0], database_name=names[1])
    if radius > query_codes.bits:
        raise typer.BadParameter(f"--radius must be at most the code length ({query_codes.bits} bits)")

    scores = score_queries(
        query_codes, database_codes, topk=k, radius=radius, workers=workers, curve=out_dir is not None
    )
    report = scores.report()
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    if out_dir is not None:
        from vrt.reporting.metrics_file import write_eval_outputs

        written = write_eval_outputs(out_dir, scores, protocol=protocol, plots=plots)
        written.append(_write_retrieval_page(out_dir, query_codes, database_codes, thumbnails))
        names = ", ".join(path.name for path in written)
        err_console.print(f"Wrote {names} to {out_dir}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(report.to_dict()))
    else:
        from vrt.reporting.tables import retrieval_table

        console.print(retrieval_table(report))


def _output_folder(text: str, *, force: bool) -> Path:
    """--output as a folder vrt may write: new, empty, or holding vrt's own results."""
    from vrt.reporting.metrics_file import holds_eval_outputs
    from vrt.rundir import RunDirectory
    from vrt.runtime.writeguard import check_output_folder, output_path

    folder = output_path(text, option="--output")
    check_output_folder(
        folder,
        what="evaluation results",
        is_own=lambda path: holds_eval_outputs(path) or RunDirectory(path).is_marked(),
        force=force,
    )
    return folder


def _encode_checkpoint(
    checkpoint: Path, *, topk: int | None, radius: int, output: Path | None, overrides: list[str]
) -> tuple[Any, Any, int, dict[str, Any], Path | None, Any]:
    """Codes of the test (queries) and train (database) splits, the protocol and the thumbnails.

    Under torchrun every process helps encode; only the first gets the codes, the others None.
    Nothing is written anywhere (the checkpoint's run directory included) unless ``output`` is given.
    """
    from vrt.cli.encoding import bad_video_log, encode_with_progress, load_trained
    from vrt.cli.run_commands import is_main_process, run_session
    from vrt.reporting.metrics_file import checkpoint_protocol
    from vrt.reporting.thumbnails import dataset_thumbnails

    with run_session():
        trained = load_trained(checkpoint, overrides)
        bad_videos = bad_video_log(output)
        query_codes = encode_with_progress(trained, "test", bad_videos=bad_videos)
        database_codes = encode_with_progress(trained, "train", bad_videos=bad_videos)
    k = topk or trained.config.eval.topk
    if not is_main_process():
        return None, None, k, {}, output, None
    protocol = checkpoint_protocol(trained, query_codes, database_codes, topk=k, radius=radius)
    sources = [trained.splits.test_source, trained.splits.train_source]
    thumbnails = dataset_thumbnails(sources) if output else None
    return query_codes, database_codes, k, protocol, output, thumbnails


def _write_retrieval_page(out_dir: Path, query: CodeSet, database: CodeSet, thumbnails: Any) -> Path:
    """retrieval.html: sampled queries with their top results (thumbnails with a checkpoint or --videos)."""
    from vrt.reporting.retrieval_page import write_retrieval_page

    return write_retrieval_page(out_dir, query=query, database=database, thumbnails=thumbnails)


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
