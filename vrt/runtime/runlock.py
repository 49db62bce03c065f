"""One writer per run directory: a lock file naming the process (pid and host) that holds it.

The lock is an ``flock`` on the file, so the kernel lets go of it when its holder dies, however
it dies; the pid, host and start time written into the file are for the message a second
writer gets. A lock file whose holder is gone (a run killed with SIGKILL) is taken over with a
note. Where the file system has no ``flock`` (some network and FUSE file systems), the pid
decides: a lock of a dead process on this host is stale, one of another host is respected.
torch-free.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from vrt.errors import RunLockedError
from vrt.runtime.fileio import pid_alive
from vrt.runtime.syserrors import is_system_error, system_error

__all__ = ["RunLock"]

_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL)


class RunLock:
    """An exclusive lock on ``path`` for one process; use as a context manager or acquire/release.

    Args:
        path: the lock file (created if missing; removed on release).
        what: how messages name what is locked (``"the run directory runs/a"``).
    """

    def __init__(self, path: str | Path, *, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, note: Callable[[str], None] | None = None) -> None:
        """Take the lock, or raise :class:`RunLockedError` naming its holder.

        ``note`` hears about a stale lock taken over (its holder is no longer running).
        """
        if self._fd is not None:
            return
        for _ in range(5):  # a holder may release (unlink) between our open and our lock: retry
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                if is_system_error(error):
                    raise system_error(error, path=self.path, action="create the lock file") from error
                raise
            try:
                previous = _read_owner(fd)
                if not self._lock(fd, previous):
                    raise self._locked(previous)
                if os.fstat(fd).st_ino != _inode(self.path):
                    os.close(fd)
                    continue  # locked a file its holder had just removed
                if previous and previous.get("pid") != os.getpid() and note is not None:
                    note(
                        f"{self.what} was locked by process {previous.get('pid')} on "
                        f"{previous.get('host')}, which is no longer running; taking the lock over"
                    )
                _write_owner(fd)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            return
        raise RunLockedError(
            f"{self.what}: cannot take the lock {self.path}; another process keeps replacing it"
        )

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            self.path.unlink(missing_ok=True)  # before unlocking: no one locks a file about to vanish
        except OSError:
            pass  # a read-only folder now: the flock still goes with the descriptor
        os.close(fd)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _lock(self, fd: int, previous: dict[str, Any] | None) -> bool:
        """Whether the lock is ours now: flock where it works, else the recorded pid decides."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as error:
            if error.errno not in _NO_FLOCK:
                raise
            return previous is None or _stale(previous)
        return True

    def _locked(self, owner: dict[str, Any] | None) -> RunLockedError:
        if owner is None:
            holder = "another process"
        else:
            holder = f"process {owner.get('pid')} on {owner.get('host')} (since {owner.get('started', '?')})"
        return RunLockedError(
            f"{self.what} is in use by {holder}: one process writes a run at a time; wait for it to "
            f"finish or stop it, or use another --output (if no such process runs, delete {self.path})"
        )


def _read_owner(fd: int) -> dict[str, Any] | None:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8")
        owner = json.loads(text) if text.strip() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return owner if isinstance(owner, dict) else None


def _write_owner(fd: int) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().isoformat(timespec="seconds"),
    }
    data = (json.dumps(owner) + "\n").encode("utf-8")
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _stale(owner: dict[str, Any]) -> bool:
    """Without flock: a lock of a dead process on this host is stale; another host's cannot be checked."""
    pid = owner.get("pid")
    return owner.get("host") == socket.gethostname() and isinstance(pid, int) and not pid_alive(pid)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None
