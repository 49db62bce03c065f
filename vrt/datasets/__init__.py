"""Video datasets: the ``VideoDataset`` contract and the built-in adapters.

Importing this package registers every built-in dataset in ``vrt.registry.DATASETS``; the
registry imports it lazily on the first lookup.
"""

from __future__ import annotations

from vrt.datasets import hmdb51, jhmdb, synthetic, ucf101, video_folder, video_list
from vrt.datasets.base import ClipView, VideoDataset
from vrt.datasets.files import VideoFileDataset

__all__ = [
    "ClipView",
    "VideoDataset",
    "VideoFileDataset",
    "hmdb51",
    "jhmdb",
    "synthetic",
    "ucf101",
    "video_folder",
    "video_list",
]
