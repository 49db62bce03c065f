"""``vrt eval``: retrieval metrics of a checkpoint, or of two codes files (then without torch).

Both go through :func:`vrt.inference.evaluation.evaluate`, the one evaluation, which also
writes ``results.json`` and the plots with ``--output``; this adds the table, the warnings on
stderr and the page of retrieval examples.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from vrt.cli.common import (
    DataOverridesOption,
    app,
    bad_video_log,
    encoding_progress,
    err_console,
    is_main_process,
    load_trained,
    run_session,
    show_evaluation,
    warn,
)

if TYPE_CHECKING:
    from vrt.inference.evaluation import Evaluation


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
            help="Write results.json, the plots, retrieval.html (and bad_videos.txt) here; nothing is "
            "written unless given (e.g. --output RUN_DIR/eval, which vrt report reads).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            help="Write into --output even if it holds files vrt did not write, and compare codes of "
            "different models anyway."
        ),
    ] = False,
    plots: Annotated[
        bool, typer.Option("--plots/--no-plots", help="Write pr_curve.png and map_at_k.png.")
    ] = True,
    keep_self: Annotated[
        bool,
        typer.Option(
            help="When queries are database items too (the same file, or the same ids), keep each "
            "one's own item in its ranking (it finds itself first). By default it is left out."
        ),
    ] = False,
    database_order: Annotated[
        bool,
        typer.Option(
            "--database-order",
            help="Also give the values with ties broken in database order, which rank every pair "
            "(slower; --output always writes them). The headline values are tie-aware.",
        ),
    ] = False,
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
    from vrt.inference.evaluation import evaluate as evaluate_codes

    output = None if output_option is None else _output_folder(output_option, force=force)
    if checkpoint is not None and (query is not None or database is not None):
        raise typer.BadParameter("give either --checkpoint or --query with --database, not both")
    if checkpoint is not None and videos is not None:
        raise typer.BadParameter(
            "--videos applies to code files; with --checkpoint the videos are the config's"
        )
    if checkpoint is None and (query is None or database is None):
        raise typer.BadParameter("give --checkpoint, or both --query and --database")
    if checkpoint is None:
        result = evaluate_codes(
            query=query,
            database=database,
            topk=topk,
            radius=radius,
            output=output,
            plots=plots,
            database_order=database_order or output is not None,
            keep_self=keep_self,
            force=force,
            workers=workers,
            warn=warn,
        )
        thumbnails = _video_thumbnails(videos) if videos is not None and output is not None else None
    else:
        with run_session():
            trained = load_trained(checkpoint, overrides or [])
            bad_videos = bad_video_log(output)
            main = is_main_process()  # every torchrun process helps encode; the first writes and prints
            result = evaluate_codes(
                trained,
                topk=topk,
                radius=radius,
                output=output if main else None,
                plots=plots,
                database_order=database_order or output is not None,
                force=force,
                workers=workers,
                progress=encoding_progress,
                on_skipped=bad_videos.record,
                warn=warn,
            )
        if not main:
            return
        thumbnails = _dataset_thumbnails(trained) if output else None
    _show(result, output=output, thumbnails=thumbnails, as_json=as_json)


def _show(result: Evaluation, *, output: Path | None, thumbnails: Any, as_json: bool) -> None:
    report = result.report
    for warning in report.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    shared = result.shared_items["count"]
    if shared and result.shared_items["left_out"]:
        err_console.print(
            f"note: {shared} of the {len(result.query)} queries are database items too: each one's own item "
            "is left out of its ranking (tie-aware values only; --keep-self keeps them)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    elif shared:
        err_console.print(
            f"warning: {shared} of the {len(result.query)} queries are database items too and find "
            "themselves first (--keep-self): every figure counts those matches",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if output is not None:
        from vrt.reporting.retrieval_page import write_retrieval_page

        page = write_retrieval_page(
            output, query=result.query, database=result.database, thumbnails=thumbnails
        )
        names = ", ".join(path.name for path in [*result.written, page])
        err_console.print(f"Wrote {names} to {output}", highlight=False, soft_wrap=True)
    if as_json:
        print(json.dumps(result.metrics()))
        return
    show_evaluation(result)


def _video_thumbnails(videos: Path) -> Any:
    from vrt.reporting.thumbnails import video_thumbnails

    return video_thumbnails([videos])


def _dataset_thumbnails(trained: Any) -> Any:
    from vrt.reporting.thumbnails import dataset_thumbnails

    return dataset_thumbnails([trained.splits.test_source, trained.splits.train_source])


def _output_folder(text: str, *, force: bool) -> Path:
    """--output as a folder vrt may write: new, empty, or holding vrt's own results."""
    from vrt.reporting.results import holds_results
    from vrt.rundir import RunDirectory
    from vrt.runtime.writeguard import check_output_folder, output_path

    folder = output_path(text, option="--output")
    check_output_folder(
        folder,
        what="evaluation results",
        is_own=lambda path: holds_results(path) or RunDirectory(path).is_marked(),
        force=force,
    )
    return folder
