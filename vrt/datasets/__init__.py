"""Video datasets: the ``VideoDataset`` contract and the built-in adapters.

Importing this package registers every built-in dataset in ``vrt.registry.DATASETS``; the
registry imports it lazily on the first lookup.
"""

from __future__ import annotations

from vrt.datasets import synthetic
from vrt.datasets.base import ClipView, VideoDataset

__all__ = ["ClipView", "VideoDataset", "synthetic"]
