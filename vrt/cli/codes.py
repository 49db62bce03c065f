"""``vrt codes merge``: the shards of one encoding, written by separate jobs, into one codes file (no torch)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vrt.cli.common import app, err_console

codes_app = typer.Typer(help="Work with codes files.", no_args_is_help=True)
app.add_typer(codes_app, name="codes")


@codes_app.command("merge")
def codes_merge(
    shards: Annotated[
        list[Path], typer.Argument(help="Every shard file of one encoding (OUT.shard-R-of-W.npz), any order.")
    ],
    out: Annotated[str, typer.Option(help="Codes file to write (.npz); it must not exist.")],
    keep: Annotated[
        bool, typer.Option(help="Keep the shard files (else they are deleted once merged).")
    ] = False,
) -> None:
    """Merge the shards that `vrt encode --shard R/W` jobs wrote into one codes file.

    Every shard of the run must be there once and finished; the merged file equals what one
    process encoding every item writes (the listing's order).
    """
    from vrt.inference.shards import merge_shards
    from vrt.runtime.writeguard import output_path

    out_file = output_path(out, option="--out")
    if out_file.exists():
        raise typer.BadParameter(f"{out_file} already exists: choose another --out", param_hint="--out")
    merged = merge_shards(shards, out_file)
    if not keep:
        for shard in shards:
            shard.unlink()
    err_console.print(
        f"Wrote {len(merged)} codes of {merged.bits} bits from {len(shards)} shards to {out_file}",
        highlight=False,
    )
