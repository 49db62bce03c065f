"""Loading the clips of a batch in threads (``data.load_threads``): the clips of one thread, faster.

``ClipView`` makes every clip's random choices in order, under the clip's own seed, and then
carries the plans out in threads; nothing a thread does may draw from the RNGs, so the clips
cannot depend on the number of threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vrt.config import ConfigError, config_from_dict
from vrt.config.schema import AugmentConfig
from vrt.data.collate import collate_clips
from vrt.data.pipeline import build_data_splits
from vrt.datasets.base import ClipView, ClipWork, VideoDataset
from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import VideoFileDataset
from vrt.datasets.items import SkippedClip
from vrt.datasets.reader import ClipReader
from vrt.datasets.splitfiles import SplitEntry
from vrt.io.synthetic_video import write_frame_folder, write_test_video

from .conftest import tiny_config_dict
from .test_device_pipeline import dataset, make_tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("videos") / "data")


def flat(items: list) -> list[torch.Tensor]:
    return [item[0] for item in items]


@pytest.mark.parametrize("pipeline", ["cpu", "device"])
@pytest.mark.parametrize("training", [True, False])
def test_threads_give_the_clips_of_one_thread(tree, training, pipeline):
    source = dataset(tree, pipeline)
    assert set(source.kinds) == {"frames", "video"}
    num_clips = 1 if training else 3
    keys = [(position, epoch) for epoch in (0, 2) for position in range(len(source))]
    one, three = (
        ClipView(
            source, range(len(source)), training=training, num_clips=num_clips, augment_seed=7, threads=n
        )
        for n in (1, 3)
    )
    expected, threaded = one.__getitems__(keys), three.__getitems__(keys)
    if pipeline == "device":  # finish the pending clips as the device would (on the CPU here)
        expected, threaded = (
            collate_clips(items).on_device(torch.device("cpu")).clips for items in (expected, threaded)
        )
        assert torch.equal(threaded, expected)
    else:
        assert all(torch.equal(a, b) for a, b in zip(flat(threaded), flat(expected), strict=True))
        assert [item[1:] for item in threaded] == [item[1:] for item in expected]
    # One item at a time, as a DataLoader without batches asks, gives the same clips again.
    if pipeline == "cpu":
        alone = [three[key][0] for key in keys]
        assert all(torch.equal(a, b) for a, b in zip(alone, flat(expected), strict=True))


def test_carrying_a_plan_out_draws_no_random_numbers(tree):
    source = dataset(tree, "cpu")
    reader: ClipReader = source._reader
    plans = [
        reader.plan(path, kind, training=True) for path, kind in zip(source.paths, source.kinds, strict=True)
    ]
    torch.manual_seed(3)
    np.random.seed(3)
    before = torch.get_rng_state(), np.random.get_state()[1].copy()
    clips = [reader.carry_out(plan) for plan in plans]
    assert torch.equal(torch.get_rng_state(), before[0])
    assert np.array_equal(np.random.get_state()[1], before[1])
    assert all(clip.shape == (3, 4, 32, 32) for clip in clips)


class ThreadRecorder(VideoDataset):
    """Clips that record the thread which made them (module level: DataLoader workers pickle it)."""

    def __init__(self, videos: int = 8) -> None:
        super().__init__(class_names=["a"], labels=[0] * videos, ids=[f"v{i}" for i in range(videos)])

    def load_clip(self, index, *, training, clip=0, num_clips=1):
        return torch.zeros(1)

    def plan_clip(self, index, *, training, clip=0, num_clips=1):
        def work() -> torch.Tensor:
            return torch.tensor(threading.current_thread().name.startswith("vrt-clips"))

        return ClipWork(work)


def test_a_batch_is_spread_over_threads_in_the_main_process_and_not_in_workers(monkeypatch):
    source = ThreadRecorder()
    view = ClipView(source, range(len(source)), training=False, threads=2)
    used = {int(clip) for clip in flat(view.__getitems__(list(range(8))))}
    assert used == {1}  # every clip made by a pool thread
    # By default, pool threads in the main process on a machine of several cores ...
    monkeypatch.setattr("vrt.datasets.base.usable_cores", lambda: 2)
    auto = ClipView(source, range(len(source)), training=False)
    assert auto.threads is None and auto.load_threads() == 2
    assert {int(clip) for clip in flat(auto.__getitems__(list(range(8))))} == {1}
    # In a DataLoader worker the default is one thread: the workers already share the cores.
    options = {"batch_size": 4, "num_workers": 1, "collate_fn": lambda items: [item[0] for item in items]}
    in_worker = [clip for batch in DataLoader(auto, **options) for clip in batch]
    assert {int(clip) for clip in in_worker} == {0}
    explicit = ClipView(source, range(len(source)), training=False, threads=2)
    assert {int(clip) for batch in DataLoader(explicit, **options) for clip in batch} == {1}
    with pytest.raises(ValueError, match="threads must be >= 1"):
        ClipView(source, range(2), training=False, threads=0)


def test_an_unreadable_video_costs_its_item_not_the_batch(tmp_path):
    root = make_tree(tmp_path / "data")
    (root / "clap" / "v2.avi").write_bytes(b"not a video")  # fails when planned (probing)
    for damaged in sorted((root / "jump" / "v1").glob("*.jpg"))[4:]:  # fails when carried out
        damaged.write_bytes(damaged.read_bytes()[:300])
    source = dataset(root, "cpu")
    view = ClipView(source, range(len(source)), training=True, augment_seed=1, threads=3)
    items = view.__getitems__(list(range(len(source))))
    skipped = {source.ids[item.index]: item.reason for item in items if isinstance(item, SkippedClip)}
    assert set(skipped) == {"clap/v2.avi", "jump/v1"}
    assert "cannot open as a video" in skipped["clap/v2.avi"], skipped
    assert "cannot read the frame" in skipped["jump/v1"], skipped
    assert sum(isinstance(item, tuple) for item in items) == len(source) - 2


def test_frames_of_another_size_than_planned_are_refused_not_cropped_elsewhere(tmp_path):
    folder = tmp_path / "data" / "clap" / "v0"
    write_frame_folder(folder, num_frames=8, size=(48, 40), ext="jpg")
    odd = tmp_path / "odd"
    write_frame_folder(odd, num_frames=1, size=(64, 40), ext="jpg")
    next(iter(sorted(odd.glob("*.jpg")))).replace(sorted(folder.glob("*.jpg"))[0])  # frame 0 differs
    reader = ClipReader(ClipSpec(num_frames=4, frame_size=32))
    plan = reader.plan(folder, "frames", training=True, span=(1, 8))  # frames 1 to 7
    assert plan.size == (64, 40) and 0 not in plan.indices
    with pytest.raises(Exception, match="frames of 48x40, where the first frame is 64x40"):
        reader.carry_out(plan)


@pytest.mark.parametrize("threads", [3, 0])
def test_load_threads_comes_from_the_config_and_is_checked(threads):
    raw = tiny_config_dict()
    raw["data"]["load_threads"] = threads
    if threads < 1:
        with pytest.raises(ConfigError, match="data.load_threads"):
            config_from_dict(raw)
        return
    assert build_data_splits(config_from_dict(raw)).view("fit", training=True, augment_seed=1).threads == 3


def test_left_to_its_default_a_view_gives_threads_only_decoding_work(tmp_path, monkeypatch):
    augment = AugmentConfig(resize_short=36)
    clips = {
        pipeline: ClipSpec(num_frames=4, frame_size=32, augment=augment, pipeline=pipeline)
        for pipeline in ("cpu", "device")
    }
    write_test_video(tmp_path / "v.avi", num_frames=12, size=(48, 40))
    write_frame_folder(tmp_path / "large", num_frames=6, size=(48, 40), ext="jpg")
    write_frame_folder(tmp_path / "at_scale", num_frames=6, size=(43, 36), ext="jpg")  # short side 36

    def pays(name: str, kind: str, pipeline: str = "cpu") -> bool:
        reader = ClipReader(clips[pipeline])
        return reader.work(reader.plan(tmp_path / name, kind, training=False)).pays_in_a_thread

    assert pays("v.avi", "video") and pays("v.avi", "video", "device") and pays("large", "frames")
    assert not pays("at_scale", "frames") and not pays("large", "frames", "device")

    entries = [SplitEntry("at_scale", 0), SplitEntry("large", 0)]
    source = VideoFileDataset(entries=entries, root=tmp_path, class_names=["a"], clips=clips["cpu"])
    pools: list[int] = []

    class CountingPool(ThreadPoolExecutor):
        def __init__(self, threads: int, **options) -> None:
            pools.append(threads)
            super().__init__(threads, **options)

    monkeypatch.setattr("vrt.datasets.base.ThreadPoolExecutor", CountingPool)
    monkeypatch.setattr("vrt.datasets.base.usable_cores", lambda: 4)
    auto = ClipView(source, [0, 0, 0], training=False)
    auto.__getitems__([0, 1, 2])  # frames at the clips' scale only: no pool
    assert pools == []
    ClipView(source, [0, 1, 1], training=False).__getitems__([0, 1, 2])  # two clips worth a thread
    ClipView(source, [0, 0, 0], training=False, threads=3).__getitems__([0, 1, 2])  # as asked
    assert pools == [2, 3]
