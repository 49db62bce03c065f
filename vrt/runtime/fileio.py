"""Crash-safe file writing, shared by checkpoints, code files and run records (no torch).

A write goes to a temporary file beside its destination, named ``.NAME.<pid>.<host>-<random>.tmp``
(``host`` is a short hash of this machine's name), then is renamed into place. A process killed
mid-write (SIGKILL, a power cut) cannot remove its temporary file, so the next write into the
same folder removes those of dead processes on this host; a write still in progress in another
process keeps its own.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import socket
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from vrt.runtime.syserrors import is_system_error, system_error

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "check_name_length",
    "file_sha256",
    "pid_alive",
    "remove_stale_temporaries",
]

HOST_TAG = f"{zlib.crc32(socket.gethostname().encode()):08x}"
# Names as atomic_write makes them: the destination, the writer's pid and host tag, mkstemp's random.
TEMPORARY = re.compile(r"^\..+\.(?P<pid>\d+)\.(?P<host>[0-9a-f]{8})-[^.]+\.tmp$")
_NAME_KEPT = 160  # bytes of the destination's name kept in the temporary's (a name has at most 255)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it into place.

    The rename is atomic on POSIX, so readers see the old file or the new one, never a partial
    one, and a failed write leaves the previous version intact and no stray file behind (the
    temporary file is removed on any exception, KeyboardInterrupt included). A refusal of the
    system (a full disk, a read-only folder, a name too long) raises
    :class:`~vrt.errors.SystemFileError` naming ``path``.
    """
    path = Path(path)
    intact = (
        f"{path.name} keeps its previous content and earlier files are intact"
        if path.is_file()
        else ("earlier files are intact")
    )
    try:
        check_name_length(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:  # a file stands where a folder of the path goes
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory", error.filename) from None
        remove_stale_temporaries(path.parent)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        stem = os.fsencode(path.name)[:_NAME_KEPT].decode(errors="ignore")
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{stem}.{os.getpid()}.{HOST_TAG}-", suffix=".tmp", dir=path.parent
        )
    except OSError as error:
        if is_system_error(error):
            raise system_error(error, path=path, intact=intact) from error
        raise
    try:
        os.fchmod(fd, 0o666 & ~_current_umask())  # mkstemp's 0600 would hide results from teammates
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException as error:
        Path(tmp_name).unlink(missing_ok=True)
        if is_system_error(error):
            raise system_error(error, path=path, intact=intact) from error  # type: ignore[arg-type]
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def check_name_length(path: Path) -> None:
    """Raise ``ENAMETOOLONG`` for a name the file system cannot hold, before any work is done."""
    try:
        limit = os.pathconf(_existing_ancestor(path.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(os.fsencode(path.name)) > limit:
        raise OSError(errno.ENAMETOOLONG, "File name too long", str(path))


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left in ``folder``; returns them.

    Only files named by :func:`atomic_write` whose writer ran on this host and is no longer
    running are removed. A listing of names (no stat) per write: writes are few (checkpoints,
    codes, records), and a crash may happen between any two of them.
    """
    folder = Path(folder)
    removed = []
    try:
        with os.scandir(folder) as entries:
            names = [entry.name for entry in entries if entry.name.endswith(".tmp")]
    except OSError:
        return []
    for name in names:
        match = TEMPORARY.match(name)
        if match is None or match["host"] != HOST_TAG or pid_alive(int(match["pid"])):
            continue
        try:
            (folder / name).unlink()
        except OSError:
            continue  # another process got there first, or the folder is read-only: harmless
        removed.append(folder / name)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's counts)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: assume it runs, never delete what may be in use
    return True


def _existing_ancestor(folder: Path) -> Path:
    folder = folder.absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (a checkpoint can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
