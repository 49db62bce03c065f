"""Disks that refuse: full, read-only, no permission, names too long, a file where a folder goes.

The tests run as root, where chmod does not stop a write, so full and read-only disks are
simulated where Python asks the system (helpers.refused_writes, helpers.full_disk_after); a
name too long and a file in the middle of a path are real. Each case ends in one line naming the
path, exit code 1, and the files written before unchanged (vrt writes atomically).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from tests.hostile.helpers import (
    RUNTIME,
    assert_one_line_error,
    full_disk_after,
    refused_writes,
    snapshot,
    vrt,
)
from vrt.checkpoints.format import load_checkpoint

pytestmark = pytest.mark.slow

FULL = "the disk is full (ENOSPC)"


@pytest.mark.parametrize(
    ("code", "said"), [(errno.ENOSPC, FULL), (errno.EDQUOT, "the disk quota is exceeded (EDQUOT)")]
)
def test_export_on_a_full_disk_keeps_the_previous_codes(
    trained_run, codes_pair, tmp_path, monkeypatch, code, said
):
    out = tmp_path / "codes.npz"
    out.write_bytes(codes_pair[0].read_bytes())
    before = snapshot(tmp_path)
    full_disk_after(monkeypatch, writes=0, code=code)
    result = vrt(
        "export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", out, "--force"
    )  # other items: dropped on request
    assert_one_line_error(
        result, f"cannot write {out}: {said}; codes.npz keeps its previous content", code=RUNTIME
    )
    assert snapshot(tmp_path) == before  # no temporary left either


def test_index_build_on_a_full_disk(codes_pair, tmp_path, monkeypatch):
    before = snapshot(tmp_path)
    full_disk_after(monkeypatch, writes=0)
    result = vrt("index", "build", "--codes", codes_pair[1], "--out", tmp_path / "db.index.npz")
    assert_one_line_error(
        result, f"cannot write {tmp_path / 'db.index.npz'}: {FULL}; earlier files are intact", code=RUNTIME
    )
    assert snapshot(tmp_path) == before


def test_eval_output_on_a_full_disk(codes_pair, tmp_path, monkeypatch):
    full_disk_after(monkeypatch, writes=0)
    result = vrt("eval", "--query", codes_pair[0], "--database", codes_pair[1], "--output", tmp_path / "eval")
    assert_one_line_error(result, f"cannot write {tmp_path / 'eval' / 'results.json'}: {FULL}", code=RUNTIME)


def test_a_full_disk_during_training_keeps_the_last_checkpoint(run_copy, monkeypatch):
    import vrt.runtime.fileio as fileio

    fsync, saves = os.fsync, []

    def failing(fd: int) -> None:  # the checkpoint of epoch 2 finds the disk full
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        saves.append(fd)
        fsync(fd)

    monkeypatch.setattr(fileio.os, "fsync", failing)
    kept = {name: (run_copy / name).read_bytes() for name in ("last.pt", "best.pt", "results.json")}
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    line = assert_one_line_error(result, f"cannot write {run_copy / 'last.pt'}: {FULL}", code=RUNTIME)
    assert "last.pt keeps its previous content and earlier files are intact" in line
    assert {name: (run_copy / name).read_bytes() for name in kept} == kept
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 1 and list(run_copy.glob(".*.tmp")) == []


def test_a_full_disk_when_resuming_changes_nothing(run_copy, monkeypatch):
    before = snapshot(run_copy)
    full_disk_after(monkeypatch, writes=0)
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    assert_one_line_error(result, f"cannot write {run_copy / 'config.yaml'}: {FULL}", code=RUNTIME)
    assert snapshot(run_copy) == before


def test_a_full_disk_while_appending_metrics_points_to_the_checkpoints(run_copy, monkeypatch):
    from vrt.training.metrics_log import MetricsLog

    def full(self, record):  # noqa: ANN001, ANN202 - a plain append, not an atomic write
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(MetricsLog, "append", full)
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    line = assert_one_line_error(result, f"cannot write {run_copy}: {FULL}", code=RUNTIME)
    assert (
        f"the checkpoints in {run_copy} are intact: resume with `vrt train --output {run_copy} --resume`"
        in line
    )


@pytest.mark.parametrize(
    ("code", "said"),
    [(errno.EROFS, "the file system is read-only (EROFS)"), (errno.EACCES, "permission denied (EACCES)")],
)
def test_export_into_a_folder_that_refuses_writes(trained_run, tmp_path, monkeypatch, code, said):
    locked = tmp_path / "locked"
    locked.mkdir()
    with refused_writes(locked, code, monkeypatch):
        result = vrt(
            "export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", locked / "c.npz"
        )
    assert_one_line_error(result, f"cannot write {locked / 'c.npz'}: {said}", code=RUNTIME)
    assert list(locked.iterdir()) == []


def test_train_into_a_read_only_folder(tmp_path, monkeypatch):
    from tests.hostile.helpers import tiny_config

    config = tiny_config(tmp_path / "c.yaml")
    (tmp_path / "ro").mkdir()
    with refused_writes(tmp_path / "ro", errno.EROFS, monkeypatch):
        result = vrt("train", config, "--output", tmp_path / "ro" / "run")
    assert_one_line_error(
        result,
        f"cannot create the run directory {tmp_path / 'ro' / 'run'}: the file system is read-only",
        code=RUNTIME,
    )
    assert list((tmp_path / "ro").iterdir()) == []


def test_resume_of_a_run_on_a_read_only_disk(run_copy, monkeypatch):
    before = snapshot(run_copy)
    with refused_writes(run_copy, errno.EROFS, monkeypatch):
        result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    assert_one_line_error(
        result,
        f"cannot create the lock file {run_copy / 'run.lock'}: the file system is read-only",
        code=RUNTIME,
    )
    assert snapshot(run_copy) == before


LONG = "n" * 300


@pytest.mark.parametrize("command", ["export", "index", "train"])
def test_a_name_too_long_for_the_file_system(trained_run, codes_pair, tmp_path, command):
    from tests.hostile.helpers import tiny_config

    target = tmp_path / (LONG + ("" if command == "train" else ".npz"))
    args = {
        "export": ["export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", target],
        "index": ["index", "build", "--codes", codes_pair[1], "--out", target],
        "train": ["train", tiny_config(tmp_path / "c.yaml"), "--output", target],
    }[command]
    before = snapshot(tmp_path)
    line = assert_one_line_error(
        vrt(*args), "the name is too long for the file system (ENAMETOOLONG)", code=RUNTIME
    )
    assert LONG in line and "choose a shorter name" in line
    assert snapshot(tmp_path) == before


def test_a_file_in_the_middle_of_the_path(codes_pair, tmp_path):
    (tmp_path / "notes.txt").write_text("a file, not a folder\n")
    out = tmp_path / "notes.txt" / "db.index.npz"
    result = vrt("index", "build", "--codes", codes_pair[1], "--out", out)
    assert_one_line_error(result, "a part of the path is a file, not a folder (ENOTDIR)", code=RUNTIME)
    assert (tmp_path / "notes.txt").read_text() == "a file, not a folder\n"


def test_eval_output_that_is_a_file(codes_pair, tmp_path):
    target: Path = tmp_path / "results"
    target.write_text("mine\n")
    result = vrt("eval", "--query", codes_pair[0], "--database", codes_pair[1], "--output", target)
    assert_one_line_error(result, f"--output {target} is a file, not a folder")
    assert target.read_text() == "mine\n"
