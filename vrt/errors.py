"""Errors that describe a user's mistake or environment, shown as one line by the CLI.

Everything here is importable without torch, so the CLI can catch them cheaply. Each error has
an ``exit_code``: 2 for a usage error (the command, its options, config or input files must
change: fix them and run again) and 1 for a runtime error (the command was right but could not
finish here: a full disk, a run locked by another process, a loss that stopped being finite).
"""

from __future__ import annotations

USAGE_EXIT_CODE = 2
RUNTIME_EXIT_CODE = 1


class VrtError(Exception):
    """Base class of the problems a user can fix (bad config, missing file, corrupt checkpoint)."""

    exit_code: int = USAGE_EXIT_CODE


class VrtRuntimeError(VrtError, RuntimeError):
    """The command was right, but what it met while running stopped it (exit code 1)."""

    exit_code = RUNTIME_EXIT_CODE


class CheckpointError(VrtError, RuntimeError):
    """A checkpoint that is missing, truncated, corrupt, not a vrt checkpoint, or not resumable."""


class NoCheckpointError(CheckpointError):
    """A run directory without any checkpoint to resume from (none was written yet)."""


class TrainingError(VrtRuntimeError):
    """Training cannot go on (for example, the loss stopped being finite)."""


class DataError(VrtError, ValueError):
    """Data that cannot be used as asked (an empty split, too few classes for a batch, no videos)."""


class VideoDecodeError(VrtError):
    """A video that is missing, empty, truncated or cannot be decoded; the message names it."""


class CodesFileError(VrtError, ValueError):
    """A codes file that is missing, unreadable or does not follow the interchange layout."""


class IncomparableCodesError(VrtError, ValueError):
    """Two sets of codes (or an index and a checkpoint) that cannot be ranked against each other:
    codes of another length, or made by another model."""


class ClassNamesError(VrtError, ValueError):
    """Two code sets whose labels cannot be put in one class list (names against bare numbers)."""


class SplitFileError(VrtError, ValueError):
    """A malformed split or list file; the message names the file and the 1-based line."""


class OutputError(VrtError):
    """An output path vrt will not write: empty, a folder where a file goes, or someone else's file."""


class RunLockedError(VrtRuntimeError):
    """Another process is writing the run directory (its lock names the process and host)."""


class SystemFileError(VrtRuntimeError, OSError):
    """The operating system refused a file operation (disk full, read-only, permission, name too long).

    The message names the path and whether earlier files are intact; ``errno`` is the system's.
    """

    def __init__(self, message: str, *, errno: int | None = None, path: str | None = None) -> None:
        # OSError(errno, strerror, filename) would format itself; keep the one-line message as str().
        super().__init__(message)
        self.errno = errno
        self.filename = path

    def __str__(self) -> str:
        return str(self.args[0])


# The CLI prints these as one line without a traceback (a traceback with VRT_DEBUG=1); anything
# else is a bug and keeps its traceback. OSErrors of the kinds in vrt.runtime.syserrors
# (a full disk, a read-only folder, ...) are printed as one line too, naming the path.
USER_ERRORS: tuple[type[BaseException], ...] = (VrtError,)
