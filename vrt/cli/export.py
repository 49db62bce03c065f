"""``vrt export``: one split of a checkpoint's dataset into a codes file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

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
)


class Split(str, Enum):
    train = "train"
    val = "val"
    test = "test"


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint written by `vrt train`.")],
    split: Annotated[Split, typer.Option(help="train (the database), val, or test (the queries).")],
    out: Annotated[str, typer.Option(help="Output .npz codes file.")],
    overrides: DataOverridesOption = None,
    force: Annotated[
        bool,
        typer.Option(help="Replace --out even if it is not a codes file, or holds items the new codes lack."),
    ] = False,
) -> None:
    """Encode one split into a binary codes file (format: docs/metrics.md)."""
    from vrt.codes import is_codes_file, save_codes
    from vrt.codes.files import check_items_kept
    from vrt.runtime.writeguard import check_replaceable, output_path

    out_file = output_path(out, option="--out")
    check_replaceable(out_file, kind="codes file", is_own=is_codes_file, force=force)  # before encoding
    with run_session():
        trained = load_trained(checkpoint, overrides or ())
        with encoding_progress(f"encoding {split.value}") as progress:
            codes = trained.encode(
                trained.splits.view(split.value), progress=progress, on_skipped=bad_video_log(None).record
            )
    if is_main_process():
        check_items_kept(out_file, codes.ids, kind="a codes file", force=force)
        save_codes(out_file, codes)
        err_console.print(f"Wrote {len(codes.labels)} codes of {codes.bits} bits to {out_file}")
