"""``vrt features extract``: per-frame features of a dataset split or of one's own videos into a
feature file (HDF5), resumably (:func:`vrt.inference.features.extract_features`)."""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import (
    OverridesOption,
    app,
    bad_video_log,
    err_console,
    interruptible_progress,
    is_main_process,
    join_process_group,
    load_trained,
)
from vrt.cli.encode import ENCODE_TIMEOUT, LabelsChoice, announce_unlisted, default_workers

features_app = typer.Typer(help="Per-frame features of videos in feature files (HDF5).", no_args_is_help=True)
app.add_typer(features_app, name="features")


class SplitChoice(str, Enum):
    train = "train"
    test = "test"


@features_app.command("extract")
def extract(
    out: Annotated[str, typer.Option(help="Feature file to write (.h5); with --resume, to finish.")],
    config: Annotated[
        Path | None,
        typer.Option(help="A config whose frame backbone extracts (pretrained, nothing trained)."),
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="A checkpoint of a trained frame backbone.")] = None,
    split: Annotated[
        SplitChoice | None, typer.Option(help="A split of the config's dataset (else --videos).")
    ] = None,
    videos: Annotated[
        list[Path] | None,
        typer.Option("--videos", help="Folders, list files or videos, listed as vrt encode lists them."),
    ] = None,
    labels: Annotated[
        LabelsChoice, typer.Option(help="With --videos: auto, folders or none (as vrt encode).")
    ] = LabelsChoice.auto,
    segment: Annotated[
        float | None, typer.Option(help="With --videos: windows of this many seconds.")
    ] = None,
    stride: Annotated[
        float | None, typer.Option(help="Seconds between windows (default: --segment).")
    ] = None,
    root: Annotated[Path | None, typer.Option(help="Make ids paths relative to this folder.")] = None,
    resume: Annotated[bool, typer.Option(help="Finish an interrupted extraction into --out.")] = False,
    batch_size: Annotated[int | None, typer.Option(help="Videos per batch.", min=1)] = None,
    workers: Annotated[int | None, typer.Option(help="Decoding worker processes.", min=0)] = None,
    save_every: Annotated[
        float, typer.Option(help="Seconds between saves of the work so far.", min=0)
    ] = 30.0,
    shard: Annotated[
        str | None,
        typer.Option(
            help="RANK/WORLD: extract only block RANK of WORLD equal blocks of the items (parts in "
            "OUT.parts/); when every block is done, the command without --shard and with --resume "
            "writes OUT. Under torchrun each process takes its own block without this option.",
        ),
    ] = None,
    overrides: OverridesOption = None,
) -> None:
    """Write the per-frame features (data.num_frames frames, test-time transform) of a split or of
    your own videos: the input of `data.dataset: features` and a `frame_features` backbone.

    Unreadable videos are skipped and listed; an interrupted run keeps its work (parts in
    OUT.parts/) and --resume finishes it.
    """
    from vrt.datasets.collection import list_items
    from vrt.datasets.windows import check_segment, resolve_windows
    from vrt.inference.features import extract_features, parts_folder
    from vrt.inference.shards import Shard
    from vrt.io.feature_files import is_feature_file
    from vrt.runtime.writeguard import check_replaceable, output_path

    if (config is None) == (checkpoint is None):
        raise typer.BadParameter("give exactly one of --config (a pretrained frame backbone) or --checkpoint")
    if (split is None) == (not videos):
        raise typer.BadParameter("give exactly one of --split (the config's dataset) or --videos")
    out_file = output_path(out, option="--out")
    given_shard = Shard.parse(shard) if shard is not None else None
    if not resume:
        check_replaceable(out_file, kind="feature file", is_own=is_feature_file, force=False)
    check_segment(segment, stride)
    listing = list_items(videos, labels=labels.value, root=root) if videos else None
    if checkpoint is not None:
        trained = load_trained(checkpoint, overrides or (), videos=True, collective_timeout=ENCODE_TIMEOUT)
    else:
        from vrt.config import load_config
        from vrt.inference import TrainedModel

        config_model = TrainedModel.from_config(load_config(config, overrides or ()))  # type: ignore[arg-type]
        trained = join_process_group(config_model, timeout=ENCODE_TIMEOUT)
    bad_videos = bad_video_log(None)
    if listing is not None:
        listing = resolve_windows(listing, decoder=trained.clips.decoder, segment=segment, stride=stride)
        announce_unlisted(listing, bad_videos)
        items = listing
    else:
        items = trained.splits.view(split.value)  # type: ignore[union-attr]
    started = time.monotonic()
    with interruptible_progress("extracting", saving="features") as (progress, request):
        result = extract_features(
            trained,
            items,
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
    seconds = time.monotonic() - started
    if not is_main_process() and given_shard is None:
        return  # torchrun's other ranks: rank 0 reports
    if given_shard is not None and result.complete:
        err_console.print(
            f"Shard {given_shard}: the features of {result.encoded + result.reused} items are in "
            f"{parts_folder(out_file)} ({result.encoded} extracted in {seconds:.1f} s); when all "
            f"{given_shard.world} shards are done, the same command without --shard and with --resume "
            f"writes {out_file}",
            highlight=False,
        )
        return
    if not result.complete:
        err_console.print(
            f"[bold yellow]stopped:[/] {result.encoded + result.reused} items kept in {parts_folder(out_file)}; "
            "resume with the same command and --resume",
            highlight=False,
        )
        raise typer.Exit(128 + (request.signal_number or 2))
    err_console.print(
        f"Wrote the features of {result.encoded + result.reused} items to {out_file}: {result.encoded} extracted in "
        f"{seconds:.1f} s, {result.reused} kept from the earlier run, {len(result.skipped)} unreadable skipped",
        highlight=False,
    )


class MethodChoice(str, Enum):
    lsh = "lsh"
    itq = "itq"


@features_app.command("hash")
def hash_features(
    train: Annotated[
        Path, typer.Argument(help="Feature file of the database (train) videos; the hasher is fitted on it.")
    ],
    test: Annotated[Path, typer.Argument(help="Feature file of the query (test) videos.")],
    method: Annotated[MethodChoice, typer.Option(help="lsh (random hyperplanes) or itq (PCA + rotation).")],
    bits: Annotated[int, typer.Option(help="Code length.", min=1)],
    output: Annotated[str, typer.Option(help="Folder for hasher.npz, codes_train.npz and codes_test.npz.")],
    seed: Annotated[
        int, typer.Option(help="Seed of the random projection (LSH) or start rotation (ITQ).")
    ] = 0,
    train_labels: Annotated[
        Path | None, typer.Option(help="A .mat label file for a train file in the published layout.")
    ] = None,
    test_labels: Annotated[
        Path | None, typer.Option(help="A .mat label file for a test file in the published layout.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Write into a folder of files vrt did not write.")] = False,
) -> None:
    """Codes without deep training: fit LSH or ITQ on the train file's videos (each the mean of its
    frames' features) and hash both files; then `vrt eval --query OUT/codes_test.npz --database
    OUT/codes_train.npz` scores them like a trained model's codes."""
    from vrt.codes import is_codes_file
    from vrt.hashing import hash_feature_files, is_hasher_file
    from vrt.hashing.features import HASHER_FILE
    from vrt.runtime.writeguard import check_output_folder, check_replaceable, output_path

    folder = output_path(output, option="--output")
    check_output_folder(
        folder,
        what="hasher and its codes",
        is_own=lambda found: is_hasher_file(found / HASHER_FILE),
        force=force,
        option="--output",
    )
    check_replaceable(
        folder / HASHER_FILE, kind="hasher", is_own=is_hasher_file, force=force, option="--output"
    )
    for name in ("codes_train.npz", "codes_test.npz"):
        check_replaceable(
            folder / name, kind="codes file", is_own=is_codes_file, force=force, option="--output"
        )
    started = time.monotonic()
    done = hash_feature_files(
        train,
        test,
        method=method.value,  # type: ignore[arg-type]
        bits=bits,
        out=folder,
        seed=seed,
        train_labels=train_labels,
        test_labels=test_labels,
    )
    err_console.print(
        f"{method.value.upper()} ({bits} bits, seed {seed}) fitted and applied in {time.monotonic() - started:.1f} s: "
        f"wrote {done.hasher.name}, {done.train.name} and {done.test.name} to {folder}",
        highlight=False,
    )
