"""Errors that describe a user's mistake or environment, shown as one line by the CLI.

Everything here is importable without torch, so the CLI can catch them cheaply.
"""

from __future__ import annotations


class VrtError(Exception):
    """Base class of the problems a user can fix (bad config, missing file, corrupt checkpoint)."""


class CheckpointError(VrtError, RuntimeError):
    """A checkpoint that is missing, truncated, corrupt, not a vrt checkpoint, or not resumable."""


class TrainingError(VrtError, RuntimeError):
    """Training cannot go on (for example, the loss stopped being finite)."""


class VideoDecodeError(VrtError):
    """A video that is missing, empty, truncated or cannot be decoded; the message names it."""


class SplitFileError(VrtError, ValueError):
    """A malformed split or list file; the message names the file and the 1-based line."""


# The CLI prints these without a traceback; anything else is a bug and keeps its traceback.
# FileNotFoundError and FileExistsError stay while parts of vrt raise them for a user's mistake
# (no videos under --src, nothing to --resume, an --output that already holds a run); other
# OSErrors (permissions, a full disk) are not listed.
USER_ERRORS: tuple[type[BaseException], ...] = (VrtError, FileNotFoundError, FileExistsError)
