"""Runs that are killed or stopped: real `python -m vrt train` processes, SIGKILL and SIGTERM
mid-epoch, then `--resume` ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from vrt.checkpoints.format import load_checkpoint

from .conftest import REPO_ROOT, tiny_config_dict

pytestmark = pytest.mark.slow

# 72 fit videos in batches of 4 classes x 2: 9 steps per epoch, a few seconds per run.
BATCHES_PER_EPOCH = 9


def crash_config(tmp_path: Path, **train) -> Path:
    data = tiny_config_dict(epochs=2, **train)
    data["data"]["dataset"]["videos_per_class"] = 24
    data["model"]["backbone"]["width"] = 8
    path = tmp_path / f"crash-{len(list(tmp_path.glob('crash-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def train_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vrt", "train", *args]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        train_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )


def run(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(train_command(*args), capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def wait_for(process: subprocess.Popen, ready, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert process.poll() is None, (
            f"training ended before the test could stop it: {process.stderr.read()}"
        )
        assert time.monotonic() < deadline, "timed out waiting for training to get there"
        time.sleep(0.002)


def losses(run_dir: Path) -> list[tuple[int, float, int]]:
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["epoch"], r["loss"], r["steps"]) for r in records]


def assert_same_weights(first: Path, second: Path) -> None:
    a, b = load_checkpoint(first)["model"], load_checkpoint(second)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uninterrupted")
    run_dir = root / "run"
    run(str(crash_config(root)), "--output", str(run_dir))
    return run_dir


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    process = start(str(crash_config(tmp_path, checkpoint_every_steps=1)), "--output", str(run_dir))
    # Two steps into the second epoch: a step checkpoint mid-epoch, then an external SIGKILL.
    wait_for(process, (run_dir / f"step-{BATCHES_PER_EPOCH + 2:08d}.pt").exists)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert not (run_dir / "results.json").exists()
    state = load_checkpoint(run_dir / "last.pt")
    assert state["epoch"] == 1 and 0 < state["position"] < BATCHES_PER_EPOCH  # killed mid-epoch
    steps = sorted(p.name for p in run_dir.glob("step-*.pt"))
    assert len(steps) == 2  # train.keep_checkpoints

    # Damage the newest state too: resume must say so and fall back to its step-file copy.
    damaged = (run_dir / "last.pt").read_bytes()
    (run_dir / "last.pt").unlink()
    (run_dir / "last.pt").write_bytes(damaged[: len(damaged) // 2])
    resumed = run("--output", str(run_dir), "--resume")
    assert "last.pt" in resumed.stderr and "cannot be read" in resumed.stderr
    assert f"batch {state['position']}/{BATCHES_PER_EPOCH} of epoch 2" in resumed.stderr
    assert (run_dir / "last.pt.corrupt").exists()

    assert_same_weights(uninterrupted / "last.pt", run_dir / "last.pt")
    assert losses(run_dir) == losses(uninterrupted)  # the interrupted epoch's loss included
    assert json.loads((run_dir / "results.json").read_text())["metrics"]["map"] == pytest.approx(
        json.loads((uninterrupted / "results.json").read_text())["metrics"]["map"], abs=0
    )


def test_sigterm_saves_says_how_to_resume_and_exits_143(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    config = crash_config(tmp_path, checkpoint_every_steps=BATCHES_PER_EPOCH + 3)
    process = start(str(config), "--output", str(run_dir))
    wait_for(process, (run_dir / f"step-{BATCHES_PER_EPOCH + 3:08d}.pt").exists)  # 3 steps into epoch 2
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert f"vrt train --output {run_dir} --resume" in stderr
    assert "stopped by SIGTERM" in stderr and "Traceback" not in stderr
    state = load_checkpoint(run_dir / "last.pt")
    assert state["epoch"] == 1 and state["position"] >= 3  # saved where it stopped, mid-epoch

    run("--output", str(run_dir), "--resume")
    assert_same_weights(uninterrupted / "last.pt", run_dir / "last.pt")
    assert losses(run_dir) == losses(uninterrupted)
