"""``vrt encode``: a folder or list of one's own videos into a codes file, resumably.

The items are listed by :mod:`vrt.datasets.collection` and encoded by
:func:`vrt.inference.collection_encoding.encode_collection` (:meth:`TrainedModel.encode` with
the file kept up to date); this adds the progress bar, the stop on Ctrl-C and the summary line.
"""

from __future__ import annotations

import time
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vrt.cli.common import (
    DataOverridesOption,
    app,
    bad_video_log,
    err_console,
    interruptible_progress,
    is_main_process,
    load_trained,
)
from vrt.runtime.cpus import usable_cores

if TYPE_CHECKING:
    from vrt.data.bad_videos import BadVideoLog
    from vrt.datasets.collection import ItemList
    from vrt.inference.collection_encoding import EncodedCollection


# The ranks of a torchrun encode meet once, at the end: the first to finish may wait for the
# slowest for as long as a large collection takes (torchrun ends them all if one fails).
ENCODE_TIMEOUT = timedelta(hours=12)


class LabelsChoice(str, Enum):
    auto = "auto"
    folders = "folders"
    none = "none"


VideosOption = Annotated[
    list[Path],
    typer.Option(
        "--videos",
        help="A folder (searched recursively for video files and frame folders), a list file (one "
        "path per line, optionally followed by a label) or a video (repeatable).",
    ),
]


def default_workers() -> int:
    """Decoding processes beside the one that encodes: two, or one per core on a smaller machine."""
    return min(2, usable_cores())


@app.command()
def encode(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `vrt train`.")],
    videos: VideosOption,
    out: Annotated[str, typer.Option(help="Codes file to write (.npz); with --resume, to continue.")],
    labels: Annotated[
        LabelsChoice,
        typer.Option(
            help="auto: the labels a list file gives, else unlabelled (-1); folders: the class is the "
            "parent folder; none: every item unlabelled."
        ),
    ] = LabelsChoice.auto,
    segment: Annotated[
        float | None,
        typer.Option(
            help="Cut video files into windows of this many seconds, one code each (id path#t=START,END)."
        ),
    ] = None,
    stride: Annotated[
        float | None, typer.Option(help="Seconds from one window's start to the next (default: --segment).")
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Make ids paths relative to this folder (default: to each --videos folder)."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue --out: the items already in it are kept and skipped.")
    ] = False,
    batch_size: Annotated[
        int | None, typer.Option(help="Videos per batch (default: data.eval_batch_size).", min=1)
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Decoding worker processes (default: 2, or 1 on one core).", min=0)
    ] = None,
    save_every: Annotated[
        float, typer.Option(help="Seconds between partial writes of --out (0: after every batch).", min=0)
    ] = 30.0,
    shard: Annotated[
        str | None,
        typer.Option(
            help="RANK/WORLD: encode only block RANK of WORLD equal blocks of the items, into "
            "OUT's shard file (OUT.shard-RANK-of-WORLD.npz); `vrt codes merge` joins the shards. "
            "Under torchrun each process takes its own block without this option.",
        ),
    ] = None,
    overrides: DataOverridesOption = None,
) -> None:
    """Encode your own videos into a codes file: one code per video (or per --segment window).

    Unreadable videos are skipped and listed; an interrupted run keeps what it encoded
    (written every --save-every seconds and when stopped) and --resume finishes it. Under
    `torchrun --nproc_per_node N -m vrt encode ...` the N processes (on any number of nodes)
    encode one block each and the first merges them into --out (docs/distributed.md).
    """
    from vrt.datasets.collection import list_items
    from vrt.datasets.windows import check_segment, resolve_windows
    from vrt.inference.collection_encoding import check_output, encode_collection
    from vrt.inference.shards import Shard, shard_path
    from vrt.runtime.writeguard import output_path

    out_file = output_path(out, option="--out")
    check_output(out_file, resume=resume)  # before the model loads: an existing file is never replaced
    given_shard = Shard.parse(shard) if shard is not None else None
    if given_shard is not None:
        check_output(shard_path(out_file, given_shard), resume=resume)
    check_segment(segment, stride)
    listing = list_items(videos, labels=labels.value, root=root)
    trained = load_trained(checkpoint, overrides or (), videos=True, collective_timeout=ENCODE_TIMEOUT)
    # Windows are probed by the decoder that will read their clips.
    listing = resolve_windows(listing, decoder=trained.clips.decoder, segment=segment, stride=stride)
    bad_videos = bad_video_log(None)
    announce_unlisted(listing, bad_videos)
    started = time.monotonic()
    with interruptible_progress("encoding", saving="codes") as (progress, request):
        result = encode_collection(
            trained,
            listing,
            out=out_file,
            resume=resume,
            save_every=save_every,
            batch_size=batch_size,
            workers=default_workers() if workers is None else workers,
            progress=progress,
            on_skipped=bad_videos.record,
            stop=lambda: request.requested,
            shard=given_shard,
        )
    written = out_file if given_shard is None else shard_path(out_file, given_shard)
    if is_main_process() or given_shard is not None:
        report_encoding(
            result, out=written, seconds=time.monotonic() - started, unlisted=len(listing.unreadable)
        )
    if given_shard is not None and result.complete:
        err_console.print(
            f"Shard {given_shard} done; when all {given_shard.world} are: vrt codes merge "
            f"{str(shard_path(out_file, Shard(0, given_shard.world))).replace('-0-of-', '-*-of-')} --out {out_file}",
            highlight=False,
            soft_wrap=True,
        )
    if not result.complete and is_main_process():
        err_console.print(
            f"[bold yellow]stopped:[/] resume with the same command and --resume (out: {out_file})",
            highlight=False,
        )
        raise typer.Exit(128 + (request.signal_number or 2))


def announce_unlisted(listing: ItemList, bad_videos: BadVideoLog) -> None:
    """Listed videos that are missing or cannot be probed, warned like the ones that fail to decode."""
    from vrt.datasets.items import SkippedClip

    bad_videos.record([SkippedClip(-1, item_id, reason) for item_id, reason in listing.unreadable.items()])


def report_encoding(result: EncodedCollection, *, out: Path, seconds: float, unlisted: int) -> None:
    """One line: what was written, what was reused and skipped, and the rate."""
    codes = result.codes
    rate = f"{result.encoded / seconds:.2f} items/s" if seconds > 0 else "n/a"
    skipped = len(result.skipped) + unlisted
    err_console.print(
        f"Wrote {len(codes)} codes of {codes.bits} bits to {out}: {result.encoded} encoded in {seconds:.1f} s "
        f"({rate}), {result.reused} kept from the earlier run, {skipped} unreadable skipped; "
        f"{int(codes.labelled.sum())} labelled, {len(codes) - int(codes.labelled.sum())} unlabelled",
        highlight=False,
    )
