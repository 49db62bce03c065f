"""Commands over Hamming indexes: index build/info/add/remove, search (torch only for video queries).

``index build`` takes its kinds, options, defaults and help from vrt.index (INDEX_KIND_SPECS):
a new kind or parameter there needs no change here.
"""

from __future__ import annotations

import inspect
import json
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vrt.cli.common import app, console, err_console
from vrt.index.kinds import DEFAULT_KIND, INDEX_KIND_SPECS, INDEX_KINDS, IndexParameter

if TYPE_CHECKING:
    import numpy as np
    from rich.table import Table

    from vrt.codes import CodeSet
    from vrt.index import HammingIndex
    from vrt.inference.collection import Collection

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
    """Print an index file's manifest (kind, bits, count, parameters) and its items as JSON.

    ``items`` counts the labelled and unlabelled (label -1) items and the classes.
    """
    from vrt.index import describe_items, read_manifest

    manifest = read_manifest(index)
    print(json.dumps({**manifest, "items": describe_items(index)}, indent=2, sort_keys=True))


@index_app.command("add")
def index_add(
    index: Annotated[Path, typer.Option(help="Index file to grow (rewritten atomically).")],
    codes: Annotated[Path, typer.Option(help="Codes file (.npz) of the items to add.")],
    replace: Annotated[
        bool, typer.Option(help="Give ids already in the index their new codes (else they are refused).")
    ] = False,
) -> None:
    """Add the items of a codes file to an index; its kind and parameters stay as they are."""
    from vrt.codes import load_codes
    from vrt.index import add_codes, load_index

    before = load_index(index)
    added = load_codes(codes)
    after = add_codes(before, added, replace=replace)
    after.save(index)
    replaced = len(before) + len(added) - len(after)
    err_console.print(
        f"Added {len(added) - replaced} and replaced {replaced} items: {index} now holds {len(after)} "
        f"codes of {after.bits} bits ({after.kind} index)",
        highlight=False,
    )


@index_app.command("remove")
def index_remove(
    index: Annotated[Path, typer.Option(help="Index file to shrink (rewritten atomically).")],
    ids: Annotated[Path, typer.Option(help="Text file of the ids to remove, one per line.")],
) -> None:
    """Remove items from an index by id; unknown ids are an error and nothing is removed then."""
    from vrt.index import load_index, read_id_list, remove_ids

    before = load_index(index)
    after = remove_ids(before, read_id_list(ids))
    after.save(index)
    removed = len(before) - len(after)
    err_console.print(
        f"Removed {removed} item{'s' * (removed != 1)}: {index} now holds {len(after)} codes "
        f"of {after.bits} bits ({after.kind} index)",
        highlight=False,
    )


@app.command()
def search(
    index: Annotated[Path, typer.Option(help="Index file written by `vrt index build`.")],
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
) -> None:
    """Nearest items by Hamming distance: rank, id, class and distance per result."""
    from vrt.index import load_index

    loaded = load_index(index)
    queries = _resolve_queries(loaded, query, checkpoint)
    if exclude_self and queries.codes is not None:
        raise typer.BadParameter("--exclude-self applies to id queries only")
    if queries.codes is None:
        distances, positions = loaded.search_ids(queries.ids, topk, exclude_self=exclude_self)
    else:
        distances, positions = loaded.search(queries.codes, topk)
    results = loaded.results(distances, positions)
    if html is not None:
        page = _write_search_page(html, loaded, queries, results, videos=videos)
        err_console.print(f"Wrote {page}", highlight=False)
    if as_json:
        print(json.dumps(results))
        return
    for item_id, rows in zip(queries.ids, results, strict=True):
        console.print(_results_table(f"query: {item_id}", rows))


@dataclass
class _Queries:
    """The queries of a search: ids and labels, and their codes unless every query is an indexed id."""

    ids: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)  # packed codes, one per query
    all_indexed: bool = True
    class_names: list[str] | None = None
    paths: dict[str, Path] = field(default_factory=dict)  # source videos of encoded queries

    @property
    def codes(self) -> np.ndarray | None:
        import numpy as np

        return None if self.all_indexed else np.stack(self.rows)

    def extend(self, index: HammingIndex, codes: CodeSet, *, indexed: bool = False) -> None:
        """Append the queries of ``codes``, their labels put in the index's class names when possible."""
        from vrt.codes import UNLABELLED
        from vrt.index import IndexEditError, QueryMismatchError
        from vrt.index.editing import merge_class_names

        if codes.bits != index.bits:
            raise QueryMismatchError(
                f"query codes have {codes.bits} bits but the index has {index.bits}-bit codes"
            )
        try:
            self.class_names, labels = merge_class_names(index.codeset, codes)
        except IndexEditError:  # bare class numbers against names: the labels cannot be shown
            labels = [UNLABELLED] * len(codes)
        self.ids += codes.ids.tolist()
        self.labels += [int(label) for label in labels]
        self.rows += list(codes.codes)
        self.all_indexed &= indexed


