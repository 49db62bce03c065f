"""Crashes and signals: two writers at once, locks and temporary files left by killed processes,
runs stopped before their first checkpoint, interrupts in the middle of a write.

SIGKILL and SIGTERM in the middle of training, then --resume, are in test_crash_safety.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT
from tests.hostile.helpers import RUNTIME, assert_one_line_error, digest, snapshot, vrt
from vrt.checkpoints.format import load_checkpoint
from vrt.runtime.fileio import HOST_TAG

pytestmark = pytest.mark.slow

HOLD_LOCK = """
import sys, time
from vrt.runtime.runlock import RunLock
lock = RunLock(sys.argv[1], what="a run")
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def background(code: str, *args: object) -> subprocess.Popen:
    """A Python process running ``code``; returns once it printed its first line."""
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None and process.stdout.readline().strip(), "the helper process failed"
    return process


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize("how", ["resume", "new-run"])
def test_a_second_writer_is_refused_while_the_first_holds_the_lock(run_copy, tree, tmp_path, how):
    folder = run_copy if how == "resume" else tmp_path / "fresh"
    if how == "new-run":  # the first writer has just created its run: marker and lock, nothing else
        folder.mkdir()
        (folder / "vrt-run.json").write_text('{"format": "vrt-run/1"}\n')
    holder = background(HOLD_LOCK, folder / "run.lock")
    try:
        before = snapshot(folder)
        args = ["--resume", "--set", "train.epochs=2"] if how == "resume" else [tree.clean]
        line = assert_one_line_error(vrt("train", "--output", folder, *args), code=RUNTIME)
        assert (
            f"the run directory {folder} is in use by process {holder.pid} on {socket.gethostname()}" in line
        )
        assert "one process writes a run at a time" in line
        assert snapshot(folder) == before
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_is_taken_over_with_a_note(run_copy):
    pid = dead_pid()
    (run_copy / "run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}) + "\n")
    result = vrt("train", "--output", run_copy, "--resume", "--set", "train.epochs=2")
    assert result.code == 0, result.stderr
    assert (
        f"was locked by process {pid} on {socket.gethostname()}, which is no longer running" in result.stderr
    )
    assert load_checkpoint(run_copy / "last.pt")["epoch"] == 2
    assert not (run_copy / "run.lock").exists()  # released at the end


def stopped_before_first_checkpoint(run: Path) -> Path:
    """``run`` as a run killed after its first metrics.jsonl line, before its first checkpoint."""
    for name in ("last.pt", "best.pt", "results.json", "codes_test.npz", "codes_train.npz", "curves.png"):
        (run / name).unlink()
    return run


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_stopped_before_its_first_checkpoint_starts_again_saying_so(run_copy, tree, resume):
    run = stopped_before_first_checkpoint(run_copy)
    args = ["--resume"] if resume else [tree.clean]
    result = vrt("train", "--output", run, *args)
    assert result.code == 0, result.stderr
    said = (
        "has no checkpoint yet (the run stopped before its first one)"
        if resume
        else "holds a run stopped before its first checkpoint"
    )
    assert said in result.stderr
    assert [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


def write_temporary(folder: Path, name: str, *, pid: int, host: str = HOST_TAG) -> Path:
    path = folder / f".{name}.{pid}.{host}-abcd1234.tmp"
    path.write_bytes(b"half a file")
    return path


@pytest.mark.parametrize("writer", ["dead", "alive", "other-host"])
def test_stray_temporaries_go_at_the_next_write_unless_their_writer_may_still_run(
    codes_pair, tmp_path, writer
):
    folder = tmp_path / "out"
    folder.mkdir()
    pid = {"dead": dead_pid(), "alive": os.getppid(), "other-host": dead_pid()}[writer]
    stray = write_temporary(
        folder, "db.index.npz", pid=pid, host="0badc0de" if writer == "other-host" else HOST_TAG
    )
    assert vrt("index", "build", "--codes", codes_pair[1], "--out", folder / "db.index.npz").code == 0
    assert stray.exists() == (writer != "dead")


SLOW_WRITE = """
import sys, time
from vrt.runtime.fileio import atomic_write
def write(handle):
    handle.write(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(120)
atomic_write(sys.argv[1], write)
"""


def test_a_write_killed_by_sigkill_leaves_a_temporary_that_the_next_write_removes(codes_pair, tmp_path):
    target = tmp_path / "codes_test.npz"
    target.write_bytes(codes_pair[0].read_bytes())
    before = digest(target)
    writer = background(SLOW_WRITE, target)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    leftovers = sorted(p.name for p in tmp_path.glob(".codes_test.npz.*.tmp"))
    assert len(leftovers) == 1 and digest(target) == before  # the previous file survived the kill
    assert vrt("index", "build", "--codes", codes_pair[1], "--out", tmp_path / "db.index.npz").code == 0
    assert list(tmp_path.glob(".*.tmp")) == [] and digest(target) == before


def test_an_export_interrupted_mid_write_keeps_the_previous_file_and_no_temporary(
    trained_run, codes_pair, tmp_path, monkeypatch
):
    out = tmp_path / "codes.npz"
    out.write_bytes(codes_pair[0].read_bytes())
    before = snapshot(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    result = vrt(
        "export", "--checkpoint", trained_run / "best.pt", "--split", "test", "--out", out, "--force"
    )  # other items: dropped on request
    assert result.code == 130 and "Traceback" not in result.stderr
    assert snapshot(tmp_path) == before
