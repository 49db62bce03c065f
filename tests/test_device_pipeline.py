"""``data.pipeline: device``: workers read bytes and draw recipes, the device decodes and augments.

Run here on the CPU device, which is the same code path a GPU takes (decode_jpeg and the
recipe's torchvision ops on ``device``); on the CPU the clips must equal the CPU pipeline's bit
for bit. On a GPU, nvJPEG's decoder and the float resize may differ by a grey level or so.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from vrt.config import config_from_dict
from vrt.config.schema import AugmentConfig, ColorJitterConfig
from vrt.data.collate import PendingClips, collate_clips
from vrt.datasets.base import ClipView
from vrt.datasets.clips import ClipSpec
from vrt.datasets.pending import PendingClip
from vrt.datasets.samplers import SegmentSampler
from vrt.io.synthetic_video import write_frame_folder, write_test_video
from vrt.registry import DATASETS
from vrt.training.runner import Runner

from .conftest import tiny_config_dict

AUGMENT = AugmentConfig(
    resize_short=36, scales=[1.0, 0.75], temporal_jitter=0.3, color=ColorJitterConfig(0.3, 0.3, 0.3, 0.05)
)


def make_tree(root: Path) -> Path:
    """Two classes of three videos each: frame folders of JPEGs, and one video file per class."""
    for label, name in enumerate(("clap", "jump")):
        for i in range(3):
            size = (48 + 8 * i, 40)  # every video its own size, as in real collections
            if i == 2:
                write_test_video(root / name / f"v{i}.avi", num_frames=20, size=size, seed=label)
            else:
                write_frame_folder(root / name / f"v{i}", num_frames=12 + i, size=size, ext="jpg", seed=label)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("videos") / "data")


def dataset(root: Path, pipeline: str):
    clips = ClipSpec(
        num_frames=4, frame_size=32, sampler=SegmentSampler(num_frames=4), augment=AUGMENT, pipeline=pipeline
    )
    return DATASETS.get("video_folder")(subset="train", clips=clips, root=str(root), test_fraction=0.0)


def batches(view: ClipView, epoch: int):
    return collate_clips([view[(position, epoch)] for position in range(len(view))])


@pytest.mark.parametrize("training", [True, False])
def test_the_device_path_gives_the_cpu_paths_clips_for_the_same_draws(tree, training):
    cpu, device = dataset(tree, "cpu"), dataset(tree, "device")
    assert set(device.kinds) == {"frames", "video"}
    num_clips = 1 if training else 2
    for epoch in (0, 3):
        views = [
            ClipView(source, range(len(source)), training=training, num_clips=num_clips, augment_seed=7)
            for source in (cpu, device)
        ]
        expected, pending = batches(views[0], epoch), batches(views[1], epoch)
        assert isinstance(pending.clips, PendingClips)
        items = [
            item for entry in pending.clips for item in (entry if isinstance(entry, tuple) else (entry,))
        ]
        assert all(isinstance(item, PendingClip) for item in items)
        # Frame folders travel as their JPEG files' bytes; videos decoded (on the CPU) by the worker.
        assert {bool(item.encoded) for item in items} == {True, False}
        finished = pending.on_device(torch.device("cpu"))
        assert torch.equal(finished.clips, expected.clips)
        assert torch.equal(finished.labels, expected.labels) and torch.equal(
            finished.indices, expected.indices
        )


def test_pending_clips_cross_from_dataloader_workers(tree):
    cpu, device = dataset(tree, "cpu"), dataset(tree, "device")
    views = [ClipView(source, range(len(source)), training=True, augment_seed=1) for source in (cpu, device)]
    options = {"batch_size": 4, "collate_fn": collate_clips, "num_workers": 1}
    expected = torch.cat([batch.clips for batch in DataLoader(views[0], **options)])
    finished = [batch.on_device(torch.device("cpu")) for batch in DataLoader(views[1], **options)]
    assert torch.equal(torch.cat([batch.clips for batch in finished]), expected)


def test_a_frame_that_does_not_decode_on_the_device_skips_its_video_not_the_batch(tmp_path):
    root = make_tree(tmp_path / "data")
    for damaged in sorted((root / "jump" / "v1").glob("*.jpg"))[3:]:  # the clip's 2nd, 3rd and 4th frames
        damaged.write_bytes(damaged.read_bytes()[:300])  # the header survives, the image does not
    source = dataset(root, "device")
    view = ClipView(source, range(len(source)), training=False, num_clips=1)
    batch = batches(view, 0).on_device(torch.device("cpu"))
    assert len(batch) == len(source) - 1
    (skipped,) = batch.skipped
    assert skipped.video_id == "jump/v1" and "jump/v1: cannot decode a frame" in skipped.reason
    assert source.ids[skipped.index] == "jump/v1"


def test_training_and_encoding_run_with_the_device_pipeline(tmp_path):
    root = make_tree(tmp_path / "data")
    for label in (2, 3):  # enough classes and videos for class-balanced batches of 2 x 2
        make_tree(tmp_path / f"more{label}")
        for name in ("clap", "jump"):
            (tmp_path / f"more{label}" / name).rename(root / f"{name}{label}")
    raw = tiny_config_dict(epochs=1)
    raw["data"]["dataset"] = {"name": "video_folder", "root": str(root), "test_fraction": 0.34}
    raw["data"]["pipeline"] = "device"
    raw["data"]["val_fraction"] = 0.0
    raw["data"]["batch"] = {"sampler": "class_balanced", "classes_per_batch": 2, "videos_per_class": 2}
    report = Runner(config_from_dict(raw), tmp_path / "run").fit().report
    assert report.num_queries == 6 and report.num_database == 12
