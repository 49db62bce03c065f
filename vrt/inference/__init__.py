"""Inference: load a trained model from its checkpoint and encode clips, videos or dataset splits.

:class:`TrainedModel` is the public entry point; :mod:`vrt.inference.encoding` holds the
batched encoding loop that training's own evaluation shares.
"""

from vrt.inference.trained import TrainedModel, encode_split

__all__ = ["TrainedModel", "encode_split"]
