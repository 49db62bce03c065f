"""Inference: load a trained model from its checkpoint and encode splits, items or one's own videos.

:class:`TrainedModel` is the public entry point and :meth:`TrainedModel.encode` the one encoder;
:mod:`vrt.inference.encoding` holds the batched loop behind it. Collections of one's own videos
are listed by :mod:`vrt.datasets.collection` and written to codes files, resumably, by
:mod:`vrt.inference.codes_writer`; the ``--query`` values of a search are resolved by
:mod:`vrt.inference.queries`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vrt.inference.trained import TrainedModel

__all__ = ["TrainedModel"]


def __getattr__(name: str) -> Any:
    # Imported on first use: `vrt search` must be able to say a query holds no video before
    # anything heavy (torch) is loaded.
    if name in __all__:
        from vrt.inference import trained

        return getattr(trained, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
