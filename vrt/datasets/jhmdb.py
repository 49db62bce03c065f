"""JHMDB from its official ``splits`` files (three splits, 21 classes, 928 short clips)."""

from __future__ import annotations

from pathlib import Path

from vrt.datasets.files import StorageMode
from vrt.datasets.official import describe, read_tagged_lists, register_official_dataset

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


jhmdb = register_official_dataset(
    "jhmdb",
    title="JHMDB",
    read_lists=read_tagged_lists,
    find_root=_data_folder,
    root_expected="JHMDB's Rename_Images or ReCompress_Videos folder",
    annotations_expected="JHMDB's splits folder",
    description=describe(
        "JHMDB (21 actions, 928 clips) from the official split files; frames or videos as shipped.",
        root="``Rename_Images`` (frames: ``<class>/<video>/00001.png``, used as is), "
        "``ReCompress_Videos`` (``<class>/<video>.avi``), or the folder holding either.",
        annotations="the ``splits`` folder (``<class>_test_split<k>.txt``).",
        notes="Labels are the sorted class names (0-based); tag 1 is train, 2 test. Videos stand alone "
        "for validation carving (no groups). Clips are short (15 to 40 frames): a sampler asking for "
        "more frames than a clip has repeats frames.",
    ),
)
