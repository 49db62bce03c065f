"""HMDB51 from its official ``testTrainMulti_7030_splits`` files (three 70/30 splits, 51 classes)."""

from __future__ import annotations

from vrt.datasets.official import describe, read_tagged_lists, register_official_dataset

hmdb51 = register_official_dataset(
    "hmdb51",
    title="HMDB51",
    read_lists=read_tagged_lists,
    root_expected="the folder of HMDB51 class folders",
    annotations_expected="the testTrainMulti_7030_splits folder",
    description=describe(
        "HMDB51 (51 actions; 3,570 train / 1,530 test clips per split) from the official split files.",
        root="the folder holding the unpacked per-class archives (``<class>/<video>.avi``), or frame "
        "folders with the same layout (``<class>/<video>/``).",
        annotations="the ``testTrainMulti_7030_splits`` folder (``<class>_test_split<k>.txt``).",
        notes="Labels are the sorted class names (0-based). Each split file tags a video 1 (train), 2 "
        "(test) or 0 (not used in that split: a third of the videos are in neither subset). Videos "
        "stand alone for validation carving (no groups).",
    ),
)
