"""What every hostile-input test shares: run `vrt` in-process, read its one error line, fingerprint files.

Commands run through ``vrt.cli.main`` (what ``python -m vrt`` calls) in this process, with
stdout and stderr captured and rich's colours removed; a case asserts either one ``error:``
line (and the exit code) or a verified success, and that the files there before are unchanged.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import tiny_config_dict
from vrt.cli import main

ANSI = re.compile(r"\x1b\[[0-9;]*m")
USAGE, RUNTIME = 2, 1  # exit codes


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def vrt(*args: object) -> Result:
    """``python -m vrt ARGS`` in-process: exit code, stdout and stderr (rich's colours removed)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["vrt", *map(str, args)]
    code = 0
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            main()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = argv
    return Result(code, ANSI.sub("", stdout.getvalue()), ANSI.sub("", stderr.getvalue()))


def assert_one_line_error(result: Result, *fragments: str, code: int = USAGE) -> str:
    """The exit code and the last stderr line, the only ``error: ...`` one, holding every fragment.

    Progress lines before it (a run that stopped mid-training) are fine; a traceback is not.
    """
    assert result.code == code, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.error_lines if line.startswith("error: ")]
    assert len(errors) == 1 and result.error_lines[-1] == errors[0], result.stderr
    line = errors[0]
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    return line


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) with its content's hash: "no earlier file changed"."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): digest(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


@contextlib.contextmanager
def unchanged(*folders: Path) -> Iterator[None]:
    """Assert that no file under ``folders`` was added, removed or changed inside the block."""
    before = [snapshot(folder) for folder in folders]
    yield
    assert [snapshot(folder) for folder in folders] == before


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def tiny_config(path: Path, **train) -> Path:
    """The suite's synthetic one-epoch config (4 classes, tiny3d), written to ``path``."""
    return write_yaml(path, tiny_config_dict(**{"epochs": 1, **train}))


@contextlib.contextmanager
def refused_writes(folder: Path, code: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make the system refuse every write under ``folder`` with ``code`` (EROFS, EACCES, ...).

    The tests run as root, where chmod does not stop a write, so the refusal is simulated where
    Python asks the system: creating files and folders, renaming and removing them.
    """
    folder = folder.absolute()

    def under(path: object) -> bool:
        try:
            return Path(os.fsdecode(path)).absolute().is_relative_to(folder)
        except TypeError:
            return False  # a file descriptor

    def refuse(path: object) -> None:
        raise OSError(code, os.strerror(code), os.fsdecode(path))

    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def guarded(original, check):  # noqa: ANN001, ANN202
        def call(path, *args, **kwargs):  # noqa: ANN001, ANN202
            if under(path) and check(*args, **kwargs):
                refuse(path)
            return original(path, *args, **kwargs)

        return call

    always = lambda *args, **kwargs: True  # noqa: E731
    monkeypatch.setattr(os, "open", guarded(os.open, lambda flags, *a, **k: bool(flags & write_flags)))
    monkeypatch.setattr(os, "mkdir", guarded(os.mkdir, always))
    for name in ("replace", "rename", "link", "unlink", "rmdir"):
        monkeypatch.setattr(os, name, guarded(getattr(os, name), always))
    opener = io.open

    def open_(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN202
        if isinstance(file, str | bytes | os.PathLike) and under(file) and any(m in mode for m in "wax+"):
            refuse(file)
        return opener(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", open_)
    monkeypatch.setattr(io, "open", open_)
    yield


def full_disk_after(monkeypatch: pytest.MonkeyPatch, *, writes: int, code: int = errno.ENOSPC) -> None:
    """Let ``writes`` atomic writes through, then fail every later one as a full disk would."""
    import vrt.runtime.fileio as fileio

    passed = {"count": 0}
    fsync = os.fsync

    def failing(fd: int) -> None:
        if passed["count"] >= writes:
            raise OSError(code, os.strerror(code))
        passed["count"] += 1
        fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", failing)
