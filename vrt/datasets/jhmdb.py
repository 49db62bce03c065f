"""JHMDB from its official ``splits`` files (three splits, 21 classes, 928 short clips)."""

from __future__ import annotations

from pathlib import Path
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

# The archive's two layouts: root may be either folder, or the folder above them.
FRAMES_FOLDER = "Rename_Images"
VIDEOS_FOLDER = "ReCompress_Videos"


def _data_folder(root: Path, class_names: list[str], storage: StorageMode) -> Path:
    """``root`` itself when it holds class folders, else its ``Rename_Images``/``ReCompress_Videos``."""
    if any((root / name).is_dir() for name in class_names):
        return root
    preferred = [VIDEOS_FOLDER, FRAMES_FOLDER] if storage == "video" else [FRAMES_FOLDER, VIDEOS_FOLDER]
    for name in preferred:
        if (root / name).is_dir():
            return root / name
    return root  # let the dataset report every video missing, naming root


@DATASETS.register("jhmdb")
def jhmdb(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    root: str,
    annotations: str,
    split: Literal[1, 2, 3] = 1,
    storage: StorageMode = "auto",
) -> VideoFileDataset:
    """JHMDB (21 actions, 928 clips) from the official split files; frames or videos as shipped.

    Args:
        root: ``Rename_Images`` (frames: ``<class>/<video>/00001.png``, used as is),
            ``ReCompress_Videos`` (``<class>/<video>.avi``), or the folder holding either.
        annotations: the ``splits`` folder (``<class>_test_split<k>.txt``).
        split: the official split number, 1, 2 or 3 (the dataset's own train/test lists).
        storage: ``video``, ``frames``, or ``auto`` (per video: the file if present, else frames).
        subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).

    Labels are the sorted class names (0-based); tag 1 is train, 2 test. Videos stand alone for
    validation carving (no groups). Clips are short (15 to 40 frames): a sampler asking for
    more frames than a clip has repeats frames.
    """
    subset = check_subset(subset)
    number = check_official_split(split, dataset="JHMDB")
    folder = existing_folder(
        root, key="data.dataset.root", expected="JHMDB's Rename_Images or ReCompress_Videos folder"
    )
    lists = existing_folder(annotations, key="data.dataset.annotations", expected="JHMDB's splits folder")
    class_names, entries = parse_tagged_splits(lists, number, subset)
    return VideoFileDataset(
        entries=entries,
        root=_data_folder(folder, class_names, storage),
        class_names=class_names,
        storage=storage,
        clips=clips,
        name=f"jhmdb official split {number} {subset}",
    )
