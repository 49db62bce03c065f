"""Commands over Hamming indexes: index build, index info, search (torch only for a video query).

``index build`` takes its kinds, options, defaults and help from vrt.index (INDEX_KIND_SPECS):
a new kind or parameter there needs no change here.
"""

from __future__ import annotations

import inspect
import json
import zipfile
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrt.cli.common import app, console, err_console
from vrt.index.kinds import DEFAULT_KIND, INDEX_KIND_SPECS, INDEX_KINDS, IndexParameter

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table

    from vrt.index import HammingIndex

index_app = typer.Typer(help="Build and inspect Hamming indexes over codes files.", no_args_is_help=True)
app.add_typer(index_app, name="index")

# typer offers the members of an Enum as choices.
KindChoice = Enum("KindChoice", [(kind, kind) for kind in INDEX_KINDS], type=str)
_KIND_HELP = ", ".join(f"{kind} ({spec.summary})" for kind, spec in INDEX_KIND_SPECS.items()) + "."


def _argument_name(parameter: IndexParameter) -> str:
    """The Python name typer passes an option under: ``--hnsw-m`` -> ``hnsw_m``."""
    return parameter.option.removeprefix("--").replace("-", "_")


def _with_kind_parameters(command: Callable[..., None]) -> Callable[..., None]:
    """Declare an option per parameter of every index kind, passed to ``command``'s ``**given``.

    typer reads a command's options from its signature, so the signature gets one keyword
    parameter per :class:`IndexParameter`, None when the option is not given.
    """
    signature = inspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    options = [
        inspect.Parameter(
            _argument_name(parameter),
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                int | None,
                typer.Option(
                    parameter.option,
                    help=f"{kind}: {parameter.meaning} (default {parameter.default_text}).",
                ),
            ],
        )
        for kind, spec in INDEX_KIND_SPECS.items()
        for parameter in spec.parameters
    ]
    command.__signature__ = signature.replace(parameters=[*fixed, *options])
    return command


@index_app.command("build")
@_with_kind_parameters
def index_build(
    codes: Annotated[Path, typer.Option(help="Codes file (.npz) of the items to index.")],
    out: Annotated[str, typer.Option(help="Index file to write (one .npz, e.g. db.index.npz).")],
    kind: Annotated[KindChoice, typer.Option(help=_KIND_HELP)] = KindChoice[DEFAULT_KIND],
    force: Annotated[bool, typer.Option(help="Replace --out even if it is not an index file.")] = False,
    **given: int | None,
) -> None:
    """Index a codes file for `vrt search`; the index keeps ids, labels and class names."""
    from vrt.codes import load_codes
    from vrt.index import HammingIndex
    from vrt.index.storage import is_index_file
    from vrt.runtime.writeguard import check_replaceable, output_path

    params = _kind_params(kind.value, given)
    out_file = output_path(out, option="--out")
    check_replaceable(out_file, kind="index file", is_own=is_index_file, force=force)
    codeset = load_codes(codes)
    index = HammingIndex.build(codeset, kind=kind.value, params=params)
    index.save(out_file)
    detail = f", exact within Hamming radius {index.exact_radius}" if index.exact_radius is not None else ""
    err_console.print(
        f"Wrote a {index.kind} index of {len(index)} codes of {index.bits} bits to {out_file}{detail}",
        highlight=False,
    )


def _kind_params(kind: str, given: Mapping[str, int | None]) -> dict[str, int | None]:
    """The index parameters of ``kind`` from the options given; an option of another kind is an error."""
    for other, spec in INDEX_KIND_SPECS.items():
        misplaced = [p.option for p in spec.parameters if given[_argument_name(p)] is not None]
        if other != kind and misplaced:
            raise typer.BadParameter(f"{', '.join(misplaced)} apply to --kind {other}, not --kind {kind}")
    return {p.name: given[_argument_name(p)] for p in INDEX_KIND_SPECS[kind].parameters}


@index_app.command("info")
def index_info(
    index: Annotated[Path, typer.Argument(help="Index file written by `vrt index build`.")],
) -> None:
    """Print an index file's manifest (kind, bits, count, parameters) as JSON."""
    from vrt.index import read_manifest

    print(json.dumps(read_manifest(index), indent=2, sort_keys=True))


