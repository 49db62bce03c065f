"""Any collection described by two list files, ``<relative path> <label>`` per line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import StorageMode, VideoFileDataset, check_subset, existing_file, existing_folder
from vrt.datasets.splitfiles import label_video_lists, read_video_list
from vrt.registry import DATASETS


@DATASETS.register("video_list")
def video_list(
    *,
    subset: Literal["train", "test"],
    clips: ClipSpec,
    root: str,
    train_list: str,
    test_list: str,
    class_names: list[str] | None = None,
    storage: StorageMode = "auto",
) -> VideoFileDataset:
    """Videos listed in train/test list files, one ``<relative path> <label>`` per line.

    Args:
        root: the folder the listed paths are relative to.
        train_list, test_list: the list files (the reference's ``train.txt``/``test.txt``).
            A line is a path, then whitespace or a comma, then a label: ``a/b.avi 3``,
            ``a/b.avi,3`` and ``my clips/b.avi 3`` (the label is the last field, so paths may
            contain spaces). Blank lines and lines starting with ``#`` are skipped.
        class_names: names for the labels. Labels are either 0-based class indices (every label
            all digits; names default to ``"0", "1", ...``) or class names (which must be in
            ``class_names`` when given; default: the sorted distinct names of both lists).
        storage: ``video``, ``frames``, or ``auto`` (per video: the file if present, else the
            frame folder named like it without the extension).
        subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).

    Both lists are read whichever subset is built, so train and test share one label space.
    Videos stand alone for validation carving (no groups).
    """
    subset = check_subset(subset)
    folder = existing_folder(
        root, key="data.dataset.root", expected="the folder the listed paths are relative to"
    )
    lists = {
        name: read_video_list(
            existing_file(Path(path), key=f"data.dataset.{name}_list", expected="a video list")
        )
        for name, path in (("train", train_list), ("test", test_list))
    }
    names, entries = label_video_lists(lists, class_names, report=(subset,))
    return VideoFileDataset(
        entries=entries[subset],
        root=folder,
        class_names=names,
        storage=storage,
        clips=clips,
        name=f"video_list {subset} ({Path(train_list if subset == 'train' else test_list).name})",
    )
