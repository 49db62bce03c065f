"""Video datasets: the ``VideoDataset`` contract, items and the item dataset, the built-in
adapters, collections of one's own videos, and how clips are cut.

Each adapter module registers itself in :data:`vrt.registry.DATASETS`; the registry imports
them on its first lookup. Importing this package imports nothing heavy (``vrt list samplers``
reads :mod:`vrt.datasets.samplers` without torch): the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ClipSpec": "vrt.datasets.clips",
    "ClipView": "vrt.datasets.base",
    "Item": "vrt.datasets.items",
    "ItemDataset": "vrt.datasets.files",
    "ItemList": "vrt.datasets.collection",
    "VideoDataset": "vrt.datasets.base",
    "VideoFileDataset": "vrt.datasets.files",
    "list_items": "vrt.datasets.collection",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'vrt.datasets' has no attribute {name!r}")
