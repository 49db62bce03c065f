"""The files the hostile-input suite works on: a tree of good and broken videos, and one finished run.

Both are built once per session and are read-only for the tests: a case that needs to change
a run copies it first (``run_copy``).
"""

from __future__ import annotations

import os
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tiny_config_dict
from tests.datasets_fixtures import write_source_video
from tests.hostile.helpers import vrt, write_yaml
from vrt.codes import CodeSet, save_codes

NFD_NAME = unicodedata.normalize("NFD", "b/naïve.avi")  # as unpacked from a macOS archive
# The training list: CRLF line ends, blank and whitespace-only lines, a comment, a duplicate,
# non-ASCII names (one listed composed, stored decomposed), and videos that are zero bytes,
# random bytes, truncated, shorter than num_frames, grey and 33x27.
TRAIN_LINES = [
    "# path label",
    "a/a1.avi a",
    "a/a2.avi a",
    "",
    "a/vidéo_ü.avi a",
    "a/short.avi a",
    "a/grey.avi a",
    "a/truncated.avi a",
    "   ",
    "b/b1.avi b",
    "b/b2.avi b",
    "b/odd.avi b",
    "b/naïve.avi b",
    "b/zero.avi b",
    "b/corrupt.avi b",
    "b/b1.avi b",
]
BAD = {"a/truncated.avi", "b/zero.avi", "b/corrupt.avi"}
TEST_LINES = ["a/a3.avi a", "a/a4.avi a", "b/b3.avi b", "b/b4.avi b"]


def list_config(path: Path, *, root: Path, train_list: Path, test_list: Path, **train) -> Path:
    """A one-epoch tiny3d config over a ``video_list`` of classes ``a`` and ``b``."""
    config = tiny_config_dict(**{"epochs": 1, **train})
    config["data"]["dataset"] = {
        "name": "video_list",
        "root": str(root),
        "train_list": str(train_list),
        "test_list": str(test_list),
        "class_names": ["a", "b"],
    }
    config["data"]["val_fraction"] = 0.0
    config["data"]["batch"] = {"sampler": "class_balanced", "classes_per_batch": 2, "videos_per_class": 2}
    return write_yaml(path, config)


@dataclass(frozen=True)
class Tree:
    base: Path
    root: Path
    hostile: Path  # config over the hostile training list
    clean: Path  # config over good videos only


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("hostile")
    root = base / "clips"
    good = ["a/a1.avi", "a/a2.avi", "a/a3.avi", "a/a4.avi", "b/b1.avi", "b/b2.avi", "b/b3.avi", "b/b4.avi"]
    for seed, relative in enumerate([*good, "a/vidéo_ü.avi", NFD_NAME]):
        write_source_video(root, relative, num_frames=4, seed=seed)
    write_source_video(root, "a/short.avi", num_frames=2)  # data.num_frames is 4
    write_source_video(root, "a/grey.avi", num_frames=4, codec="ffv1", grayscale=True)
    write_source_video(root, "b/odd.avi", num_frames=4, size=(33, 27))
    (root / "b" / "zero.avi").write_bytes(b"")
    (root / "b" / "corrupt.avi").write_bytes(os.urandom(2048))
    whole = write_source_video(base, "whole.avi", num_frames=40).read_bytes()
    (root / "a" / "truncated.avi").write_bytes(whole[:600])  # the header survives, the frames do not

    (base / "train.txt").write_bytes("\r\n".join(TRAIN_LINES).encode() + b"\r\n")
    (base / "test.txt").write_bytes("\r\n".join(TEST_LINES).encode() + b"\r\n")
    (base / "clean_train.txt").write_text("a/a1.avi a\na/a2.avi a\nb/b1.avi b\nb/b2.avi b\n")
    (base / "clean_test.txt").write_text("a/a3.avi a\nb/b3.avi b\n")
    return Tree(
        base,
        root,
        hostile=list_config(
            base / "hostile.yaml", root=root, train_list=base / "train.txt", test_list=base / "test.txt"
        ),
        clean=list_config(
            base / "clean.yaml",
            root=root,
            train_list=base / "clean_train.txt",
            test_list=base / "clean_test.txt",
        ),
    )


@pytest.fixture(scope="session")
def trained_run(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run on the clean list; tests must leave its files as they are."""
    run = tmp_path_factory.mktemp("runs") / "clean"
    result = vrt("train", tree.clean, "--output", run)
    assert result.code == 0, result.stderr
    return run


@pytest.fixture
def run_copy(trained_run: Path, tmp_path: Path) -> Path:
    """A copy of the finished run that a test may change."""
    return Path(shutil.copytree(trained_run, tmp_path / "run"))


def random_codes(count: int, bits: int = 16, *, seed: int = 0, classes: int = 3) -> CodeSet:
    rng = np.random.default_rng(seed)
    return CodeSet.from_bits(
        rng.random((count, bits)) > 0.5,
        labels=np.arange(count) % classes,
        ids=[f"v{i}" for i in range(count)],
        class_names=[f"c{i}" for i in range(classes)],
    )


@pytest.fixture
def codes_pair(tmp_path: Path) -> tuple[Path, Path]:
    """A query and a database codes file of 16-bit codes."""
    return save_codes(tmp_path / "q.npz", random_codes(6, seed=1)), save_codes(
        tmp_path / "db.npz", random_codes(30)
    )
