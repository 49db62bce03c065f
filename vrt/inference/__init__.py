"""Inference: load a trained model from its checkpoint and encode clips, videos or dataset splits.

:class:`TrainedModel` is the public entry point; :mod:`vrt.inference.encoding` holds the
batched encoding loop that training's own evaluation shares. Collections of one's own videos
(folders, list files, segments of long videos) are listed by :mod:`vrt.inference.collection`
and encoded into codes files, resumably, by :mod:`vrt.inference.collection_encoding`.
"""

from vrt.inference.trained import TrainedModel, encode_split

__all__ = ["TrainedModel", "encode_split"]
