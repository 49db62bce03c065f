"""``vrt search``: the nearest items of codes, indexed ids or videos (torch only for video queries).

The queries are resolved by :func:`vrt.inference.queries.resolve_queries`; this adds the table,
the JSON and the page of results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrt.cli.common import app, bad_video_log, console, encoding_progress, err_console, load_trained, warn

if TYPE_CHECKING:
    from rich.table import Table

    from vrt.index import HammingIndex
    from vrt.inference.queries import SearchQueries


@app.command()
def search(
    index: Annotated[
        str, typer.Option(help="Index file written by `vrt index build`, or milvus://LOCATION/NAME.")
    ],
    query: Annotated[
        list[str],
        typer.Option(
            help="A codes file (.npz, one query per row), an id in the index, or videos: a video file, a "
            "folder of videos or a list file of videos, encoded with --checkpoint (repeatable)."
        ),
    ],
    topk: Annotated[int, typer.Option(help="Results per query.", min=1)] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (one list of results per query).")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained page of the results with thumbnails."),
    ] = None,
    videos: Annotated[
        Path | None,
        typer.Option(help="Folder of the indexed videos (ids are paths in it), for --html thumbnails."),
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint that encodes video queries.")] = None,
    exclude_self: Annotated[
        bool, typer.Option(help="With id queries, leave each item itself out of its results.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            help="Search with codes or a checkpoint of another model than the index's anyway; replace "
            "an --html file that is not a page vrt wrote."
        ),
    ] = False,
) -> None:
    """Nearest items by Hamming distance: rank, id, class and distance per result.

    Query codes and the checkpoint must be of the model that made the index's codes.
    """
    from vrt.index import load_index
    from vrt.inference.queries import resolve_queries

    if html is not None:  # before any work: a file that is not vrt's page is never replaced unasked
        from vrt.reporting.retrieval_page import is_vrt_page
        from vrt.runtime.writeguard import check_replaceable

        check_replaceable(html, kind="results page", is_own=is_vrt_page, force=force, option="--html")
    loaded = load_index(index)
    bad_videos = bad_video_log(None)
    with encoding_progress("encoding queries") as progress:
        queries = resolve_queries(
            loaded,
            query,
            encoder=None if checkpoint is None else lambda: load_trained(checkpoint, videos=True),
            exclude_self=exclude_self,
            force=force,
            progress=progress,
            on_skipped=bad_videos.record,
            warn=warn,
        )
    if queries.codes is None:
        distances, positions = loaded.search_ids(queries.ids, topk, exclude_self=exclude_self)
    else:
        distances, positions = loaded.search(queries.codes, topk)
    results = loaded.results(distances, positions)
    if html is not None:
        page = _write_results_page(html, loaded, queries, results, videos=videos)
        err_console.print(f"Wrote {page}", highlight=False)
    if as_json:
        print(json.dumps(results))
        return
    for item_id, rows in zip(queries.ids, results, strict=True):
        console.print(_results_table(f"query: {item_id}", rows))


def _results_table(title: str, rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    from vrt.codes import UNLABELLED

    # Text cells: ids and class names may contain "[...]", which rich would read as markup.
    table = Table(title=Text(title), title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("id")
    table.add_column("class")
    table.add_column("distance", justify="right")
    for row in rows:
        class_name = row["class_name"] or ("unlabelled" if row["label"] == UNLABELLED else str(row["label"]))
        table.add_row(str(row["rank"]), Text(row["id"]), Text(class_name), str(row["distance"]))
    return table


def _write_results_page(
    path: Path,
    index: HammingIndex,
    queries: SearchQueries,
    results: list[list[dict[str, Any]]],
    *,
    videos: Path | None,
) -> Path:
    """``vrt search --html``: each query with its ranked results and thumbnails, one page."""
    from vrt.reporting.retrieval_page import QueryResult, RankedItem, write_search_page
    from vrt.reporting.thumbnails import video_thumbnails

    roots = [videos] if videos is not None else []
    pages = [
        QueryResult(
            id=item_id,
            label=label,
            results=[RankedItem(row["id"], row["label"], row["distance"]) for row in rows],
        )
        for item_id, label, rows in zip(queries.ids, queries.labels, results, strict=True)
    ]
    return write_search_page(
        path,
        pages,
        class_names=queries.class_names,
        thumbnails=video_thumbnails(roots),
        query_thumbnails=video_thumbnails(roots, paths=queries.paths),
        summary=f"{len(pages)} queries against an index of {len(index)} items ({index.bits}-bit codes, "
        f"{index.kind} index), nearest first by Hamming distance.",
    )
