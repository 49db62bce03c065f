"""Where a run is written: the --output folder checked, created, marked and locked.

vrt writes a run only into a new or empty folder or one of its own runs (``vrt-run.json``, the
marker written first, says so), and one process at a time (``run.lock``). The checks that need
no writing (:func:`check_output`) run before any work; :func:`open_run` then creates the folder
or, on ``--resume``, finds the state to continue from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vrt.checkpoints.keeper import CheckpointKeeper, check_resumable
from vrt.config import Config, config_to_yaml
from vrt.errors import NoCheckpointError, OutputError
from vrt.rundir import RunDirectory
from vrt.runtime.fileio import atomic_write_text
from vrt.runtime.runlock import RunLock
from vrt.runtime.syserrors import is_system_error, system_error

__all__ = ["check_output", "intact_note", "open_run"]


def check_output(paths: RunDirectory, *, resume: bool) -> None:
    """Refuse, without writing anything, an --output that is not vrt's to write (or to resume)."""
    root = paths.root
    if root.exists() and not root.is_dir():
        raise OutputError(f"--output {root} is a file, not a folder; give the folder of the run")
    if resume:
        if not (paths.is_marked() or paths.metrics.is_file()):
            raise NoCheckpointError(f"cannot resume {root}: it holds no vrt run (no {paths.marker.name})")
        return
    foreign = paths.foreign_entries()
    if foreign:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise OutputError(
            f"--output {root} is not empty and is not a vrt run ({len(foreign)} entries: {shown}); "
            "vrt writes a run only into a new or empty folder or one of its runs: choose another --output"
        )
    if paths.holds_a_run():
        raise OutputError(
            f"{root} already holds a run; pass --resume to continue it, or choose another --output"
        )


def open_run(
    paths: RunDirectory,
    *,
    config: Config,
    resume: bool,
    lock: RunLock,
    checkpoints: CheckpointKeeper,
    warn: Callable[[str], None],
) -> dict[str, Any] | None:
    """Create (mark, lock) the run directory and write config.yaml; on ``resume``, the state to continue.

    A run stopped before its first checkpoint (metrics, no checkpoint) starts from the beginning,
    with or without ``resume``, and says so.
    """
    try:
        paths.root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        if is_system_error(error):
            raise system_error(error, path=paths.root, action="create the run directory") from error
        raise
    if not resume:
        paths.mark()  # first: from here on the folder is recognisably a run
    lock.acquire(note=warn)
    state = None
    if resume:
        try:
            state, _ = checkpoints.load_latest()
        except NoCheckpointError:
            warn(
                f"{paths.root} has no checkpoint yet (the run stopped before its first one): starting it from the beginning"
            )
        else:
            check_resumable(config, state["config"], paths=paths)
        paths.mark()
    elif paths.holds_a_run():  # another process trained here between the check and the lock
        raise OutputError(f"{paths.root} already holds a run; pass --resume to continue it")
    elif paths.metrics.is_file():
        warn(f"{paths.root} holds a run stopped before its first checkpoint: starting it afresh")
    atomic_write_text(paths.config, config_to_yaml(config))
    return state


def intact_note(paths: RunDirectory) -> str:
    """What survives a failure of the system (a full disk) in the middle of a run."""
    if paths.holds_a_run():
        return (
            f"the checkpoints in {paths.root} are intact: resume with "
            f"`vrt train --output {paths.root} --resume` once this is fixed"
        )
    return "earlier files are intact"
