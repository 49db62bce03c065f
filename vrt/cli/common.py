"""What every command module shares: the typer app, consoles, common options, and the session
of a command that encodes with a checkpoint (torchrun, signals, progress, unreadable videos).

Command modules import heavy libraries inside each command's body, so ``vrt --help`` and the
commands that work on code files start without importing torch.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from vrt.errors import VrtError
from vrt.rundir import RunDirectory

if TYPE_CHECKING:
    from vrt.data.bad_videos import BadVideoLog
    from vrt.inference import TrainedModel
    from vrt.inference.evaluation import Evaluation
    from vrt.runtime.signals import StopRequest

app = typer.Typer(
    help="vrt: video retrieval by learned binary hashing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """vrt: video retrieval by learned binary hashing."""
    # A callback keeps `vrt` a group of commands when only the invoked command's module is loaded
    # (a lone command would become the program itself, and `vrt eval ...` would not parse).


console = Console()
# Messages and warnings stay one line each however long (a path, a reason), so logs grep cleanly.
err_console = Console(stderr=True, soft_wrap=True)

OverridesOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set model.head.bits=64 (repeatable)."),
]
DataOverridesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a value of the checkpoint's stored config, e.g. where the data now is: "
        "--set data.dataset.root=/new/place (repeatable; model.* keys cannot change).",
    ),
]


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}"


def bundled_config(name: str) -> Path:
    """A config that ships with vrt (the repository's configs/ folder, installed as ``vrt.configs``)."""
    try:
        configs = importlib.resources.files("vrt.configs")
    except ModuleNotFoundError:  # an install made before the configs became package data
        raise VrtError("vrt's bundled configs are not installed; reinstall vrt (make install)") from None
    config = configs / name
    if not config.is_file():
        bundled = sorted(entry.name for entry in configs.iterdir() if entry.name.endswith(".yaml"))
        raise VrtError(f"no bundled config named {name!r}; bundled: {', '.join(bundled)}")
    # pip unpacks installs onto disk, so this is a file path that _base_ references resolve against.
    return Path(str(config))


ForceOption = Annotated[
    bool, typer.Option(help="Compare codes of different models anyway (a warning instead of an error).")
]


@contextmanager
def run_session() -> Iterator[None]:
    """What every training/encoding command shares: a stop on a signal exits with the shell's
    code (130 for SIGINT, 143 for SIGTERM) and says how to resume; under torchrun the process
    group is left at the end."""
    from vrt.training.interrupt import TrainingInterrupted

    try:
        yield
    except TrainingInterrupted as stopped:
        if is_main_process():
            err_console.print(f"[bold yellow]stopped:[/] {stopped}", highlight=False)
            err_console.print(
                f"Resume with: vrt train --output {stopped.run_dir} --resume", highlight=False, soft_wrap=True
            )
        raise typer.Exit(stopped.exit_code) from None
    finally:
        if "torch" in sys.modules:  # nothing to leave when the command never imported torch
            from vrt.runtime import distributed

            distributed.shutdown()


def is_main_process() -> bool:
    """Rank 0 prints results and writes files; the other torchrun processes stay silent."""
    return os.environ.get("RANK", "0") == "0"


def load_trained(
    checkpoint: Path,
    overrides: Sequence[str] = (),
    *,
    videos: bool = False,
    collective_timeout: timedelta | None = None,
) -> TrainedModel:
    """The checkpoint's model, on its config's device; joins torchrun's process group if launched
    by it (``collective_timeout``: how long a rank waits for the others, by default
    :data:`~vrt.runtime.distributed.COLLECTIVE_TIMEOUT`). ``videos``: as it encodes videos (a
    model trained on frame features, behind the image encoder that made them:
    :meth:`TrainedModel.for_videos`)."""
    from vrt.inference import TrainedModel

    trained = join_process_group(
        TrainedModel.load(checkpoint, overrides=overrides), timeout=collective_timeout
    )
    return trained.for_videos() if videos else trained


def join_process_group(trained: TrainedModel, *, timeout: timedelta | None = None) -> TrainedModel:
    """``trained`` on its device in torchrun's process group, when launched by torchrun."""
    from vrt.runtime import distributed

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        trained.device = distributed.init_from_env(trained.device, timeout=timeout)
        trained.model.to(trained.device)
    return trained


@contextmanager
def encoding_progress(label: str) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr for :meth:`TrainedModel.encode` (silent on torchrun's other ranks)."""
    from vrt.reporting.progress import progress_bar

    with progress_bar(err_console, label, quiet=not is_main_process()) as update:
        yield update


@contextmanager
def interruptible_progress(label: str, *, saving: str) -> Iterator[tuple[Callable[..., None], StopRequest]]:
    """``(progress, request)`` for a long job that keeps its work: a progress bar, and the stop
    request that Ctrl-C (or SIGTERM) raises after saying that ``saving`` (the codes, the features)
    is being kept; the job polls ``request.requested``."""
    from vrt.runtime.signals import StopRequest

    request = StopRequest()
    with (
        request.installed(lambda name: err_console.print(f"{name}: saving the {saving} so far ...")),
        encoding_progress(label) as progress,
    ):
        yield progress, request


def bad_video_log(folder: Path | None) -> BadVideoLog:
    """Unreadable videos, warned on stderr and listed in ``folder``/bad_videos.txt when given."""
    from vrt.data.bad_videos import BadVideoLog

    quiet = not is_main_process()
    path = RunDirectory(folder).bad_videos if folder is not None and not quiet else None
    return BadVideoLog(path, warn=None if quiet else warn)


def warn(text: str) -> None:
    """One ``warning:`` line on stderr (file names are text, not rich markup)."""
    from rich.markup import escape

    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False)


def show_evaluation(
    result: Evaluation, *, title: str = "Retrieval by Hamming ranking", caption: str | None = None
) -> None:
    """The tables of an evaluation on stdout: class relevance, and source relevance beside it."""
    from vrt.reporting.tables import evaluation_tables

    source = result.source.report() if result.source is not None else None
    for table in evaluation_tables(
        result.report, source=source, relevance=result.relevance, title=title, caption=caption
    ):
        console.print(table)
