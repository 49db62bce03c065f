"""Shared fixtures: a tiny but complete training config (4 frames of 32x32, tiny3d)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


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
