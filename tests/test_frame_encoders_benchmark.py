"""benchmarks/frame_encoders.py: its rows' configs are valid, and the rows without labels read none."""

from __future__ import annotations

import pytest

from vrt.config import config_from_dict
from vrt.losses.combined import loss_needs_labels

from .conftest import benchmark_script


@pytest.fixture(scope="module")
def bench():
    yield from benchmark_script("frame_encoders.py")


def test_every_trained_rows_config_is_valid(bench, tmp_path):
    configs = [
        bench.tiny3d_config(tmp_path, 0),
        bench.motion_config(tmp_path, 0, finetune=True),
        bench.motion_config(tmp_path, 0, finetune=False, name="x", loss={"name": "clip_contrast"}),
        bench.features_config(tmp_path, 0, name="x", loss={"name": "csq"}, labels=True),
        bench.features_config(tmp_path, 0, name="x", loss=bench.CONMH_NEIGHBOURHOOD, labels=False),
    ]
    for raw in configs:
        config_from_dict(raw)


@pytest.mark.parametrize("label", ["clip_contrast", "clip_contrast_forward"])
def test_the_clip_contrast_rows_train_frozen_motions_model_without_labels(
    bench, tmp_path, monkeypatch, label
):
    # The rows compare objectives: the model, data and schedule must be frozen_motion's.
    frozen = bench.motion_config(tmp_path, 0, finetune=False)
    (row,) = [row for row in bench.ROWS if row.label == label]
    assert not row.labels
    written = {}
    monkeypatch.setattr(bench, "train", lambda config, run_dir: written.update(config) or 0.0)  # no training
    row.make(tmp_path, tmp_path / "features", 0, tmp_path / label)
    assert not loss_needs_labels(config_from_dict(written).loss)
    assert written["data"]["batch"]["sampler"] == "shuffle"
    differ = {key for key in frozen if frozen[key] != written[key]}
    assert differ == {"name", "loss", "data"}
    assert {k for k in frozen["data"] if frozen["data"][k] != written["data"][k]} == {"batch"}
    assert written["loss"]["name"] == "clip_contrast"
    assert written["loss"].get("reversed_negatives", True) == (label == "clip_contrast")
