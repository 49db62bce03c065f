"""The checkpoint policy of a run: which checkpoints are written, kept, and resumed from.

Checkpoints (all written atomically by :mod:`vrt.checkpoints.format`)::

    last.pt              the newest state, at the end of an epoch or after a step
    previous.pt          the state last.pt held before (a fallback one save older)
    step-00001200.pt     the state after optimiser step 1200 (``train.checkpoint_every_steps``);
                         the newest ``train.keep_checkpoints`` are kept
    best.pt              the state with the best validation mAP

``last.pt`` is written first and the step file and ``best.pt`` are copies of it, so whenever
``last.pt`` is readable it is the newest state. Copies rather than hard links: damage to one
file (a partial copy of the run, a bad sector) must not reach the fallbacks.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vrt.checkpoints.format import load_checkpoint, save_checkpoint
from vrt.config import Config, ConfigError, config_from_dict, config_to_dict
from vrt.config.schema import DATA_SPEED_KEYS
from vrt.errors import CheckpointError, NoCheckpointError
from vrt.rundir import RunDirectory
from vrt.runtime.fileio import atomic_write, remove_stale_temporaries

# The hard link that _replace_with_link makes before renaming it over a checkpoint, left by a kill.
STALE_LINK = re.compile(r"^\.(last|previous|best|step-\d{8,})\.pt\.link$")

# Config keys a resumed run may change: they decide how long, how often to save and how fast
# data is loaded, never what is computed (per-clip seeding makes the worker count irrelevant).
RESUMABLE_CHANGES: frozenset[str] = DATA_SPEED_KEYS | {
    "train.epochs",
    "train.checkpoint_every_steps",
    "train.keep_checkpoints",
    "data.pipeline",  # the same recipes, applied on the device: equal on the CPU, within rounding on a GPU
}


def progress_of(state: dict[str, Any]) -> tuple[int, int]:
    """(completed epochs, batches into the next one): orders checkpoints of one run by age."""
    return int(state.get("epoch", 0)), int(state.get("position", 0))


class CheckpointKeeper:
    """Writes a run's checkpoints and finds the newest readable one to resume from.

    Args:
        paths: the run directory.
        keep_steps: how many step checkpoints to keep (the newest).
        warn: reports checkpoints that cannot be read (resume goes on with an older one).
    """

    def __init__(self, paths: RunDirectory, *, keep_steps: int = 2, warn: Callable[[str], None] = print):
        if keep_steps < 1:
            raise ValueError(f"keep_steps must be >= 1, got {keep_steps}")
        self.paths = paths
        self.keep_steps = keep_steps
        self.warn = warn

    def save(self, state: dict[str, Any], *, step: int | None = None, best: bool = False) -> Path:
        """Write ``state`` as last.pt (and as ``step-<step>.pt``, and as best.pt); returns last.pt."""
        paths = self.paths
        if paths.last.is_file():
            _replace_with_link(paths.last, paths.previous)
        save_checkpoint(paths.last, state)
        if step is not None:
            _atomic_copy(paths.last, paths.step(step))
            for _, stale in paths.step_files()[: -self.keep_steps]:
                stale.unlink(missing_ok=True)
        if best:
            _atomic_copy(paths.last, paths.best)
        return paths.last

    def load_latest(self) -> tuple[dict[str, Any], Path]:
        """The newest readable state and its file: last.pt, else the newest readable fallback.

        Unreadable files are reported and renamed ``<name>.corrupt`` (kept for inspection, but
        out of the way of later saves and pruning, which go by name). Temporary files of a
        checkpoint write that was killed are removed.
        """
        paths = self.paths
        if paths.root.is_dir():
            remove_stale_temporaries(paths.root)  # atomic_write's, of writers no longer running
            for leftover in paths.root.iterdir():
                if STALE_LINK.match(leftover.name):
                    leftover.unlink(missing_ok=True)
        try:
            return load_checkpoint(paths.last), paths.last
        except CheckpointError as error:
            if not paths.last.exists() and not paths.step_files() and not paths.previous.exists():
                raise NoCheckpointError(f"cannot resume: {paths.last} does not exist") from None
            if paths.last.exists():
                self._set_aside(paths.last, error)
        best: tuple[dict[str, Any], Path] | None = None
        # Step files newest first: the first readable one is the newest step state; previous.pt
        # may still be newer (an epoch-end save after it), so it is always considered.
        for _, path in reversed(paths.step_files()):
            try:
                best = (load_checkpoint(path), path)
                break
            except CheckpointError as error:
                self._set_aside(path, error)
        if paths.previous.exists():
            try:
                state = load_checkpoint(paths.previous)
                if best is None or progress_of(state) > progress_of(best[0]):
                    best = (state, paths.previous)
            except CheckpointError as error:
                self._set_aside(paths.previous, error)
        if best is None:
            raise CheckpointError(f"cannot resume {paths.root}: none of its checkpoints can be read")
        self.warn(f"resuming from {best[1]}, the newest readable checkpoint")
        return best

    def _set_aside(self, path: Path, error: CheckpointError) -> None:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        self.warn(f"{error}; moved it aside to {aside.name}")


def _replace_with_link(source: Path, target: Path) -> None:
    """Make ``target`` another name of ``source``'s file, atomically (a copy where links fail)."""
    temporary = target.with_name(f".{target.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
    except OSError:  # file systems without hard links
        _atomic_copy(source, target)
        return
    os.replace(temporary, target)


def _atomic_copy(source: Path, target: Path) -> None:
    with source.open("rb") as reader:
        atomic_write(target, lambda handle: shutil.copyfileobj(reader, handle, 1 << 20))


def check_resumable(config: Config, stored: dict[str, Any], *, paths: RunDirectory) -> None:
    """Refuse to resume with a config that would compute something else than the run's own."""
    try:  # fill in the defaults of keys added since the run was written, so they do not count
        stored = config_to_dict(config_from_dict(stored, source=f"{paths.root} (stored config)"))
    except ConfigError:
        pass  # compare as written; the differences will name what no longer validates
    current, previous = _flatten(config_to_dict(config)), _flatten(stored)
    differences = sorted(
        path
        for path in current.keys() | previous.keys()
        if path not in RESUMABLE_CHANGES and current.get(path) != previous.get(path)
    )
    if differences:
        raise CheckpointError(
            f"cannot resume {paths.root}: the config differs from the run's in "
            f"{', '.join(differences)}; resume with the run's own config ({paths.config})"
        )


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    flat: dict[str, Any] = {}
    for key, value in data.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
