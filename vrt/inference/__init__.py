"""Inference: load a trained model from its checkpoint and encode clips, videos or dataset splits.

:class:`TrainedModel` is the public entry point; :mod:`vrt.inference.encoding` holds the
batched encoding loop that training's own evaluation shares. Collections of one's own videos
(folders, list files, segments of long videos) are listed by :mod:`vrt.inference.collection`
and encoded into codes files, resumably, by :mod:`vrt.inference.collection_encoding`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel, encode_split

__all__ = ["TrainedModel", "encode_split"]


def __getattr__(name: str) -> Any:
    # Imported on first use: listing a collection (vrt.inference.collection) must not pull in torch,
    # so that `vrt search` can say a query holds no video before anything heavy is loaded.
    if name in __all__:
        from vrt.inference import trained

        return getattr(trained, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