@app.command()
def search(
    index: Annotated[Path, typer.Option(help="Index file written by `vrt index build`.")],
    query: Annotated[
        str,
        typer.Option(
            help="A codes file (.npz, one query per row), an id in the index, or a video file/frame folder."
        ),
    ],
    topk: Annotated[int, typer.Option(help="Results per query.", min=1)] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (one list of results per query).")
    ] = False,
    checkpoint: Annotated[Path | None, typer.Option(help="Checkpoint that encodes a video query.")] = None,
    exclude_self: Annotated[
        bool, typer.Option(help="With an id query, leave the item itself out of its results.")
    ] = False,
) -> None:
    """Nearest items by Hamming distance: rank, id, class and distance per result."""
    from vrt.index import load_index

    loaded = load_index(index)
    titles, (distances, positions) = _run_query(loaded, query, topk, checkpoint, exclude_self=exclude_self)
    results = loaded.results(distances, positions)
    if as_json:
        print(json.dumps(results))
        return
    for title, rows in zip(titles, results, strict=True):
        console.print(_results_table(title, rows))


def _run_query(
    index: HammingIndex, query: str, topk: int, checkpoint: Path | None, *, exclude_self: bool
) -> tuple[list[str], tuple[np.ndarray, np.ndarray]]:
    """Resolve ``query`` (codes file, then id, then video) and search; returns table titles too."""
    from vrt.errors import VideoDecodeError
    from vrt.index import UnknownIdError

    path = Path(query)
    if path.is_file() and zipfile.is_zipfile(path):  # an .npz archive, whatever its name; videos are not zips
        from vrt.codes import load_codes

        if exclude_self:
            raise typer.BadParameter("--exclude-self applies to an id query, not a codes file")
        queries = load_codes(path)
        titles = [f"query {i}: {item_id}" for i, item_id in enumerate(queries.ids.tolist())]
        return titles, index.search(queries.codes, topk)
    if query in index:
        return [f"query: {query}"], index.search_ids([query], topk, exclude_self=exclude_self)
    if not path.exists():
        raise UnknownIdError(
            f"{index.unknown_id_message(query)}, and there is no file or folder of that name"
        )
    problem = _not_a_video(path)
    if problem is not None:  # say so now: --checkpoint would only fail to decode it
        raise VideoDecodeError(
            f"--query {query} is not an id in the index, not a codes file (.npz) and not a readable "
            f"video ({problem}); give an id, a codes file, or a video file or frame folder"
        )
    if exclude_self:
        raise typer.BadParameter("--exclude-self applies to an id query, not a video")
    if checkpoint is None:
        raise typer.BadParameter(
            f"{query} is a video, not an id in the index: pass --checkpoint to encode it"
        )
    return [f"query: {query}"], index.search(_encode_video(checkpoint, path, bits=index.bits), topk)


def _not_a_video(path: Path) -> str | None:
    """Why ``path`` cannot be encoded as a query video (a file PyAV cannot open, a folder without
    frames), or None."""
    from vrt.errors import VideoDecodeError
    from vrt.io.frames import list_frame_files
    from vrt.io.video import probe_video

    try:
        if path.is_dir():
            list_frame_files(path)
        else:
            probe_video(path)
    except VideoDecodeError as error:
        return str(error).removeprefix(f"{path}: ")
    return None


def _encode_video(checkpoint: Path, path: Path, *, bits: int) -> np.ndarray:
    from vrt.index import QueryMismatchError
    from vrt.inference import TrainedModel

    trained = TrainedModel.load(checkpoint)
    if trained.bits != bits:
        raise QueryMismatchError(
            f"the checkpoint {checkpoint} makes {trained.bits}-bit codes but the index has {bits}-bit codes"
        )
    return trained.encode_video(path)


def _results_table(title: str, rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table
    from rich.text import Text

    # Text cells: ids and class names may contain "[...]", which rich would read as markup.
    table = Table(title=Text(title), title_justify="left")
    table.add_column("rank", justify="right")
    table.add_column("id")
    table.add_column("class")
    table.add_column("distance", justify="right")
    for row in rows:
        class_name = row["class_name"] if row["class_name"] is not None else str(row["label"])
        table.add_row(str(row["rank"]), Text(row["id"]), Text(class_name), str(row["distance"]))
    return table
