"""One construction path: discovery by file, injected values, aliases, legacy config sections."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from vrt.components import build
from vrt.config import ConfigError, config_from_dict, config_to_dict
from vrt.config.schema import ComponentSpec
from vrt.io.synthetic_video import write_test_video
from vrt.registry import HEADS, LOSSES, Registry

from .conftest import REPO_ROOT, tiny_config_dict


def worked_examples() -> tuple[str, str]:
    """The loss and the dataset adapter that docs/plugins.md adds as one file each."""
    text = (REPO_ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = text[text.index("## Adding a built-in component: one file") :]
    loss, dataset = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:2]
    return loss, dataset


def test_a_new_loss_or_dataset_file_registers_without_edits_elsewhere(tmp_path):
    copy = tmp_path / "vrt"
    shutil.copytree(REPO_ROOT / "vrt", copy, ignore=shutil.ignore_patterns("__pycache__"))
    loss, dataset = worked_examples()
    (copy / "losses" / "centre_pull.py").write_text(loss)
    (copy / "datasets" / "pair_list.py").write_text(dataset)
    data = tmp_path / "pairs"
    write_test_video(data / "a.avi", num_frames=6)
    write_test_video(data / "b.avi", num_frames=6, seed=1)
    (data / "train.txt").write_text("a.avi 0\nb.avi 1\n")
    (data / "test.txt").write_text("b.avi 1\n")
    check = textwrap.dedent(
        f"""
        import torch
        from vrt.config import config_from_dict
        from vrt.data.pipeline import build_data_splits
        from vrt.losses.combined import build_loss
        from vrt.registry import DATASETS, LOSSES
        assert "centre_pull" in LOSSES.names() and "pair_list" in DATASETS.names()
        raw = {{
            "loss": {{"terms": [{{"name": "triplet_ranking"}}, {{"name": "centre_pull", "weight": 0.1}}]}},
            "data": {{"dataset": {{"name": "pair_list", "root": {str(data)!r}}}, "num_frames": 2,
                     "frame_size": 16, "val_fraction": 0.0}},
        }}
        config = config_from_dict(raw)  # validated against the new builders' signatures
        loss = build_loss(config.loss, bits=8, num_classes=2)
        assert float(loss.terms[1](torch.ones(3, 8), torch.tensor([0, 1, 1]))) == 0.0
        splits = build_data_splits(config)
        assert len(splits.train_source) == 2 and splits.view("test")[0][0].shape == (3, 2, 16, 16)
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
        LOSSES,
        ComponentSpec("triplet_ranking", {"margin": 3.0}),
        section="loss",
        bits=16,
        num_classes=4,
        frame_dim=None,
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
