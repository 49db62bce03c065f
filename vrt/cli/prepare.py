"""Commands that get a dataset ready for training: ``vrt prepare frames``."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from vrt.cli.common import app, console, err_console

prepare_app = typer.Typer(
    help="Prepare datasets for fast loading (extract video frames).",
    no_args_is_help=True,
)
app.add_typer(prepare_app, name="prepare")

# The failures printed on the console; all of them go to failed_videos.txt.
_SHOWN_FAILURES = 20


class FrameFormat(str, Enum):
    jpg = "jpg"
    png = "png"


@prepare_app.command("frames")
def frames(
    src: Annotated[Path, typer.Option(help="Folder of videos (searched recursively).")],
    dst: Annotated[str, typer.Option(help="Output folder: DST/<video path without extension>/00001.jpg ...")],
    short_side: Annotated[
        int, typer.Option(min=0, help="Scale frames so the shorter side has this many pixels (0: keep).")
    ] = 128,
    fps: Annotated[
        Optional[float],  # noqa: UP045 - typer needs Optional at runtime on older Pythons
        typer.Option(min=0.001, help="Resample videos to this frame rate (default: keep every frame)."),
    ] = None,
    workers: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(min=1, help="Videos converted in parallel (default: min(4, CPUs))."),
    ] = None,
    ext: Annotated[FrameFormat, typer.Option(help="Image format of the frames.")] = FrameFormat.jpg,
    force: Annotated[
        bool,
        typer.Option(
            help="Write into a DST of other files, and replace folders in it that vrt did not write "
            "(no .done marker)."
        ),
    ] = False,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG quality (1-100).")] = 90,
) -> None:
    """Extract the frames of every video under --src; resumable: finished videos are skipped.

    The default short side, 128, is what clips of data.frame_size 112 are scaled to
    (data.augment.resize_short): the frames are then read at the size training uses them.
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from vrt.io.prepare import prepare_frames
    from vrt.runtime.writeguard import output_path

    destination = output_path(dst, option="--dst")

    # Only a terminal gets the live bar; logs and CI output get the summary alone.
    with Progress(
        TextColumn("extracting frames"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("frames", total=None)
        summary = prepare_frames(
            src,
            destination,
            short_side=short_side,
            fps=fps,
            workers=workers,
            ext=ext.value,
            quality=quality,
            progress=lambda _outcome, done, total: bar.update(task, completed=done, total=total),
            force=force,
        )

    console.print(
        f"converted {len(summary.converted)}, skipped {len(summary.skipped)} (already done), "
        f"failed {len(summary.failed)}",
        highlight=False,
    )
    failed = summary.failed
    for outcome in failed[:_SHOWN_FAILURES]:
        console.print(f"  [red]failed[/] {outcome.video}: {outcome.reason}", highlight=False, soft_wrap=True)
    if len(failed) > _SHOWN_FAILURES:
        console.print(f"  ... and {len(failed) - _SHOWN_FAILURES} more", highlight=False)
    kept = summary.kept_with_other_options
    if kept:
        console.print(
            f"[yellow]{len(kept)} finished folders were extracted with other options[/] and kept as they are "
            f"(e.g. {escape(f'{kept[0].video}: {kept[0].reason}')}); delete them to extract them again",
            highlight=False,
            soft_wrap=True,
        )
    if summary.failures_file is not None:
        console.print(f"failures listed in {summary.failures_file}", highlight=False, soft_wrap=True)
    if summary.all_failed:
        raise typer.Exit(1)
