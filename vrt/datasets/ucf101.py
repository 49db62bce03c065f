"""UCF101 from its official ``ucfTrainTestlist`` files (three train/test splits, 101 classes)."""

from __future__ import annotations

from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import (
    StorageMode,
    VideoFileDataset,
    check_official_split,
    check_subset,
    existing_file,
    existing_folder,
)
from vrt.datasets.splitfiles import parse_ucf101_classes, parse_ucf101_list, ucf101_split_files
from vrt.registry import DATASETS


@DATASETS.register("ucf101")
def ucf101(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    root: str,
    annotations: str,
    split: Literal[1, 2, 3] = 1,
    storage: StorageMode = "auto",
) -> VideoFileDataset:
    """UCF101 (101 actions, 13,320 clips) read from the official split files; groups for validation.

    Args:
        root: the unpacked ``UCF-101`` folder (``<Class>/v_<Class>_gGG_cCC.avi``), or a folder of
            frame folders with the same layout (``<Class>/v_<Class>_gGG_cCC/``).
        annotations: the ``ucfTrainTestlist`` folder (``classInd.txt``, ``trainlist0K.txt``,
            ``testlist0K.txt``).
        split: the official split number, 1, 2 or 3 (the dataset's own train/test lists).
        storage: ``video``, ``frames``, or ``auto`` (per video: the file if present, else frames).
        subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).

    Labels follow ``classInd.txt`` (0-based); test lines carry no label, so it is read from the
    folder. The group of a clip is its source recording ``<Class>_gGG``, so that a validation
    split carved from training never holds clips of a recording that training also sees.
    """
    subset = check_subset(subset)
    number = check_official_split(split, dataset="UCF101")
    folder = existing_folder(root, key="data.dataset.root", expected="the UCF-101 folder of class folders")
    lists = existing_folder(
        annotations, key="data.dataset.annotations", expected="the ucfTrainTestlist folder of split files"
    )
    files = ucf101_split_files(lists, number)
    expected = "an official UCF101 split file"
    class_names = parse_ucf101_classes(
        existing_file(files["classes"], key="data.dataset.annotations", expected=expected)
    )
    entries = parse_ucf101_list(
        existing_file(files[subset], key="data.dataset.annotations", expected=expected), class_names
    )
    return VideoFileDataset(
        entries=entries,
        root=folder,
        class_names=class_names,
        storage=storage,
        clips=clips,
        name=f"ucf101 official split {number} {subset} ({files[subset].name})",
    )
