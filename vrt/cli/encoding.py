"""What the commands that encode with a checkpoint share: load it, encode splits with a bar.

The work is the inference API's (:class:`vrt.inference.TrainedModel`); this adds what a person
at a terminal wants: a progress bar, unreadable videos announced on stderr, and, under torchrun,
the processes sharing the encoding (asked for here, never by the library).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vrt.cli.common import err_console
from vrt.rundir import RunDirectory

if TYPE_CHECKING:
    from vrt.codes import CodeSet
    from vrt.data.bad_videos import BadVideoLog
    from vrt.inference import TrainedModel


def load_trained(checkpoint: Path, overrides: Sequence[str] = ()) -> TrainedModel:
    """The checkpoint's model, on its config's device; joins torchrun's process group if launched by it."""
    from vrt.inference import TrainedModel
    from vrt.runtime import distributed

    trained = TrainedModel.load(checkpoint, overrides=overrides)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        trained.device = distributed.init_from_env(trained.device)
        trained.model.to(trained.device)
    return trained


def encode_with_progress(trained: TrainedModel, split: str, *, bad_videos: BadVideoLog) -> CodeSet:
    """Codes of ``split``; unreadable videos go to ``bad_videos`` (announced once each)."""
    from vrt.reporting.progress import progress_bar
    from vrt.runtime import distributed

    total = -(-len(trained.splits.view(split)) // distributed.world_size())  # type: ignore[arg-type]
    with progress_bar(
        err_console, f"encoding {split}", total=total, quiet=not distributed.is_main()
    ) as update:
        return trained.encode_split(
            split,  # type: ignore[arg-type]
            on_batch=lambda clips: update(advance=clips),
            on_skipped=bad_videos.record,
        )


def bad_video_log(folder: Path | None) -> BadVideoLog:
    """Unreadable videos, warned on stderr and listed in ``folder``/bad_videos.txt when given."""
    from vrt.data.bad_videos import BadVideoLog
    from vrt.runtime import distributed

    quiet = not distributed.is_main()
    path = RunDirectory(folder).bad_videos if folder is not None and not quiet else None
    return BadVideoLog(path, warn=None if quiet else _warn)


def _warn(text: str) -> None:
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)
