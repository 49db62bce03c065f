"""Datasets read from their official split files (UCF101, HMDB51, JHMDB): one builder signature.

Each such dataset is a folder of videos (``root``), a folder of split files (``annotations``)
and three official splits. What differs is how the lists are read (and, for JHMDB, where the
videos are under ``root``): a dataset module gives :func:`register_official_dataset` its list
reader, and the builder, with the signature config validation reads, is written here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vrt.datasets.clips import ClipSpec
from vrt.datasets.files import (
    StorageMode,
    Subset,
    VideoFileDataset,
    check_official_split,
    check_subset,
    existing_folder,
)
from vrt.datasets.splitfiles import SplitEntry, parse_tagged_splits
from vrt.registry import DATASETS


@dataclass(frozen=True)
class OfficialLists:
    """What a dataset's split files say for one subset of one official split."""

    class_names: list[str]
    entries: list[SplitEntry]
    source: str  # the list file(s) read, for messages


#: Reads ``annotations`` for official split ``number`` and ``subset``.
ListReader = Callable[[Path, int, Subset], OfficialLists]
#: Where the listed paths are relative to, given ``root``, the class names and the storage.
RootFinder = Callable[[Path, list[str], StorageMode], Path]


def read_tagged_lists(annotations: Path, number: int, subset: Subset) -> OfficialLists:
    """HMDB51's and JHMDB's split files: ``<class>_test_split<number>.txt``, each video tagged 1
    (train), 2 (test) or 0 (in neither subset of that split)."""
    class_names, entries = parse_tagged_splits(annotations, number, subset)
    return OfficialLists(class_names, entries, f"*_test_split{number}.txt")


def register_official_dataset(
    name: str,
    *,
    title: str,
    read_lists: ListReader,
    root_expected: str,
    annotations_expected: str,
    description: str,
    find_root: RootFinder | None = None,
) -> Callable[..., VideoFileDataset]:
    """Register dataset ``name`` (``title`` in messages); returns its builder.

    Args:
        description: the builder's docstring (its first line is what ``vrt list`` shows).
        root_expected, annotations_expected: what the folders should be, for the errors that
            name ``data.dataset.root`` / ``data.dataset.annotations`` when they are missing.
    """

    def builder(
        *,
        subset: Literal["train", "test"],
        clips: ClipSpec,
        root: str,
        annotations: str,
        split: Literal[1, 2, 3] = 1,
        storage: StorageMode = "auto",
    ) -> VideoFileDataset:
        subset = check_subset(subset)
        number = check_official_split(split, dataset=title)
        folder = existing_folder(root, key="data.dataset.root", expected=root_expected)
        lists = read_lists(
            existing_folder(annotations, key="data.dataset.annotations", expected=annotations_expected),
            number,
            subset,
        )
        return VideoFileDataset(
            entries=lists.entries,
            root=find_root(folder, lists.class_names, storage) if find_root is not None else folder,
            class_names=lists.class_names,
            storage=storage,
            clips=clips,
            name=f"{name} official split {number} {subset} ({lists.source})",
        )

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = description
    return DATASETS.register(name)(builder)


def describe(summary: str, *, root: str, annotations: str, notes: str) -> str:
    """A builder docstring: the summary line, the parameters, then ``notes`` (one paragraph)."""
    return (
        f"{summary}\n\n"
        "Args:\n"
        f"    root: {root}\n"
        f"    annotations: {annotations}\n"
        "    split: the official split number, 1, 2 or 3 (the dataset's own train/test lists).\n"
        "    storage: ``video``, ``frames``, or ``auto`` (per video: the file if present, else frames).\n"
        "    subset, clips: injected by vrt (the subset, and how clips are cut: ``data.*``).\n\n"
        f"{notes}\n"
    )
