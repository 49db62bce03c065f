"""What a miner returned, checked, and converted to what a loss consumes (pairs or triplets).

pytorch-metric-learning's ``convert_to_pairs`` and ``convert_to_triplets``, with the same
semantics: a triplet ``(a, p, n)`` is the positive pair ``(a, p)`` and the negative pair
``(a, n)`` (a pair in several triplets counts once per triplet), and every positive pair and
negative pair that share their anchor make a triplet.
"""

from __future__ import annotations

import torch
from torch import Tensor

from vrt.losses.miners.base import MinerFunction, MinerOutput, Pairs, Triplets

__all__ = ["as_selection", "convert_to_pairs", "convert_to_triplets", "gather_pairs", "mined_pairs"]


def as_selection(output: object, batch: int) -> MinerOutput:
    """A miner's result checked: a ``(batch,)*3`` bool mask, :class:`Triplets` or :class:`Pairs`.

    A plain tuple of three or four index tensors (a pytorch-metric-learning miner's
    ``indices_tuple``) is read as triplets or pairs.
    """
    if isinstance(output, Tensor):
        if output.dtype != torch.bool or tuple(output.shape) != (batch, batch, batch):
            raise ValueError(
                f"a miner must return Triplets, Pairs or a bool mask of shape {(batch, batch, batch)}, "
                f"got {output.dtype} {tuple(output.shape)}"
            )
        return output
    if isinstance(output, tuple) and len(output) in (3, 4) and not isinstance(output, Triplets | Pairs):
        output = Triplets(*output) if len(output) == 3 else Pairs(*output)
    if not isinstance(output, Triplets | Pairs):
        raise ValueError(
            f"a miner must return Triplets, Pairs or a bool mask of shape {(batch, batch, batch)}, "
            f"got {type(output).__name__}"
        )
    for name, indices in zip(output._fields, output, strict=True):
        if not isinstance(indices, Tensor) or indices.ndim != 1 or indices.is_floating_point():
            raise ValueError(f"a miner's {name} must be a 1-d integer index tensor, got {indices!r}")
    pairs = (output[:2], output[2:]) if isinstance(output, Pairs) else (output,)
    if any(len({len(t) for t in group}) > 1 for group in pairs):
        raise ValueError(f"a miner returned {type(output).__name__} of unequal lengths")
    return output


def convert_to_pairs(selection: MinerOutput) -> Pairs:
    """Positive pairs ``(a, p)`` and negative pairs ``(a, n)`` of every selected triplet; pairs as they are."""
    if isinstance(selection, Pairs):
        return selection
    if isinstance(selection, Tensor):  # a (B, B, B) mask
        selection = Triplets(*selection.nonzero(as_tuple=True))
    anchors, positives, negatives = selection
    return Pairs(anchors, positives, anchors, negatives)


def convert_to_triplets(selection: MinerOutput) -> Triplets:
    """Every ``(a, p, n)`` whose positive pair ``(a, p)`` and negative pair ``(a, n)`` were both
    selected, ordered by positive pair then negative pair; triplets as they are."""
    if isinstance(selection, Triplets):
        return selection
    if isinstance(selection, Tensor):  # a (B, B, B) mask
        return Triplets(*selection.nonzero(as_tuple=True))
    positive_anchors, positives, negative_anchors, negatives = selection
    positive, negative = (positive_anchors[:, None] == negative_anchors[None, :]).nonzero(as_tuple=True)
    return Triplets(positive_anchors[positive], positives[positive], negatives[negative])


def gather_pairs(matrix: Tensor, pairs: Pairs) -> tuple[Tensor, Tensor]:
    """``matrix[a, p]`` of every positive pair and ``matrix[a, n]`` of every negative pair."""
    return matrix[pairs.positive_anchors, pairs.positives], matrix[pairs.negative_anchors, pairs.negatives]


def mined_pairs(miner: MinerFunction, embeddings: Tensor, labels: Tensor) -> Pairs:
    """The pairs ``miner`` selects in a batch (it sees detached embeddings), for a pair loss."""
    return convert_to_pairs(as_selection(miner(embeddings.detach(), labels), embeddings.shape[0]))
