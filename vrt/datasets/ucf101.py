"""UCF101 from its official ``ucfTrainTestlist`` files (three train/test splits, 101 classes)."""

from __future__ import annotations

from pathlib import Path

from vrt.datasets.files import Subset, existing_file
from vrt.datasets.official import OfficialLists, describe, register_official_dataset
from vrt.datasets.splitfiles import parse_ucf101_classes, parse_ucf101_list, ucf101_split_files


def read_ucf101_lists(annotations: Path, number: int, subset: Subset) -> OfficialLists:
    """``classInd.txt`` and the subset's list of official split ``number``."""
    files = ucf101_split_files(annotations, number)
    expected = "an official UCF101 split file"
    class_names = parse_ucf101_classes(
        existing_file(files["classes"], key="data.dataset.annotations", expected=expected)
    )
    listed = existing_file(files[subset], key="data.dataset.annotations", expected=expected)
    return OfficialLists(class_names, parse_ucf101_list(listed, class_names), listed.name)


ucf101 = register_official_dataset(
    "ucf101",
    title="UCF101",
    read_lists=read_ucf101_lists,
    root_expected="the UCF-101 folder of class folders",
    annotations_expected="the ucfTrainTestlist folder of split files",
    description=describe(
        "UCF101 (101 actions, 13,320 clips) read from the official split files; groups for validation.",
        root="the unpacked ``UCF-101`` folder (``<Class>/v_<Class>_gGG_cCC.avi``), or a folder of "
        "frame folders with the same layout (``<Class>/v_<Class>_gGG_cCC/``).",
        annotations="the ``ucfTrainTestlist`` folder (``classInd.txt``, ``trainlist0K.txt``, "
        "``testlist0K.txt``).",
        notes="Labels follow ``classInd.txt`` (0-based); test lines carry no label, so it is read from "
        "the folder. The group of a clip is its source recording ``<Class>_gGG``, so that the val split "
        "carved from the train split never holds clips of a recording that training also sees.",
    ),
)
