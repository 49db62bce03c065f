"""The operating system's refusals (a full disk, a read-only folder, ...) as one line naming the path.

A Python ``OSError`` prints as ``[Errno 28] No space left on device`` with a traceback, often
without the file it was writing. :func:`system_error` turns the kinds a user can do something
about into a :class:`~vrt.errors.SystemFileError` that names the path, says what is intact and
what to do. torch-free.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from vrt.errors import SystemFileError

__all__ = ["SYSTEM_ERRNOS", "describe_system_error", "is_system_error", "system_error"]

# errno -> (what happened, what to do). Other OSErrors are not a user's to fix: they stay bugs.
SYSTEM_ERRNOS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("the disk is full", "free some space, or write somewhere else, and run again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space, or write somewhere else, and run again"),
    errno.EROFS: ("the file system is read-only", "choose a folder on a writable file system"),
    errno.EACCES: ("permission denied", "check the permissions of the path, or choose another"),
    errno.EPERM: ("the operation is not permitted", "check the permissions of the path, or choose another"),
    errno.ENAMETOOLONG: (
        "the name is too long for the file system",
        "choose a shorter name (most file systems allow 255 bytes per name)",
    ),
    errno.EISDIR: ("it is a folder, not a file", "give the path of a file"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path"),
    errno.ELOOP: ("the path goes round a loop of symbolic links", "fix or remove the links"),
    errno.EMFILE: ("too many files are open", "raise the limit (ulimit -n) and run again"),
}


def is_system_error(error: BaseException) -> bool:
    """Whether ``error`` is an ``OSError`` of a kind :func:`system_error` describes."""
    return (
        isinstance(error, OSError) and not isinstance(error, SystemFileError) and error.errno in SYSTEM_ERRNOS
    )


def describe_system_error(
    error: OSError, *, path: str | os.PathLike[str] | None = None, action: str = "write", intact: str = ""
) -> str:
    """``cannot ACTION PATH: what happened (ENAME); INTACT; what to do`` on one line."""
    where = path if path is not None else error.filename
    code = error.errno if error.errno is not None else 0
    happened, advice = SYSTEM_ERRNOS.get(code, (error.strerror or str(error), "check the path"))
    name = errno.errorcode.get(code, str(code))
    target = f" {Path(where)}" if where is not None else ""
    parts = [f"cannot {action}{target}: {happened} ({name})"]
    if intact:
        parts.append(intact)
    parts.append(advice)
    return "; ".join(parts)


def system_error(
    error: OSError, *, path: str | os.PathLike[str] | None = None, action: str = "write", intact: str = ""
) -> SystemFileError:
    """``error`` as a :class:`SystemFileError` (raise it ``from error``)."""
    return SystemFileError(
        describe_system_error(error, path=path, action=action, intact=intact),
        errno=error.errno,
        path=str(path if path is not None else error.filename),
    )
