"""HMDB51 from its official ``testTrainMulti_7030_splits`` files (three 70/30 splits, 51 classes)."""

from __future__ import annotations

from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import (
    StorageMode,
    VideoFileDataset,
    check_official_split,
    check_subset,
    existing_folder,
)
from vrt.datasets.splitfiles import parse_tagged_splits
from vrt.registry import DATASETS


@DATASETS.register("hmdb51")
def hmdb51(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    root: str,
    annotations: str,
    split: Literal[1, 2, 3] = 1,
    storage: StorageMode = "auto",
) -> VideoFileDataset:
    """HMDB51 (51 actions; 3,570 train / 1,530 test clips per split) from the official split files.

    Args:
        root: the folder holding the unpacked per-class archives (``<class>/<video>.avi``), or
            frame folders with the same layout (``<class>/<video>/``).
        annotations: the ``testTrainMulti_7030_splits`` folder (``<class>_test_split<k>.txt``).
        split: the official split number, 1, 2 or 3 (the dataset's own train/test lists).
        storage: ``video``, ``frames``, or ``auto`` (per video: the file if present, else frames).
        subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).

    Labels are the sorted class names (0-based). Each split file tags a video 1 (train), 2
    (test) or 0 (not used in that split: a third of the videos are in neither subset). Videos
    stand alone for validation carving (no groups).
    """
    subset = check_subset(subset)
    number = check_official_split(split, dataset="HMDB51")
    folder = existing_folder(root, key="data.dataset.root", expected="the folder of HMDB51 class folders")
    lists = existing_folder(
        annotations, key="data.dataset.annotations", expected="the testTrainMulti_7030_splits folder"
    )
    class_names, entries = parse_tagged_splits(lists, number, subset)
    return VideoFileDataset(
        entries=entries,
        root=folder,
        class_names=class_names,
        storage=storage,
        clips=clips,
        name=f"hmdb51 official split {number} {subset}",
    )