def _resolve_queries(index: HammingIndex, values: list[str], checkpoint: Path | None) -> _Queries:
    """Each ``--query``, in order, as a codes file, else an indexed id, else videos to encode."""
    from vrt.codes import CodeSet, load_codes
    from vrt.index import UnknownIdError

    kinds: list[str] = []
    for value in values:
        path = Path(value)
        if path.is_file() and zipfile.is_zipfile(
            path
        ):  # a codes archive, whatever its name: no video is a zip
            kinds.append("codes")
        elif value in index:
            kinds.append("id")
        elif path.exists():
            kinds.append("videos")
        else:
            raise UnknownIdError(
                f"{index.unknown_id_message(value)}, and there is no file or folder of that name"
            )
    # List the videos first: a source that holds none is said so, not met with a call for --checkpoint.
    collections = {
        value: _list_query_videos(value)
        for value, kind in zip(values, kinds, strict=True)
        if kind == "videos"
    }
    if collections and checkpoint is None:
        shown = ", ".join(list(collections)[:3])
        raise typer.BadParameter(f"{shown}: videos, not ids in the index: pass --checkpoint to encode them")
    encoder = _VideoQueries(index, checkpoint) if collections else None
    queries = _Queries(class_names=index.class_names)
    for value, kind in zip(values, kinds, strict=True):
        if kind == "codes":
            queries.extend(index, load_codes(value))
        elif kind == "id":
            position = index.position_of(value)
            item = CodeSet(
                codes=index.codes[position : position + 1],
                bits=index.bits,
                labels=index.labels[position : position + 1],
                ids=[value],
                class_names=index.class_names,
            )
            queries.extend(index, item, indexed=True)
        else:
            assert encoder is not None
            encoder.encode(value, collections[value], queries)
    return queries


def _list_query_videos(value: str) -> Collection:
    """The videos a ``--query`` names; one that names none is an error saying what it is not."""
    from vrt.errors import VideoDecodeError, VrtError
    from vrt.inference.collection import list_collection
    from vrt.io.video import probe_video

    try:
        collection = list_collection([value])
        problem = None if collection.items else "; ".join(list(collection.unreadable.values())[:2])
        first = collection.items[0] if collection.items else None
        if first is not None and first.kind == "video" and first.path == Path(value):  # one video file
            probe_video(first.path)  # opened now, so that a text file named .avi is not met with --checkpoint
    except VideoDecodeError as error:
        problem = str(error).removeprefix(f"{value}: ")
    except VrtError as error:
        problem = str(error)
    if problem is not None:
        raise VideoDecodeError(
            f"--query {value} is not an id in the index, not a codes file (.npz) and not a readable "
            f"video ({problem}); give an id, a codes file, or video files, frame folders or a list of them"
        )
    return collection


class _VideoQueries:
    """Encodes query videos with one checkpoint, loaded on first use."""

    def __init__(self, index: HammingIndex, checkpoint: Path | None) -> None:
        self.index, self.checkpoint = index, checkpoint
        self._trained = None

    def encode(self, source: str, collection: Collection, queries: _Queries) -> None:
        from vrt.cli.collection_commands import encode_videos, load_encoder
        from vrt.index import QueryMismatchError

        if self._trained is None:
            self._trained = load_encoder(self.checkpoint, bits=self.index.bits)
        encoded = encode_videos(self._trained, collection)
        if not len(encoded):
            raise QueryMismatchError(f"{source}: no video could be read (see the warnings above)")
        queries.extend(self.index, encoded)
        queries.paths.update({item.id: item.path for item in collection.items})


def _write_search_page(
    path: Path,
    index: HammingIndex,
    queries: _Queries,
    results: list[list[dict[str, Any]]],
    *,
    videos: Path | None,
) -> Path:
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
