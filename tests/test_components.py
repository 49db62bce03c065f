"""One construction path: discovery by file, injected values, aliases, legacy config sections."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vrt.components import build
from vrt.config import ConfigError, config_from_dict, config_to_dict
from vrt.config.schema import ComponentSpec
from vrt.registry import HEADS, LOSSES, Registry

from .conftest import REPO_ROOT, tiny_config_dict

NEW_LOSS = '''
"""A loss added as one new file: nothing else is edited."""

from torch import Tensor

from vrt.losses.base import HashingLoss
from vrt.registry import LOSSES


class MeanCodeLoss(HashingLoss):
    def compute(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return embeddings.mean() * self.scale


@LOSSES.register("mean_code")
def mean_code(*, scale: float = 1.0) -> MeanCodeLoss:
    """The mean code value, scaled (an example)."""
    loss = MeanCodeLoss()
    loss.scale = scale
    return loss
'''

NEW_DATASET = '''
"""A dataset adapter added as one new file (its parser beside it)."""

from pathlib import Path
from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import VideoFileDataset, existing_folder
from vrt.datasets.splitfiles import SplitEntry
from vrt.registry import DATASETS


def parse_pairs(path: Path) -> list[SplitEntry]:
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return [SplitEntry(video, int(label), None) for video, label in rows]


@DATASETS.register("pair_list")
def pair_list(*, subset: Literal["train", "test"], clips: ClipSpec, root: str) -> VideoFileDataset:
    """Videos listed as '<path> <label>' in <root>/<subset>.txt."""
    folder = existing_folder(root, key="data.dataset.root", expected="a folder with train.txt and test.txt")
    entries = parse_pairs(folder / f"{subset}.txt")
    return VideoFileDataset(entries=entries, root=folder, class_names=["a", "b"], clips=clips, name=subset)
'''


def test_a_new_loss_or_dataset_file_registers_without_edits_elsewhere(tmp_path):
    copy = tmp_path / "vrt"
    shutil.copytree(REPO_ROOT / "vrt", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "losses" / "mean_code.py").write_text(NEW_LOSS)
    (copy / "datasets" / "pair_list.py").write_text(NEW_DATASET)
    check = textwrap.dedent(
        """
        import torch
        from vrt.config import config_from_dict
        from vrt.registry import DATASETS, LOSSES
        assert "mean_code" in LOSSES.names() and "pair_list" in DATASETS.names()
        raw = {"loss": {"name": "mean_code", "scale": 2.0}, "data": {"dataset": {"name": "pair_list", "root": "."}}}
        config = config_from_dict(raw)  # validated against the new builders' signatures
        from vrt.losses.combined import build_loss
        loss = build_loss(config.loss, bits=8, num_classes=2)
        assert float(loss(torch.ones(3, 8), torch.tensor([0, 1, 1]))) == 2.0
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]


def test_builders_get_only_the_injected_values_they_declare():
    loss = build(
        LOSSES, ComponentSpec("triplet_ranking", {"margin": 3.0}), section="loss", bits=16, num_classes=4
    )
    assert loss.margin == 3.0  # triplet_ranking declares neither bits nor num_classes: not passed
    with pytest.raises(ConfigError, match=r"model\.head\.in_dim: 'in_dim' is set by vrt"):
        build(HEADS, ComponentSpec("linear", {"bits": 16, "in_dim": 4}), section="model.head", in_dim=8)
    with pytest.raises(ConfigError, match=r"model\.head: bits must be a positive multiple of 8"):
        build(HEADS, ComponentSpec("linear", {"bits": 12}), section="model.head", in_dim=8)
    with pytest.raises(TypeError, match="missing injected"):  # a bug in vrt, not a user error
        build(HEADS, ComponentSpec("linear", {"bits": 16}), section="model.head")


def test_aliases_keep_old_names_working_in_configs_and_checkpoints(tmp_path, monkeypatch):
    from vrt.checkpoints.format import save_checkpoint
    from vrt.inference import TrainedModel
    from vrt.model import build_model

    registry = Registry("things", entry_point_group="vrt.test-things")
    registry.register("new_name", aliases=("old_name",))(lambda: "built")
    assert registry.get("Old-Name")() == "built" and registry.names() == ["new_name"]
    with pytest.raises(LookupError, match="already"):
        registry.register("other", aliases=("old_name",))(lambda: None)

    monkeypatch.setitem(HEADS._aliases, "linear_v0", "linear")  # as if `linear` had been renamed
    stored = tiny_config_dict()
    stored["model"]["head"]["name"] = "linear_v0"
    config = config_from_dict(stored)
    assert config.model.head.name == "linear"  # written back under the current name
    model = build_model(config.model)
    save_checkpoint(tmp_path / "old.pt", {"model": model.state_dict(), "config": stored, "epoch": 1})
    assert TrainedModel.load(tmp_path / "old.pt").bits == 16


def test_stored_configs_of_the_flat_optimiser_section_still_load():
    stored = tiny_config_dict()
    # What config.yaml held before optimisers and schedules were registered components.
    stored["train"]["optimizer"] = {
        "name": "adam",
        "lr": 0.003,
        "momentum": 0.9,
        "weight_decay": 0.0,
        "nesterov": False,
    }
    stored["train"]["scheduler"] = {
        "name": "cosine",
        "step_size": 10,
        "gamma": 0.1,
        "patience": 2,
        "min_lr": 0.0,
    }
    config = config_from_dict(stored)
    assert config_to_dict(config)["train"]["optimizer"] == {
        "name": "adam",
        "lr": 0.003,
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
    }
    stored["train"]["optimizer"]["momentum"] = 0.5  # not a default: a setting Adam would ignore
    with pytest.raises(ConfigError, match=r"train\.optimizer\.momentum: unknown parameter"):
        config_from_dict(stored)
