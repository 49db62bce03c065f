"""Every reference config trains on fixture trees built from the real split files.

The fixtures hold one tiny hard-linked video per listed file; the overrides shrink clips, cap the
videos per class and stop after one step, so each config's own model, loss and data settings run
for real (r3d_18 on 4 frames of 32x32, without downloading weights).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.datasets_fixtures import REPO_CONFIGS, build_ucf101, require_split_files, write_source_video
from vrt.config import load_config
from vrt.training.runner import MISSING_REASON, Runner

pytestmark = pytest.mark.slow

REFERENCE_CONFIGS = sorted(
    p for p in REPO_CONFIGS.glob("*.yaml") if p.name.split("_")[0] in ("ucf101", "hmdb51", "jhmdb")
)

ONE_STEP = [
    "model.backbone.pretrained=null",
    "data.num_frames=4",
    "data.frame_size=32",
    "data.max_videos_per_class=2",
    "data.val_fraction=0",
    "data.num_workers=0",
    "data.batch.classes_per_batch=4",
    "data.batch.videos_per_class=2",
    "train.epochs=1",
    "train.max_steps_per_epoch=1",
    "train.device=cpu",
]


def test_every_dataset_has_reference_configs():
    assert {p.name.split("_")[0] for p in REFERENCE_CONFIGS} == {"ucf101", "hmdb51", "jhmdb"}
    assert (
        len(REFERENCE_CONFIGS) == 11
    )  # with ucf101_48bit_reference_recipe, the reference repository's recipe


@pytest.mark.parametrize("config_path", REFERENCE_CONFIGS, ids=lambda p: p.stem)
def test_reference_config_trains_one_step(config_path, request, tmp_path):
    tree = request.getfixturevalue(f"{config_path.name.split('_')[0]}_tree")
    overrides = [f"data.dataset.root={tree.root}", f"data.dataset.annotations={tree.annotations}", *ONE_STEP]
    config = load_config(config_path, overrides)
    runner = Runner(config, tmp_path / "run")
    report = runner.fit().report
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["steps"] == 1
    classes = len(runner.splits.class_names)
    assert report.num_queries == 2 * classes and report.num_database == 2 * classes
    assert not (tmp_path / "run" / "bad_videos.txt").exists()


def test_deleted_and_corrupt_videos_give_a_completed_run_listing_them(tmp_path):
    require_split_files()
    tree = build_ucf101(tmp_path / "data")
    # The first videos of the first class in each list fall inside the per-class cap below.
    train_first = [p for p in tree.paths if "ApplyEyeMakeup_g08" in p or "ApplyEyeMakeup_g09" in p][:3]
    test_first = [p for p in tree.paths if "ApplyEyeMakeup_g01" in p][:1]
    deleted, corrupt = [train_first[0]], [train_first[1], test_first[0]]
    for relative in deleted + corrupt:
        (tree.root / relative).unlink()  # a hard link: unlink first, never write through it
    for relative in corrupt:
        (tree.root / relative).write_bytes(os.urandom(2048))
    truncated = write_source_video(tmp_path, "whole.avi")
    (tree.root / train_first[2]).unlink()
    (tree.root / train_first[2]).write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 3])
    corrupt.append(train_first[2])

    overrides = [f"data.dataset.root={tree.root}", f"data.dataset.annotations={tree.annotations}", *ONE_STEP]
    overrides[overrides.index("data.max_videos_per_class=2")] = "data.max_videos_per_class=4"
    runner = Runner(load_config(REPO_CONFIGS / "ucf101_48bit.yaml", overrides), tmp_path / "run")
    with pytest.warns(UserWarning, match="1 of"):
        runner.fit()

    listed = dict(
        line.split("\t", 1) for line in (tmp_path / "run" / "bad_videos.txt").read_text().splitlines()
    )
    assert set(listed) == set(deleted + corrupt)
    assert listed[deleted[0]] == MISSING_REASON
    assert json.loads((tmp_path / "run" / "results.json").read_text())["protocol"]["bad_videos"] == 4
