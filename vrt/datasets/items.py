"""Items, what vrt turns into clips: a video file, a frame folder, or a window of either.

Every dataset on disk is a list of items: the official splits and video lists
(:class:`~vrt.datasets.files.VideoFileDataset`), and the collections of one's own videos that
``vrt encode``, ``vrt search --query``, ``vrt serve`` uploads and feature extraction read
(:func:`~vrt.datasets.collection.list_items`). :class:`~vrt.datasets.files.ItemDataset` is the
one place an item becomes a clip, through a :class:`~vrt.datasets.reader.ClipReader`, so an item
is encoded the same way whichever command names it. Importing this module imports no torch.

A window is written in the id as a W3C media fragment, ``path#t=START,END`` (seconds), and kept
as the frames ``span`` it covers; :func:`~vrt.datasets.decoders.probe_item` says how long a video or frame folder is,
through the configured decoder, so windows are cut from the frames that decoder will read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vrt.codes import UNLABELLED
from vrt.io.fragments import TimeWindow

__all__ = ["Item", "ItemKind", "SkippedClip"]

ItemKind = Literal["video", "frames"]


@dataclass(frozen=True)
class Item:
    """One thing to turn into a clip.

    Attributes:
        id: unique and stable; written beside the item's code. A window's id ends in its
            ``#t=START,END`` fragment.
        path: the video file or frame folder.
        kind: ``"video"`` (a video file) or ``"frames"`` (a folder of frame images).
        label: the 0-based class, or :data:`~vrt.codes.UNLABELLED`.
        window: the window in seconds, as the id's fragment says; None for the whole video.
        span: the same window in frames ``(first, stop)``, clamped to the video when read.
        group: the source video or recording the item was cut from (UCF101's ``gXX``), so that
            a validation split never puts parts of one recording on both sides.
    """

    id: str
    path: Path
    kind: ItemKind
    label: int = UNLABELLED
    window: TimeWindow | None = None
    span: tuple[int, int] | None = None
    group: str | None = None


@dataclass(frozen=True)
class SkippedClip:
    """Stands in for a clip whose video could not be read, so one bad file never stops a run.

    ``index`` is the video's position in its dataset (-1 for a listed video that never became
    an item: missing, or its window could not be probed).
    """

    index: int
    video_id: str
    reason: str
