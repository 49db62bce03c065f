"""``vrt index build/info/add/remove``: Hamming indexes over codes files (no torch).

``index build`` takes its kinds, options, defaults and help from vrt.index (INDEX_KIND_SPECS):
a new kind or parameter there needs no change here.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import ForceOption, app, err_console, warn
from vrt.index.kinds import DEFAULT_KIND, INDEX_KIND_SPECS, INDEX_KINDS, IndexParameter

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
    out: Annotated[
        str,
        typer.Option(
            help="Index file to write (one .npz, e.g. db.index.npz), or a Milvus collection: "
            "milvus://FILE.db/NAME (milvus-lite) or milvus://HOST:PORT/NAME (a server)."
        ),
    ],
    kind: Annotated[KindChoice, typer.Option(help=_KIND_HELP)] = KindChoice[DEFAULT_KIND],
    force: Annotated[
        bool,
        typer.Option(help="Replace --out even if it is not an index file (or an existing Milvus index)."),
    ] = False,
    **given: int | None,
) -> None:
    """Index a codes file for `vrt search`; the index keeps ids, labels and class names."""
    from vrt.codes import load_codes
    from vrt.codes.files import check_items_kept
    from vrt.index import HammingIndex
    from vrt.index.milvus import is_milvus_reference
    from vrt.index.storage import is_index_file
    from vrt.runtime.writeguard import check_replaceable, output_path

    params = _kind_params(kind.value, given)
    if is_milvus_reference(out):
        _build_milvus(codes, out, kind=kind.value, params=params, force=force)
        return
    out_file = output_path(out, option="--out")
    check_replaceable(out_file, kind="index file", is_own=is_index_file, force=force)
    codeset = load_codes(codes)
    check_items_kept(out_file, codeset.ids, kind="an index", force=force)
    index = HammingIndex.build(codeset, kind=kind.value, params=params)
    index.save(out_file)
    detail = f", exact within Hamming radius {index.exact_radius}" if index.exact_radius is not None else ""
    err_console.print(
        f"Wrote a {index.kind} index of {len(index)} codes of {index.bits} bits to {out_file}{detail}",
        highlight=False,
    )


def _build_milvus(codes: Path, out: str, *, kind: str, params: Mapping[str, int | None], force: bool) -> None:
    """``index build --out milvus://...``: the codes into a Milvus collection (exact search)."""
    from vrt.codes import load_codes
    from vrt.index.milvus import MilvusIndex

    if kind != DEFAULT_KIND or any(value is not None for value in params.values()):
        raise typer.BadParameter(
            "a Milvus index searches exactly (BIN_FLAT); --kind and its options apply to index files",
            param_hint="--kind",
        )
    index = MilvusIndex.create(load_codes(codes), out, replace=force)
    err_console.print(
        f"Wrote {len(index)} codes of {index.bits} bits to the Milvus collection {index.location} (exact)",
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
    index: Annotated[str, typer.Argument(help="Index file written by `vrt index build`, or milvus://...")],
) -> None:
    """Print an index's manifest (kind, bits, count, parameters), its items, its size on disk and
    in memory, and the model that made its codes, as JSON.

    ``items`` counts the labelled and unlabelled (label -1) items and the classes; ``encoder``
    is the checkpoint (SHA-256 and path), backbone, head, code length and clip settings of the
    model, or null for an index built before vrt recorded it. ``size`` gives the file's bytes
    and the bytes a loaded index holds (its arrays and the faiss structure), measured by
    loading it.
    """
    from vrt.index import describe_items, describe_size, load_index, read_manifest
    from vrt.index.milvus import is_milvus_reference

    if is_milvus_reference(index):
        loaded = load_index(index)
        manifest = {
            "kind": loaded.kind,
            "bits": loaded.bits,
            "count": len(loaded),
            **loaded.describe_storage(),
        }
        items, encoder = describe_items(loaded.codeset), loaded.encoder
        size = None
    else:
        manifest = read_manifest(index)
        loaded = load_index(index)
        items, encoder, size = (
            describe_items(loaded.codeset),
            loaded.encoder,
            describe_size(Path(index), loaded),
        )
    described = {
        **manifest,
        "items": items,
        "size": size,
        "encoder": None if encoder is None else {"model": encoder.describe(), **encoder.to_dict()},
    }
    print(json.dumps(described, indent=2, sort_keys=True))


@index_app.command("add")
def index_add(
    index: Annotated[str, typer.Option(help="Index file to grow (rewritten atomically), or milvus://...")],
    codes: Annotated[Path, typer.Option(help="Codes file (.npz) of the items to add.")],
    replace: Annotated[
        bool, typer.Option(help="Give ids already in the index their new codes (else they are refused).")
    ] = False,
    force: ForceOption = False,
) -> None:
    """Add the items of a codes file to an index; its kind and parameters stay as they are.

    The codes must come from the model that made the index's (the same checkpoint and settings).
    """
    from vrt.codes import load_codes
    from vrt.index import add_codes, load_index

    before = load_index(index)
    added = load_codes(codes)
    after = add_codes(before, added, replace=replace, force=force, codes_name=str(codes), warn=warn)
    after.save(index)
    replaced = len(before) + len(added) - len(after)
    err_console.print(
        f"Added {len(added) - replaced} and replaced {replaced} items: {index} now holds {len(after)} "
        f"codes of {after.bits} bits ({after.kind} index)",
        highlight=False,
    )


@index_app.command("remove")
def index_remove(
    index: Annotated[str, typer.Option(help="Index file to shrink (rewritten atomically), or milvus://...")],
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


@index_app.command("merge")
def index_merge(
    indexes: Annotated[
        list[Path], typer.Argument(help="Index files of one kind and options (shards), in order.")
    ],
    out: Annotated[str, typer.Option(help="Index file to write; it must not exist.")],
    force: ForceOption = False,
) -> None:
    """Merge shard indexes (built apart, e.g. from the shards of one encoding) into one index.

    Items keep the order of the files given; the kind and its options are the shards' own.
    """
    from vrt.index import load_index, merge_indexes
    from vrt.runtime.writeguard import output_path

    out_file = output_path(out, option="--out")
    if out_file.exists():
        raise typer.BadParameter(f"{out_file} already exists: choose another --out", param_hint="--out")
    merged = merge_indexes(
        [load_index(path) for path in indexes], names=[str(path) for path in indexes], force=force, warn=warn
    )
    merged.save(out_file)
    err_console.print(
        f"Wrote a {merged.kind} index of {len(merged)} codes of {merged.bits} bits from {len(indexes)} "
        f"indexes to {out_file}",
        highlight=False,
    )
